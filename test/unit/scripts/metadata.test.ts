// `npm run metadata -- export|import` between a temporary file store and DynamoDB (moto in server mode, which
// `npm test` starts: AWS cannot exist here).
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes, randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileMetadataStore } from '../../../plugins/namespaces/file-store.js'
import { GLOBAL_NAMESPACES, KEY_ENCRYPTION_ATTR } from '../../../plugins/namespaces/dynamo-store.js'
import { SECRET_ENCRYPTION, SecretBox } from '../../../plugins/credentials/secret-box.js'
import { main } from '../../../scripts/metadata.js'
import { createTables, dynamoEndpoint, getRaw, openDynamoStore, putRaw, rawClient, TEST_REGION } from '../../helpers/dynamo.js'
import { topicRecord } from '../../helpers/store-contract.js'

async function setup (t: Test, extraEnv: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'diaspora-metadata-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tables = await createTables(t)
  const env = {
    USERS_TABLE_NAME: tables.users,
    NAMESPACE_TABLE_NAME: tables.namespaces,
    KEYS_TABLE_NAME: tables.keys,
    AWS_REGION: TEST_REGION,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint(),
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    TOPIC_DEFAULT_REPLICATION_FACTOR: '1',
    ...extraEnv
  }
  // The SDK reads the endpoint and the credentials from process.env.
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('AWS_')) continue
    const saved = process.env[k]
    process.env[k] = v
    t.teardown(() => { if (saved === undefined) delete process.env[k]; else process.env[k] = saved })
  }
  const run = async (...argv: string[]): Promise<{ code: number, out: string }> => {
    const lines: string[] = []
    const code = await main(argv, env, line => lines.push(line))
    return { code, out: lines.join('\n') }
  }
  return { dir, tables, run }
}

t.test('export copies the file store into DynamoDB, idempotently; import brings it back', async t => {
  const { dir, tables, run } = await setup(t)
  const file = join(dir, 'm.json')
  const source = await FileMetadataStore.open(file)
  await source.claimNamespace('alice', 'ns-aaaaaaaaaaaa')
  await source.claimNamespace('alice', 'proj')
  await source.claimNamespace('bob', 'ns-bbbbbbbbbbbb')
  await source.putTopic('proj', topicRecord('events', 3))
  await source.putTopic('ns-bbbbbbbbbbbb', topicRecord('logs'))
  await source.close()

  const first = await run('export', '--file', file)
  t.equal(first.code, 0)
  t.match(first.out, /namespaces: 3 claimed, 0 already there/)
  t.match(first.out, /topics: 2 written, 0 already there/)
  const again = await run('export', '--file', file)
  t.equal(again.code, 0)
  t.match(again.out, /namespaces: 0 claimed, 3 already there with the same owner, 0 conflicting/, 'idempotent')
  t.match(again.out, /topics: 0 written, 2 already there/)

  const dynamo = await openDynamoStore(t, tables)
  t.same(await dynamo.namespacesOf('alice'), ['ns-aaaaaaaaaaaa', 'proj'])
  t.same(await dynamo.getTopic('proj', 'events'), topicRecord('events', 3))

  // Back: into a new file, with a topic the existing service made (no settings) on the DynamoDB side.
  const raw = rawClient(t)
  await putRaw(raw, tables.users, { subject: { S: 'carol' }, namespaces: { SS: ['legacy'] } })
  await putRaw(raw, tables.users, { subject: { S: GLOBAL_NAMESPACES }, namespaces: { SS: ['ns-aaaaaaaaaaaa', 'proj', 'ns-bbbbbbbbbbbb', 'legacy'] } })
  await putRaw(raw, tables.namespaces, { namespace: { S: 'legacy' }, topics: { SS: ['old'] } })
  const back = join(dir, 'back.json')
  const imported = await run('import', '--file', back)
  t.equal(imported.code, 0)
  t.match(imported.out, /namespaces: 4 claimed/)
  t.match(imported.out, /1 topic\(s\) had no stored settings/)
  t.equal((await run('import', '--file', back)).out.match(/topics: 0 written, 3 already there/)?.length, 1, 'idempotent')
  const copy = await FileMetadataStore.open(back)
  t.teardown(() => copy.close())
  t.same((await copy.allNamespaces()).map(n => [n.name, n.owner, n.topics.map(x => x.name)]), [
    ['legacy', 'carol', ['old']],
    ['ns-aaaaaaaaaaaa', 'alice', []],
    ['ns-bbbbbbbbbbbb', 'bob', ['logs']],
    ['proj', 'alice', ['events']]
  ])
  t.same((await copy.getTopic('legacy', 'old'))?.settings, { num_partitions: 1, replication_factor: 1, configs: {} }, 'the configured defaults')
  t.same(await copy.getTopic('proj', 'events'), topicRecord('events', 3))
})

t.test('a name held by another owner at the target is a reported conflict, left alone', async t => {
  const { dir, tables, run } = await setup(t)
  const file = join(dir, 'm.json')
  const source = await FileMetadataStore.open(file)
  await source.claimNamespace('alice', 'shared')
  await source.close()
  const dynamo = await openDynamoStore(t, tables)
  await dynamo.claimNamespace('bob', 'shared')
  const r = await run('export', '--file', file)
  t.equal(r.code, 1)
  t.match(r.out, /conflict: shared belongs to alice at the source but to bob at the target; left alone/)
  t.equal(await dynamo.ownerOf('shared'), 'bob')
  t.equal((await run('sideways')).code, 2, 'usage')
  const none = await run('export', '--file', join(dir, 'absent.json'))
  t.equal(none.code, 1)
  t.match(none.out, /there is no file store at .*absent\.json/)
})

t.test('key records move as stored: sealed secrets stay sealed, plain-text ones stay readable', async t => {
  const { dir, tables, run } = await setup(t)
  const box = new SecretBox(randomBytes(32).toString('base64'))
  const alice = randomUUID()
  const bob = randomUUID()
  const sealed = { subject: alice, access_key: alice, secret_key: box.seal('alice-password-0123', alice, alice), create_date: '2026-01-01T00:00:00.000Z', encryption: SECRET_ENCRYPTION }
  const file = join(dir, 'm.json')
  const source = await FileMetadataStore.open(file)
  await source.putKeyIfAbsent(sealed)
  await source.close()

  const exported = await run('export', '--file', file)
  t.equal(exported.code, 0, exported.out)
  t.match(exported.out, /keys: 1 written, 0 already there, 0 conflicting/)
  t.notOk(exported.out.includes(sealed.secret_key), 'no secret printed')
  const raw = rawClient(t)
  const item = await getRaw(raw, tables.keys, { subject: { S: alice } })
  t.equal(item?.secret_key?.S, sealed.secret_key, 'still sealed in DynamoDB')
  t.equal(item?.[KEY_ENCRYPTION_ATTR]?.S, SECRET_ENCRYPTION, 'and marked so')
  t.match((await run('export', '--file', file)).out, /keys: 0 written, 1 already there/, 'idempotent')

  // The existing service's plain-text item comes into a new file as it is, and stays readable.
  await putRaw(raw, tables.keys, { subject: { S: bob }, access_key: { S: 'AKIAEXISTING0001' }, secret_key: { S: 'existing-plain-secret' }, create_date: { S: '2024-05-01T10:00:00.123456' } })
  const back = join(dir, 'back.json')
  const imported = await run('import', '--file', back)
  t.equal(imported.code, 0, imported.out)
  t.match(imported.out, /keys: 2 written/)
  t.match(imported.out, /1 key\(s\) are in plain text at the source/)
  t.notOk(imported.out.includes('existing-plain-secret'), 'no secret printed')
  const copy = await FileMetadataStore.open(back)
  t.teardown(() => copy.close())
  const aliceKey = await copy.getKey(alice)
  t.same(aliceKey, sealed, 'the sealed record, unchanged')
  t.equal(box.open(aliceKey?.secret_key ?? '', alice, alice), 'alice-password-0123', 'and it opens with the same key')
  t.same(await copy.getKey(bob), { subject: bob, access_key: 'AKIAEXISTING0001', secret_key: 'existing-plain-secret', create_date: '2024-05-01T10:00:00.123456' }, 'plain text, unmarked')
  t.notOk(readFileSync(back, 'utf8').includes('alice-password-0123'), 'the file holds no plain secret of a sealed key')
})

t.test('another key of the same subject at the target is a reported conflict, left alone', async t => {
  const { dir, tables, run } = await setup(t)
  const subject = randomUUID()
  const file = join(dir, 'm.json')
  const source = await FileMetadataStore.open(file)
  await source.putKeyIfAbsent({ subject, access_key: 'AK-FILE', secret_key: 'sealed-file', create_date: '2026-01-01T00:00:00.000Z', encryption: SECRET_ENCRYPTION })
  await source.close()
  const dynamo = await openDynamoStore(t, tables)
  await dynamo.putKeyIfAbsent({ subject, access_key: 'AK-DYNAMO', secret_key: 'sealed-dynamo', create_date: '2026-01-01T00:00:00.000Z', encryption: SECRET_ENCRYPTION })
  const r = await run('export', '--file', file)
  t.equal(r.code, 1)
  t.match(r.out, new RegExp(`conflict: ${subject} has another key at the target; left alone`))
  t.notOk(r.out.includes('sealed-'), 'no secret printed')
  t.equal((await dynamo.getKey(subject))?.access_key, 'AK-DYNAMO')
})

t.test('without a keys table: import copies no keys, export of keys asks for the table', async t => {
  const { dir, run } = await setup(t, { KEYS_TABLE_NAME: `absent-keys-${randomBytes(4).toString('hex')}` })
  const back = join(dir, 'back.json')
  const imported = await run('import', '--file', back)
  t.equal(imported.code, 0, imported.out)
  t.match(imported.out, /keys: none \(no keys table at the source\)/)
  const file = join(dir, 'm.json')
  const source = await FileMetadataStore.open(file)
  await source.putKeyIfAbsent({ subject: randomUUID(), access_key: 'AK', secret_key: 's', create_date: '2026-01-01T00:00:00.000Z' })
  await source.close()
  await t.rejects(run('export', '--file', file), /absent-keys-.* \(KEYS_TABLE_NAME\) does not exist/)
})

t.test('METADATA_STORE is read as the service reads it: a file: URL names the file, a refused value stops', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'diaspora-metadata-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const lines: string[] = []
  const missing = join(dir, 'none.json')
  t.equal(await main(['export'], { METADATA_STORE: `file://${missing}` }, line => lines.push(line)), 1)
  t.match(lines.join('\n'), `there is no file store at ${missing} `, 'the path the URL names, not a folder named file:')
  lines.length = 0
  t.equal(await main(['export'], { METADATA_STORE: 's3://bucket/m.json' }, line => lines.push(line)), 2)
  t.match(lines.join('\n'), /^METADATA_STORE: a s3: URL is no store this service can use/)
})
