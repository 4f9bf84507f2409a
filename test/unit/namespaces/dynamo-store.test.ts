// The DynamoDB metadata store against moto in server mode (AWS cannot exist here; `npm test` starts moto and
// sets DYNAMODB_TEST_ENDPOINT). The shared MetadataStore contract first, then what only this store has: the
// existing service's tables as it writes and reads them, several nodes on one set of tables, an endpoint
// that stops answering, and table creation.
import t from 'tap'
import {
  DeleteTableCommand,
  DescribeTableCommand,
  UpdateItemCommand,
  type AttributeValue
} from '@aws-sdk/client-dynamodb'
import { DynamoMetadataStore, GLOBAL_NAMESPACES, KEY_ENCRYPTION_ATTR, TOPIC_SETTINGS_PREFIX } from '../../../plugins/namespaces/dynamo-store.js'
import { MetadataStoreError } from '../../../plugins/namespaces/store.js'
import { storeContract, topicRecord } from '../../helpers/store-contract.js'
import {
  createTables,
  dropAtTeardown,
  dynamoEndpoint,
  faultProxy,
  getRaw,
  openDynamoStore,
  putRaw,
  rawClient,
  relay,
  TEST_DEFAULTS,
  TEST_REGION,
  uniqueTables
} from '../../helpers/dynamo.js'

storeContract(t, async t => {
  const tables = await createTables(t)
  return { store: await openDynamoStore(t, tables), open: () => openDynamoStore(t, tables) }
})

const SS = (...v: string[]): AttributeValue => ({ SS: v })
const S = (v: string): AttributeValue => ({ S: v })
const setOf = (item: Record<string, AttributeValue> | undefined, attr: string): string[] | undefined =>
  item?.[attr]?.SS?.slice().sort()

t.test('reads the tables as the existing service wrote them', async t => {
  const tables = await createTables(t)
  const raw = rawClient(t)
  // Exactly what the existing service leaves: sets only, no owner, no settings.
  await putRaw(raw, tables.users, { subject: S('alice'), namespaces: SS('ns-aaaaaaaaaaaa', 'proj') })
  await putRaw(raw, tables.users, { subject: S('bob'), namespaces: SS('ns-bbbbbbbbbbbb') })
  await putRaw(raw, tables.users, { subject: S('carol') }) // a user whose last namespace went: no set at all
  await putRaw(raw, tables.users, { subject: S(GLOBAL_NAMESPACES), namespaces: SS('ns-aaaaaaaaaaaa', 'proj', 'ns-bbbbbbbbbbbb') })
  await putRaw(raw, tables.namespaces, { namespace: S('ns-aaaaaaaaaaaa'), topics: SS('logs', 'events') })
  await putRaw(raw, tables.namespaces, { namespace: S('proj') }) // its last topic went: no set

  const store = await openDynamoStore(t, tables, {
    defaultSettings: { num_partitions: 2, replication_factor: 3, configs: {} }
  })
  t.same(await store.namespacesOf('alice'), ['ns-aaaaaaaaaaaa', 'proj'])
  t.same(await store.namespacesOf('carol'), [])
  t.same(await store.namespacesOf(GLOBAL_NAMESPACES), [], 'the registry item is nobody')
  t.equal(await store.ownerOf('proj'), 'alice', 'membership in a subject\'s set is ownership')
  t.equal(await store.ownerOf('ns-bbbbbbbbbbbb'), 'bob', 'also without a namespace item')
  t.equal(await store.ownerOf('free'), undefined)
  const topics = await store.topicsOf('ns-aaaaaaaaaaaa')
  t.same(topics.map(r => r.name), ['events', 'logs'])
  t.same(topics[0]?.settings, { num_partitions: 2, replication_factor: 3, configs: {} }, 'no stored settings: the configured defaults')
  t.equal(topics[0]?.inferred, true, 'flagged, so recreate resolves them against the cluster')
  t.same(await store.topicsOf('proj'), [])
  t.equal(await store.claimNamespace('bob', 'proj'), 'taken')
  t.equal(await store.claimNamespace('alice', 'proj'), 'owned')
  t.equal(await store.releaseNamespace('alice', 'ns-aaaaaaaaaaaa'), 'not-empty')
  t.equal(await store.releaseNamespace('bob', 'proj'), 'not-owner')

  // The owner found once is cached on the namespace item, and checked against the set before it is trusted:
  // the existing service releasing the name behind this store's back frees it here too.
  t.equal(str(await getRaw(raw, tables.namespaces, { namespace: S('ns-bbbbbbbbbbbb') }), 'owner'), 'bob')
  await raw.send(new UpdateItemCommand({ TableName: tables.users, Key: { subject: S('bob') }, UpdateExpression: 'DELETE namespaces :n', ExpressionAttributeValues: { ':n': SS('ns-bbbbbbbbbbbb') } }))
  await raw.send(new UpdateItemCommand({ TableName: tables.users, Key: { subject: S(GLOBAL_NAMESPACES) }, UpdateExpression: 'DELETE namespaces :n', ExpressionAttributeValues: { ':n': SS('ns-bbbbbbbbbbbb') } }))
  t.equal(await store.ownerOf('ns-bbbbbbbbbbbb'), undefined)
  t.equal(await store.claimNamespace('carol', 'ns-bbbbbbbbbbbb'), 'created')
  t.equal(await store.ownerOf('ns-bbbbbbbbbbbb'), 'carol')

  // Topic records over a namespace the existing service made keep its set and add the settings beside it.
  await store.putTopic('ns-aaaaaaaaaaaa', topicRecord('metrics', 4))
  t.same((await store.topicsOf('ns-aaaaaaaaaaaa')).map(r => [r.name, r.settings.num_partitions, r.inferred === true]),
    [['events', 2, true], ['logs', 2, true], ['metrics', 4, false]])
  t.equal(await store.removeTopic('ns-aaaaaaaaaaaa', 'events'), true, 'a topic without stored settings is removed too')
})

t.test('writes what the existing service reads: string sets, never empty ones', async t => {
  const tables = await createTables(t)
  const raw = rawClient(t)
  const store = await openDynamoStore(t, tables)
  await store.claimNamespace('alice', 'ns-aaaaaaaaaaaa')
  await store.claimNamespace('alice', 'proj')
  await store.claimNamespace('bob', 'other')
  await store.putTopic('proj', topicRecord('events', 3))
  await store.putTopic('proj', topicRecord('logs'))

  const user = await getRaw(raw, tables.users, { subject: S('alice') })
  t.same(setOf(user, 'namespaces'), ['ns-aaaaaaaaaaaa', 'proj'], 'users[subject].namespaces is a string set')
  t.same(setOf(await getRaw(raw, tables.users, { subject: S(GLOBAL_NAMESPACES) }), 'namespaces'), ['ns-aaaaaaaaaaaa', 'other', 'proj'])
  const ns = await getRaw(raw, tables.namespaces, { namespace: S('proj') })
  t.same(setOf(ns, 'topics'), ['events', 'logs'], 'namespace[ns].topics is a string set of names without prefix')
  t.equal(str(ns, 'owner'), 'alice')
  t.match(ns?.[`${TOPIC_SETTINGS_PREFIX}events`], { M: { num_partitions: { N: '3' }, replication_factor: { N: '1' }, configs: { M: { 'retention.ms': { S: '1000' } } } } })

  await store.removeTopic('proj', 'events')
  await store.removeTopic('proj', 'logs')
  const emptied = await getRaw(raw, tables.namespaces, { namespace: S('proj') })
  t.equal(emptied?.topics, undefined, 'the last topic removes the set (a set can never be empty)')
  t.equal(emptied?.[`${TOPIC_SETTINGS_PREFIX}events`], undefined, 'and its settings')
  t.equal(await store.releaseNamespace('alice', 'proj'), 'released')
  t.equal(await getRaw(raw, tables.namespaces, { namespace: S('proj') }), undefined, 'a released namespace leaves no item')
  await store.releaseNamespace('alice', 'ns-aaaaaaaaaaaa')
  const after = await getRaw(raw, tables.users, { subject: S('alice') })
  t.ok(after !== undefined && after.namespaces === undefined, 'the last namespace removes the set, not the user')
  t.same(setOf(await getRaw(raw, tables.users, { subject: S(GLOBAL_NAMESPACES) }), 'namespaces'), ['other'])
})

t.test('two nodes race for one name: exactly one owner, nothing half-claimed', async t => {
  const tables = await createTables(t)
  const raw = rawClient(t)
  const nodeA = await openDynamoStore(t, tables)
  const nodeB = await openDynamoStore(t, tables)
  for (let round = 0; round < 5; round++) {
    const name = `race-${round}`
    const [a, b] = await Promise.all([nodeA.claimNamespace('alice', name), nodeB.claimNamespace('bob', name)])
    t.same([a, b].sort(), ['created', 'taken'], `round ${round}: one created, one taken`)
    const winner = a === 'created' ? 'alice' : 'bob'
    const loser = winner === 'alice' ? 'bob' : 'alice'
    t.equal(await nodeA.ownerOf(name), winner)
    t.equal(await nodeB.ownerOf(name), winner)
    t.ok(setOf(await getRaw(raw, tables.users, { subject: S(winner) }), 'namespaces')?.includes(name))
    t.notOk(setOf(await getRaw(raw, tables.users, { subject: S(loser) }), 'namespaces')?.includes(name), 'the loser holds nothing')
  }
  // One subject on two nodes at once: one claim creates, the other finds it owned.
  const [x, y] = await Promise.all([nodeA.claimNamespace('carol', 'mine'), nodeB.claimNamespace('carol', 'mine')])
  t.same([x, y].sort(), ['created', 'owned'])
})

t.test('release races across nodes: one release wins; a release and a topic write never both succeed', async t => {
  const tables = await createTables(t)
  const nodeA = await openDynamoStore(t, tables)
  const nodeB = await openDynamoStore(t, tables)
  await nodeA.claimNamespace('alice', 'twice')
  const both = await Promise.all([nodeA.releaseNamespace('alice', 'twice'), nodeB.releaseNamespace('alice', 'twice')])
  t.same(both.sort(), ['absent', 'released'])

  for (let round = 0; round < 5; round++) {
    const name = `rel-${round}`
    await nodeA.claimNamespace('alice', name)
    const [release, put] = await Promise.allSettled([nodeA.releaseNamespace('alice', name), nodeB.putTopic(name, topicRecord('events'))])
    if (put.status === 'fulfilled') {
      t.same(release, { status: 'fulfilled', value: 'not-empty' }, `round ${round}: the topic landed first, the release is refused`)
      t.equal(await nodeA.ownerOf(name), 'alice')
      t.same((await nodeA.topicsOf(name)).map(r => r.name), ['events'])
    } else {
      t.same(release, { status: 'fulfilled', value: 'released' }, `round ${round}: released first`)
      t.match(put.reason, MetadataStoreError, 'the topic write is refused')
      t.match(String(put.reason), /not claimed/)
      t.equal(await nodeB.ownerOf(name), undefined)
      t.same(await nodeB.topicsOf(name), [], 'no topic of a released namespace')
    }
  }
})

t.test('throttling is retried with back-off: by the SDK per request, by the store per transaction', async t => {
  const tables = await createTables(t)
  const proxy = await faultProxy(t)
  const store = await openDynamoStore(t, tables, { endpoint: proxy.endpoint })
  proxy.seen.length = 0
  proxy.inject('throttle', 2, 'GetItem')
  t.same(await store.namespacesOf('alice'), [], 'answered after two throttled attempts')
  t.same(proxy.seen, ['GetItem', 'GetItem', 'GetItem'], 'the same request three times')

  proxy.seen.length = 0
  proxy.inject('transaction-throttle', 2, 'TransactWriteItems')
  t.equal(await store.claimNamespace('alice', 'ns-a'), 'created')
  t.equal(proxy.seen.filter(op => op === 'TransactWriteItems').length, 3, 'the claim went through on the third transaction')
  t.equal(await store.ownerOf('ns-a'), 'alice')

  // Throttled for longer than the SDK's attempts: a store error (503), nothing changed.
  proxy.inject('throttle', 10, 'GetItem')
  await t.rejects(store.namespacesOf('alice'), { name: 'MetadataStoreError', message: /ProvisionedThroughputExceeded/ })
})

t.test('an unreachable DynamoDB: healthy() false, calls fail as store errors, start refused', async t => {
  const tables = await createTables(t)
  const { endpoint, cut } = await relay(t)
  const store = await openDynamoStore(t, tables, { endpoint, maxAttempts: 2, requestTimeoutMs: 1000 })
  await store.claimNamespace('alice', 'ns-a')
  t.equal(await store.healthy(), true)
  await cut()
  t.equal(await store.healthy(), false)
  await t.rejects(store.ownerOf('ns-a'), { name: 'MetadataStoreError', message: /DynamoDB metadata store: ownerOf failed/ })
  await t.rejects(store.claimNamespace('alice', 'ns-b'), MetadataStoreError)
  const err = await DynamoMetadataStore.open({
    tables, region: TEST_REGION, endpoint, defaultSettings: TEST_DEFAULTS, maxAttempts: 1, requestTimeoutMs: 1000
  })
    .then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof MetadataStoreError, 'open fails')
  t.match(String((err as Error).message), /Cannot use the DynamoDB metadata store .*AWS_ENDPOINT_URL_DYNAMODB/)
})

t.test('missing tables fail the start unless METADATA_CREATE_TABLES asks to create them', async t => {
  const tables = uniqueTables()
  dropAtTeardown(t, tables)
  const err = await DynamoMetadataStore.open({
    tables, region: TEST_REGION, endpoint: dynamoEndpoint(), defaultSettings: TEST_DEFAULTS
  })
    .then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof MetadataStoreError)
  t.match(String((err as Error).message), new RegExp(`table ${tables.users} \\(USERS_TABLE_NAME\\) does not exist.*METADATA_CREATE_TABLES=true`))
  const raw = rawClient(t)
  await t.rejects(raw.send(new DescribeTableCommand({ TableName: tables.users })), { name: 'ResourceNotFoundException' }, 'nothing was created')

  const store = await openDynamoStore(t, tables, { createTables: true })
  for (const [name, key] of [[tables.users, 'subject'], [tables.namespaces, 'namespace'], [tables.keys, 'subject']] as const) {
    const d = (await raw.send(new DescribeTableCommand({ TableName: name }))).Table
    t.same(d?.KeySchema, [{ AttributeName: key, KeyType: 'HASH' }], `${name}: one hash key`)
    t.same(d?.AttributeDefinitions, [{ AttributeName: key, AttributeType: 'S' }], `${name}: of type S`)
    t.equal(d?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST', `${name}: on demand`)
  }
  t.equal(await store.claimNamespace('alice', 'ns-a'), 'created')
  const again = await openDynamoStore(t, tables, { createTables: true })
  t.equal(await again.ownerOf('ns-a'), 'alice', 'existing tables are used as they are')
})

function str (item: Record<string, AttributeValue> | undefined, attr: string): string | undefined {
  return item?.[attr]?.S
}

t.test('keys: the existing service\'s item shape, plain-text items read, the encryption mark written', async t => {
  const tables = await createTables(t)
  const raw = rawClient(t)
  await putRaw(raw, tables.keys, { subject: S('old-user'), access_key: S('AKIAOLD'), secret_key: S('plain-secret'), create_date: S('2024-05-01T10:00:00.123456') })
  const nodeA = await openDynamoStore(t, tables, { requireKeys: true })
  const nodeB = await openDynamoStore(t, tables)
  t.same(await nodeA.getKey('old-user'), { subject: 'old-user', access_key: 'AKIAOLD', secret_key: 'plain-secret', create_date: '2024-05-01T10:00:00.123456' }, 'no mark: plain text')
  t.equal(await nodeA.putKeyIfAbsent({ subject: 'old-user', access_key: 'AKIANEW', secret_key: 'x', create_date: '2025-01-01T00:00:00.000Z' }), false)
  await nodeA.putKeyIfAbsent({ subject: 'alice', access_key: 'AKIA1', secret_key: 'sealed', create_date: '2025-01-01T00:00:00.000Z', encryption: 'aes-256-gcm:v1' })
  t.same(await getRaw(raw, tables.keys, { subject: S('alice') }), {
    subject: S('alice'), access_key: S('AKIA1'), secret_key: S('sealed'), create_date: S('2025-01-01T00:00:00.000Z'), [KEY_ENCRYPTION_ATTR]: S('aes-256-gcm:v1')
  })
  const both = await Promise.all([nodeA, nodeB].map((node, i) => node.putKeyIfAbsent({ subject: 'carol', access_key: `AK-${i}`, secret_key: 's', create_date: '2025-01-01T00:00:00.000Z' })))
  t.same(both.map(Boolean).sort(), [false, true], 'two nodes at once: exactly one key')
})

t.test('keys table: checked at start only when credentials are on', async t => {
  const tables = await createTables(t)
  const raw = rawClient(t)
  await raw.send(new DeleteTableCommand({ TableName: tables.keys }))
  await t.resolves(openDynamoStore(t, tables))
  await t.rejects(openDynamoStore(t, tables, { requireKeys: true }), { name: 'MetadataStoreError', message: /KEYS_TABLE_NAME/ })
})
