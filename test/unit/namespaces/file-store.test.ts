import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileMetadataStore } from '../../../plugins/namespaces/file-store.js'
import { MetadataStoreError, type TopicRecord } from '../../../plugins/namespaces/store.js'
import { storeContract } from '../../helpers/store-contract.js'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'diaspora-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function openStore (t: Test, path: string, opts?: Parameters<typeof FileMetadataStore.open>[1]) {
  const store = await FileMetadataStore.open(path, opts)
  t.teardown(() => store.close())
  return store
}

const topic = (name: string, partitions = 1): TopicRecord => ({
  name,
  settings: { num_partitions: partitions, replication_factor: 1, configs: { 'retention.ms': '1000' } },
  createdAt: '2024-01-01T00:00:00.000Z'
})

// The cases every MetadataStore must pass (shared with the DynamoDB store); the file-specific ones follow.
storeContract(t, async t => {
  const path = join(tempDir(t), 'm.json')
  return { store: await openStore(t, path), open: () => openStore(t, path) }
})

t.test('a missing file is an empty store; nothing is written until a change', async t => {
  const dir = tempDir(t)
  const path = join(dir, 'sub', 'metadata.json')
  const store = await openStore(t, path)
  t.same(await store.namespacesOf('alice'), [])
  t.equal(await store.ownerOf('ns-a'), undefined)
  t.notOk(existsSync(path))
  t.ok(existsSync(join(dir, 'sub')), 'the directory is created at open, so an unusable path fails at start')
})

t.test('writes leave no temp files behind', async t => {
  const dir = tempDir(t)
  const store = await openStore(t, join(dir, 'm.json'))
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.claimNamespace(`s${i}`, `ns-${i}x`)))
  t.ok(await store.healthy())
  t.same(readdirSync(dir), ['m.json'])
  const onDisk = JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8'))
  t.equal(Object.keys(onDisk.namespaces).length, 20)
  t.equal(onDisk.format, 'diaspora-metadata')
})

t.test('a write is: temp file written and fsynced, renamed over the store, directory fsynced', async t => {
  const dir = tempDir(t)
  const path = join(dir, 'm.json')
  const events: string[] = []
  let check = false
  const fsp = await import('node:fs/promises')
  const store = await openStore(t, path, {
    io: {
      open: (async (file: string, flags?: string, mode?: number) => {
        const fh = await fsp.open(file, flags, mode)
        const label = file === dir ? 'dir' : file.endsWith('.tmp') ? 'tmp' : 'other'
        events.push(`open ${label} ${flags}`)
        const sync = fh.sync.bind(fh)
        fh.sync = async () => { events.push(`sync ${label}`); return sync() }
        return fh
      }) as typeof fsp.open,
      rename: async (from, to) => {
        events.push('rename')
        if (!check) return fsp.rename(from, to)
        t.match(from, /\.m\.json\.\d+\.[0-9a-f]+\.tmp$/, 'a temp file beside the store')
        t.equal(to, path)
        t.match(JSON.parse(readFileSync(from, 'utf8')).namespaces, { 'ns-b': { owner: 'bob' } }, 'the temp file is complete')
        t.notOk(JSON.parse(readFileSync(to, 'utf8')).namespaces['ns-b'], 'the store still holds the previous state until the rename')
        await fsp.rename(from, to)
      }
    }
  })
  await store.claimNamespace('alice', 'ns-a')
  events.length = 0
  check = true
  await store.claimNamespace('bob', 'ns-b')
  t.same(events, ['open tmp wx', 'sync tmp', 'rename', 'open dir r', 'sync dir'])
})

t.test('a failed write changes nothing, removes its temp file and is reported', async t => {
  const dir = tempDir(t)
  const path = join(dir, 'm.json')
  let failRename = false
  const store = await openStore(t, path, {
    io: {
      rename: async (from, to) => {
        if (failRename) { failRename = false; throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) }
        const { rename } = await import('node:fs/promises')
        await rename(from, to)
      }
    }
  })
  await store.claimNamespace('alice', 'ns-a')
  failRename = true
  await t.rejects(store.claimNamespace('alice', 'ns-b'), { name: 'MetadataStoreError', message: /Cannot write the metadata store .*m\.json: ENOSPC/ })
  t.equal(await store.ownerOf('ns-b'), undefined, 'memory did not move ahead of the file')
  t.same(readdirSync(dir), ['m.json'], 'no temp file left')
  t.equal(await store.claimNamespace('alice', 'ns-b'), 'created', 'the next write works')
  const reopened = await openStore(t, path)
  t.same(await reopened.namespacesOf('alice'), ['ns-a', 'ns-b'])
})

t.test('stale temp files from a crash are removed at open', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, '.m.json.123.abcdef.tmp'), '{"half": ')
  writeFileSync(join(dir, 'unrelated.tmp'), 'keep me')
  const store = await openStore(t, join(dir, 'm.json'))
  t.same(await store.namespacesOf('x'), [])
  t.same(readdirSync(dir).sort(), ['unrelated.tmp'])
})

t.test('a corrupt file stops the start with a message naming the path', async t => {
  const dir = tempDir(t)
  const cases: Array<[string, RegExp]> = [
    ['{"format": "diaspora-metadata", "version": 1, "namespaces": {', /not valid JSON/],
    ['{"format": "diaspora-metadata", "version": 1, "namespaces": {}, "keys": {"s": {"access_key": "AK", "secret_key": PLAINSECRET-0123456789}}}', /not valid JSON \(Unexpected token 'P'\)/],
    ['', /the file is empty/],
    ['[]', /unexpected content/],
    ['{"format": "diaspora-metadata", "version": 2, "namespaces": {}}', /unexpected content at \/version/],
    ['{"format": "diaspora-metadata", "version": 1, "namespaces": {"ns-a": {"owner": "", "createdAt": "x", "topics": {}}}}', /unexpected content/],
    ['{"format": "diaspora-metadata", "version": 1, "namespaces": {"a.b": {"owner": "x", "createdAt": "x", "topics": {}}}}', /invalid namespace name "a.b"/],
    ['{"format": "diaspora-metadata", "version": 1, "namespaces": {"ns-a": {"owner": "x", "createdAt": "x", "topics": {"a.b": {"settings": {"num_partitions": 1, "replication_factor": 1, "configs": {}}, "createdAt": "x"}}}}}', /invalid topic name "a.b"/]
  ]
  for (const [i, [text, why]] of cases.entries()) {
    const path = join(dir, `corrupt-${i}.json`)
    writeFileSync(path, text)
    const err = await FileMetadataStore.open(path).then(() => undefined, (e: unknown) => e) as MetadataStoreError
    t.ok(err instanceof MetadataStoreError, `case ${i} refused`)
    t.equal(err.path, path)
    t.match(err.message, path, 'names the path')
    t.match(err.message, /corrupt/)
    t.match(err.message, /Refusing to start/)
    t.match(err.message, why)
    t.notOk(err.message.includes('PLAIN'), 'quotes nothing of the file')
    t.equal(readFileSync(path, 'utf8'), text, 'the file is left untouched')
  }
})

t.test('an unreadable path stops the start with a message naming it', async t => {
  const dir = tempDir(t)
  const path = join(dir, 'is-a-dir')
  mkdirSync(path)
  await t.rejects(FileMetadataStore.open(path), { name: 'MetadataStoreError', message: new RegExp(`Cannot read the metadata store ${path}`) })
})

t.test('concurrent operations are serialized in the file: exactly one claim wins, no update is lost', async t => {
  const path = join(tempDir(t), 'm.json')
  const store = await openStore(t, path)
  const results = await Promise.all(Array.from({ length: 25 }, (_, i) => store.claimNamespace(`subject-${i}`, 'contested')))
  t.equal(results.filter(r => r === 'created').length, 1)
  t.equal(results.filter(r => r === 'taken').length, 24)
  const winner = await store.ownerOf('contested')
  t.equal(results[Number(winner?.split('-')[1])], 'created', 'the owner is the one told it won')

  await store.claimNamespace('alice', 'ns-a')
  await Promise.all(Array.from({ length: 30 }, (_, i) => store.putTopic('ns-a', topic(`t-${String(i).padStart(2, '0')}`))))
  t.equal((await store.topicsOf('ns-a')).length, 30)
  const reopened = await openStore(t, path)
  t.equal((await reopened.topicsOf('ns-a')).length, 30, 'all 30 concurrent writes reached the file')
  t.equal(await reopened.ownerOf('contested'), winner)
})

t.test('healthy() is false once closed or when the directory cannot take a file', async t => {
  const dir = tempDir(t)
  let broken = false
  const store = await FileMetadataStore.open(join(dir, 'm.json'), {
    io: {
      open: (async (...args: Parameters<typeof import('node:fs/promises').open>) => {
        if (broken) throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' })
        const { open } = await import('node:fs/promises')
        return open(...args)
      }) as typeof import('node:fs/promises').open
    }
  })
  t.equal(await store.healthy(), true)
  broken = true
  t.equal(await store.healthy(), false)
  broken = false
  t.same(readdirSync(dir), [], 'the probe leaves nothing behind')
  await store.close()
  t.equal(await store.healthy(), false)
})
