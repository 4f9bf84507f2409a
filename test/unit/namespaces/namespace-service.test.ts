/**
 * The topic lifecycle against a fake of the port's KafkaAdmin (an in-memory cluster with failure injection)
 * and the real file store: consistency of metadata and Kafka on every failure path, and serialization per
 * namespace. test/integration/management.test.ts covers the same paths against the real broker.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KafkaAdmin, NewTopic } from '../../../plugins/kafka/admin.js'
import { KafkaError } from '../../../plugins/kafka/driver.js'
import { ApiError } from '../../../plugins/errors/errors.js'
import { FileMetadataStore } from '../../../plugins/namespaces/file-store.js'
import { NamespaceService } from '../../../plugins/namespaces/namespace-service.js'
import { MetadataStoreError } from '../../../plugins/namespaces/store.js'
import { KeyedMutex } from '../../../plugins/namespaces/keyed-mutex.js'

type Fault = 'create' | 'create-timeout-but-created' | 'delete' | 'list' | 'connect'

/** A tiny in-memory cluster behind the three admin calls the service uses. */
class FakeCluster {
  topics = new Map<string, { partitions: number, rf: number, configs: Record<string, string> }>()
  /** Topics being deleted: still listed for this many more listTopics calls. */
  lingering = new Map<string, number>()
  faults: Fault[] = []
  brokers = 1
  calls: string[] = []

  #fault (kind: Fault): boolean {
    const i = this.faults.indexOf(kind)
    if (i < 0) return false
    this.faults.splice(i, 1)
    return true
  }

  admin (): KafkaAdmin {
    const self = this
    const api = {
      async listTopics () {
        self.calls.push('list')
        if (self.#fault('list') || self.#fault('connect')) throw new KafkaError('Connection error: ECONNREFUSED', { outage: true })
        for (const [name, n] of self.lingering) {
          if (n <= 0) self.lingering.delete(name)
          else self.lingering.set(name, n - 1)
        }
        return [...self.topics.keys(), ...self.lingering.keys()]
      },
      async createTopic (spec: NewTopic) {
        self.calls.push('create')
        if (self.#fault('create')) throw new KafkaError('broker refused', { kind: 'UNKNOWN_SERVER_ERROR' })
        if (self.topics.has(spec.name) || self.lingering.has(spec.name)) return false
        if (spec.replicationFactor > self.brokers) {
          const message = 'Replication factor: 2 larger than available brokers: 1.'
          throw new KafkaError(message, { kind: 'INVALID_REPLICATION_FACTOR' })
        }
        const { name, partitions, replicationFactor: rf, configs } = spec
        self.topics.set(name, { partitions, rf, configs: { ...configs } })
        if (self.#fault('create-timeout-but-created')) throw new KafkaError('Request timed out', { outage: true, retriable: true })
        return true
      },
      async deleteTopics (names: string[]) {
        self.calls.push('delete')
        if (self.#fault('delete')) throw new KafkaError('Connection error: ECONNREFUSED', { outage: true })
        for (const name of names) {
          if (!self.topics.delete(name)) throw new KafkaError('unknown', { kind: 'UNKNOWN_TOPIC_OR_PARTITION' })
          self.lingering.set(name, 2)
        }
      },
      brokerCount: async () => self.brokers,
      aclsOf: async () => [],
      createAcls: async () => {},
      deleteAcls: async () => {}
    }
    return api
  }
}

const ALICE = '11111111-1111-4111-8111-aaaaaaaaaaaa'
const BOB = '22222222-2222-4222-8222-bbbbbbbbbbbb'
const NS_A = 'ns-aaaaaaaaaaaa'
const NS_B = 'ns-bbbbbbbbbbbb'

async function setup (t: Test, limits: Partial<NamespaceService['limits']> = {}, extra: { ownerCacheMs?: number, now?: () => number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'diaspora-ns-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = await FileMetadataStore.open(join(dir, 'm.json'))
  t.teardown(() => store.close())
  const cluster = new FakeCluster()
  const service = new NamespaceService({
    store,
    kafka: {
      admin: async () => {
        if (cluster.faults.includes('connect')) { cluster.faults.splice(cluster.faults.indexOf('connect'), 1); throw new KafkaError('connect ECONNREFUSED', { outage: true }) }
        return cluster.admin()
      }
    },
    limits: {
      TOPIC_DEFAULT_PARTITIONS: 1,
      TOPIC_MAX_PARTITIONS: 8,
      TOPIC_DEFAULT_REPLICATION_FACTOR: 3,
      TOPIC_MAX_RETENTION_MS: 3_600_000,
      TOPIC_RECREATE_TIMEOUT_MS: 5000,
      ...limits
    },
    ...extra
  })
  await service.createUser(ALICE)
  await service.createUser(BOB)
  return { service, store, cluster }
}

async function apiError (t: Test, p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof ApiError, 'rejects with an ApiError')
  return err as ApiError
}

t.test('createUser claims the default namespace once', async t => {
  const { service } = await setup(t)
  t.same(await service.createUser(ALICE), { namespace: NS_A, created: false })
  t.same(await service.listNamespaces(ALICE), { [NS_A]: [] })
  const carol = '33333333-3333-4333-8333-cccccccccccc'
  t.same(await service.createUser(carol), { namespace: 'ns-cccccccccccc', created: true })
})

t.test('requireOwned answers the same 404 for unknown and foreign namespaces', async t => {
  const { service } = await setup(t)
  await service.requireOwned(ALICE, NS_A)
  const foreign = await apiError(t, service.requireOwned(ALICE, NS_B))
  const unknown = await apiError(t, service.requireOwned(ALICE, 'ns-cccccccccccc'))
  const invalid = await apiError(t, service.requireOwned(ALICE, 'a.b'))
  for (const e of [foreign, unknown, invalid]) {
    t.equal(e.statusCode, 404)
    t.equal(e.errorCode, 40401)
    t.equal(e.code, 'NAMESPACE_NOT_FOUND')
  }
  t.equal(foreign.message.replace(NS_B, 'X'), unknown.message.replace('ns-cccccccccccc', 'X'), 'no hint which one exists')
})

t.test('the data path trusts a confirmed owner for ownerCacheMs, and nothing else', async t => {
  const clock = { now: 1_000_000 }
  const { service, store } = await setup(t, {}, { ownerCacheMs: 1000, now: () => clock.now })
  let reads = 0
  const ownerOf = store.ownerOf.bind(store)
  store.ownerOf = async (namespace: string) => { reads++; return ownerOf(namespace) }
  await service.requireOwnedOnDataPath(ALICE, NS_A)
  await service.requireOwnedOnDataPath(ALICE, NS_A)
  t.equal(reads, 1, 'the second request within the window is not a store read')
  t.equal((await apiError(t, service.requireOwnedOnDataPath(BOB, NS_A))).code, 'NAMESPACE_NOT_FOUND', 'another subject is never served from it')
  t.equal(reads, 2)
  clock.now += 1000
  await service.requireOwnedOnDataPath(ALICE, NS_A)
  t.equal(reads, 3, 'asked again once the window has passed')
  // Refusals are not kept: a namespace claimed meanwhile (on another node, say) is usable at once.
  const fresh = 'ns-fresh0000001'
  await apiError(t, service.requireOwnedOnDataPath(ALICE, fresh))
  await service.claimNamespace(ALICE, fresh)
  await service.requireOwnedOnDataPath(ALICE, fresh)
  // This node's release ends the trust at once.
  await service.releaseNamespace(ALICE, fresh)
  t.equal((await apiError(t, service.requireOwnedOnDataPath(ALICE, fresh))).statusCode, 404, 'released here: refused at once')
  // Management paths always ask the store.
  const before = reads
  await service.requireOwned(ALICE, NS_A)
  t.equal(reads, before + 1)
})

t.test('without ownerCacheMs the data path asks the store every time', async t => {
  const { service, store } = await setup(t)
  let reads = 0
  const ownerOf = store.ownerOf.bind(store)
  store.ownerOf = async (namespace: string) => { reads++; return ownerOf(namespace) }
  for (let i = 0; i < 3; i++) await service.requireOwnedOnDataPath(ALICE, NS_A)
  t.equal(reads, 3)
})

t.test('create: Kafka first, metadata after; idempotent', async t => {
  const { service, store, cluster } = await setup(t)
  const r = await service.createTopic(ALICE, NS_A, 'events', { num_partitions: 3 })
  t.equal(r.created, true)
  t.same(r.topics, ['events'])
  t.equal(cluster.topics.get(`${NS_A}.events`)?.partitions, 3)
  t.equal((await store.getTopic(NS_A, 'events'))?.settings.num_partitions, 3)
  const again = await service.createTopic(ALICE, NS_A, 'events')
  t.equal(again.created, false)
  t.equal(again.settings.num_partitions, 3)
  const conflict = await apiError(t, service.createTopic(ALICE, NS_A, 'events', { num_partitions: 4 }))
  t.equal(conflict.statusCode, 409)
  t.equal(conflict.code, 'TOPIC_SETTINGS_CONFLICT')
  t.match(conflict.message, /num_partitions is 3/)
  t.same((await service.createTopic(ALICE, NS_A, 'events', { num_partitions: 3 })).created, false)
})

t.test('create in a foreign namespace is a 404 and touches nothing', async t => {
  const { service, cluster } = await setup(t)
  const e = await apiError(t, service.createTopic(BOB, NS_A, 'events'))
  t.equal(e.statusCode, 404)
  t.same(cluster.calls, [])
})

t.test('a failed Kafka create leaves no metadata', async t => {
  const { service, store, cluster } = await setup(t)
  cluster.faults.push('create')
  const e = await apiError(t, service.createTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 500)
  t.equal(await store.getTopic(NS_A, 'events'), undefined)
  t.notOk(cluster.topics.has(`${NS_A}.events`))
})

t.test('Kafka unreachable: 503, nothing written', async t => {
  const { service, store, cluster } = await setup(t)
  cluster.faults.push('connect')
  const e = await apiError(t, service.createTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 503)
  t.equal(e.errorCode, 50302)
  t.same(await store.topicsOf(NS_A), [])
  t.same(cluster.calls, [])
})

t.test('a create that timed out but happened is kept (settled by asking Kafka)', async t => {
  const { service, store, cluster } = await setup(t)
  cluster.faults.push('create-timeout-but-created')
  const r = await service.createTopic(ALICE, NS_A, 'events')
  t.equal(r.created, true)
  t.ok(cluster.topics.has(`${NS_A}.events`))
  t.ok(await store.getTopic(NS_A, 'events'))
})

t.test('a failed metadata write deletes the Kafka topic again', async t => {
  const { service, store, cluster } = await setup(t)
  const put = store.putTopic.bind(store)
  store.putTopic = async () => { store.putTopic = put; throw new MetadataStoreError('disk full') }
  const e = await apiError(t, service.createTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 503)
  t.equal(e.code, 'METADATA_STORE_UNAVAILABLE')
  t.notOk(cluster.topics.has(`${NS_A}.events`), 'no orphan in Kafka')
  t.equal(await store.getTopic(NS_A, 'events'), undefined)
})

t.test('a leftover Kafka topic without metadata is adopted by create', async t => {
  const { service, store, cluster } = await setup(t)
  cluster.topics.set(`${NS_A}.events`, { partitions: 1, rf: 1, configs: {} })
  const r = await service.createTopic(ALICE, NS_A, 'events')
  t.equal(r.created, true)
  t.ok(await store.getTopic(NS_A, 'events'))
})

t.test('metadata without a Kafka topic: create puts it back in Kafka', async t => {
  const { service, cluster } = await setup(t)
  await service.createTopic(ALICE, NS_A, 'events', { num_partitions: 2 })
  cluster.topics.delete(`${NS_A}.events`)
  const r = await service.createTopic(ALICE, NS_A, 'events')
  t.equal(r.created, false)
  t.equal(cluster.topics.get(`${NS_A}.events`)?.partitions, 2, 'with the stored settings')
})

t.test('settings beyond the limits are refused before Kafka is asked to create', async t => {
  const { service, cluster } = await setup(t)
  const e = await apiError(t, service.createTopic(ALICE, NS_A, 'events', { replication_factor: 2 }))
  t.equal(e.statusCode, 422)
  t.match(e.message, /exceeds the number of brokers in the cluster \(1\)/)
  t.notOk(cluster.calls.includes('create'))
})

t.test('Kafka refusing the settings is a 422 and leaves nothing', async t => {
  const { service, store, cluster } = await setup(t)
  // The service is told there are 2 brokers, but the cluster refuses factor 2 when the create arrives.
  cluster.brokers = 2
  const admin = cluster.admin.bind(cluster)
  cluster.admin = () => {
    const a = admin()
    const create = a.createTopic.bind(a)
    a.createTopic = async (args) => {
      cluster.brokers = 1
      try { return await create(args) } finally { cluster.brokers = 2 }
    }
    return a
  }
  const e = await apiError(t, service.createTopic(ALICE, NS_A, 'events', { replication_factor: 2 }))
  t.equal(e.statusCode, 422)
  t.equal(e.code, 'INVALID_TOPIC_SETTINGS')
  t.equal(await store.getTopic(NS_A, 'events'), undefined)
})

t.test('a name Kafka would see as colliding is a 409 that does not name the other topic', async t => {
  const { service, store, cluster } = await setup(t)
  cluster.topics.set(`${NS_A}_q.zzz`, { partitions: 1, rf: 1, configs: {} })
  const e = await apiError(t, service.createTopic(ALICE, NS_A, 'q_zzz'))
  t.equal(e.statusCode, 409)
  t.equal(e.code, 'TOPIC_NAME_COLLISION')
  t.notMatch(e.message, `${NS_A}_q`)
  t.notOk(cluster.calls.includes('create'))
  t.equal(await store.getTopic(NS_A, 'q_zzz'), undefined)
})

t.test('delete: Kafka first; a failed Kafka delete keeps the metadata', async t => {
  const { service, store, cluster } = await setup(t)
  await service.createTopic(ALICE, NS_A, 'events')
  cluster.faults.push('delete')
  const e = await apiError(t, service.deleteTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 503)
  t.ok(await store.getTopic(NS_A, 'events'), 'metadata kept')
  t.ok(cluster.topics.has(`${NS_A}.events`), 'topic kept')
  const r = await service.deleteTopic(ALICE, NS_A, 'events')
  t.same(r, { topic: 'events', deleted: true, topics: [] })
  t.notOk(cluster.topics.has(`${NS_A}.events`))
  t.equal(cluster.lingering.size, 0, 'returned only once Kafka stopped listing it')
  t.equal(await store.getTopic(NS_A, 'events'), undefined)
  t.same(await service.deleteTopic(ALICE, NS_A, 'events'), { topic: 'events', deleted: false, topics: [] }, 'idempotent')
})

t.test('delete also removes a leftover Kafka topic that had no metadata', async t => {
  const { service, cluster } = await setup(t)
  cluster.topics.set(`${NS_A}.stray`, { partitions: 1, rf: 1, configs: {} })
  const r = await service.deleteTopic(ALICE, NS_A, 'stray')
  t.equal(r.deleted, true)
  t.notOk(cluster.topics.has(`${NS_A}.stray`))
})

t.test('recreate: delete, poll until gone, create with the same settings', async t => {
  const { service, cluster } = await setup(t)
  await service.createTopic(ALICE, NS_A, 'events', { num_partitions: 3, configs: { 'retention.ms': 1000 } })
  const before = cluster.topics.get(`${NS_A}.events`)
  cluster.calls = []
  const r = await service.recreateTopic(ALICE, NS_A, 'events')
  t.equal(r.settings.num_partitions, 3)
  const after = cluster.topics.get(`${NS_A}.events`)
  t.not(after, before, 'a new topic object')
  t.same(after, { partitions: 3, rf: 1, configs: { 'retention.ms': '1000' } })
  t.ok(cluster.calls.filter(c => c === 'list').length >= 3, 'polled the topic list until the old topic was gone')
  t.equal(cluster.calls.filter(c => c === 'delete').length, 1)
})

t.test('recreate of a topic with no stored settings (the existing service made it): configured defaults, then kept', async t => {
  const { service, store, cluster } = await setup(t)
  // As the DynamoDB store reads a topic the existing service created: listed, no settings, flagged inferred.
  cluster.topics.set(`${NS_A}.legacy`, { partitions: 5, rf: 1, configs: {} })
  await store.putTopic(NS_A, { name: 'legacy', settings: { num_partitions: 1, replication_factor: 3, configs: {} }, createdAt: '1970-01-01T00:00:00.000Z' })
  const getTopic = store.getTopic.bind(store)
  store.getTopic = async (ns, topic) => {
    const r = await getTopic(ns, topic)
    return r && topic === 'legacy' && r.createdAt.startsWith('1970') ? { ...r, inferred: true } : r
  }
  const r = await service.recreateTopic(ALICE, NS_A, 'legacy')
  t.same(r.settings, { num_partitions: 1, replication_factor: 1, configs: { 'retention.ms': '3600000' } },
    'the configured defaults, the replication factor capped by the brokers (not a 409)')
  t.same(cluster.topics.get(`${NS_A}.legacy`), { partitions: 1, rf: 1, configs: { 'retention.ms': '3600000' } })
  const stored = await getTopic(NS_A, 'legacy')
  t.same(stored?.settings, r.settings, 'the settings it now has are stored for the next recreate')
  t.notOk(stored?.createdAt.startsWith('1970'))
})

t.test('recreate: unknown topic is a 404; nothing is deleted', async t => {
  const { service, cluster } = await setup(t)
  const e = await apiError(t, service.recreateTopic(ALICE, NS_A, 'nope'))
  t.equal(e.statusCode, 404)
  t.equal(e.code, 'TOPIC_NOT_FOUND')
  t.notOk(cluster.calls.includes('delete'))
})

t.test('recreate: a failed delete keeps topic and metadata', async t => {
  const { service, store, cluster } = await setup(t)
  await service.createTopic(ALICE, NS_A, 'events')
  cluster.faults.push('delete')
  const e = await apiError(t, service.recreateTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 503)
  t.ok(cluster.topics.has(`${NS_A}.events`))
  t.ok(await store.getTopic(NS_A, 'events'))
})

t.test('recreate: a failed create after the delete removes the metadata too and says so', async t => {
  const { service, store, cluster } = await setup(t)
  await service.createTopic(ALICE, NS_A, 'events')
  cluster.faults.push('create')
  const e = await apiError(t, service.recreateTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 500)
  t.match(e.message, /was deleted but could not be created again/)
  t.notOk(cluster.topics.has(`${NS_A}.events`))
  t.equal(await store.getTopic(NS_A, 'events'), undefined, 'no dangling metadata')
})

t.test('recreate: a deletion that does not finish in time is a 503', async t => {
  const { service, store, cluster } = await setup(t, { TOPIC_RECREATE_TIMEOUT_MS: 200 })
  await service.createTopic(ALICE, NS_A, 'events')
  const del = cluster.admin.bind(cluster)
  cluster.admin = () => {
    const a = del()
    const d = a.deleteTopics.bind(a)
    a.deleteTopics = async (args) => { await d(args); cluster.lingering.set(`${NS_A}.events`, 1e9) }
    return a
  }
  const e = await apiError(t, service.recreateTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 503)
  t.equal(e.code, 'TOPIC_DELETE_PENDING')
  t.equal(await store.getTopic(NS_A, 'events'), undefined)
})

t.test('recreate refuses before deleting when the cluster shrank below the replication factor', async t => {
  const { service, store, cluster } = await setup(t)
  cluster.brokers = 3
  await service.createTopic(ALICE, NS_A, 'events', { replication_factor: 3 })
  cluster.brokers = 1
  cluster.calls = []
  const e = await apiError(t, service.recreateTopic(ALICE, NS_A, 'events'))
  t.equal(e.statusCode, 409)
  t.notOk(cluster.calls.includes('delete'))
  t.ok(await store.getTopic(NS_A, 'events'))
})

t.test('concurrent creates and deletes of one topic end consistent', async t => {
  const { service, store, cluster } = await setup(t)
  const ops = Array.from({ length: 20 }, (_, i) => i % 2 === 0
    ? service.createTopic(ALICE, NS_A, 'contested')
    : service.deleteTopic(ALICE, NS_A, 'contested'))
  const results = await Promise.allSettled(ops)
  t.ok(results.every(r => r.status === 'fulfilled'), 'no operation failed')
  const inStore = (await store.getTopic(NS_A, 'contested')) !== undefined
  const inKafka = cluster.topics.has(`${NS_A}.contested`)
  t.equal(inStore, inKafka, 'metadata and Kafka agree')
  t.equal(inStore, false, 'the last operation (a delete) won, as they ran in call order')
  const creates = await Promise.all(Array.from({ length: 10 }, () => service.createTopic(ALICE, NS_A, 'once')))
  t.equal(creates.filter(c => c.created).length, 1, 'exactly one create made it')
})

t.test('deleteUser refuses while other namespaces exist, then deletes Kafka topics before metadata', async t => {
  const { service, store, cluster } = await setup(t)
  await service.createTopic(ALICE, NS_A, 'one')
  await service.createTopic(ALICE, NS_A, 'two')
  cluster.topics.set(`${NS_A}.stray`, { partitions: 1, rf: 1, configs: {} })
  await service.claimNamespace(ALICE, 'project-x')
  const refused = await apiError(t, service.deleteUser(ALICE))
  t.equal(refused.statusCode, 409)
  t.equal(refused.code, 'USER_HAS_NAMESPACES')
  t.match(refused.message, /1 additional namespace/)
  t.equal(cluster.topics.size, 3, 'nothing deleted')
  await service.releaseNamespace(ALICE, 'project-x')

  cluster.faults.push('delete')
  const failed = await apiError(t, service.deleteUser(ALICE))
  t.equal(failed.statusCode, 503)
  t.same((await store.topicsOf(NS_A)).map(r => r.name), ['one', 'two'], 'metadata kept when Kafka failed')
  t.equal(await store.ownerOf(NS_A), ALICE)

  const r = await service.deleteUser(ALICE)
  t.same(r, { namespace: NS_A, deleted: true, topics: ['one', 'two'] })
  t.equal([...cluster.topics.keys()].filter(k => k.startsWith(`${NS_A}.`)).length, 0, 'leftovers too')
  t.equal(await store.ownerOf(NS_A), undefined)
  t.same(await service.deleteUser(ALICE), { namespace: NS_A, deleted: false, topics: [] }, 'idempotent')
})

t.test('claim and release additional namespaces', async t => {
  const { service, cluster } = await setup(t)
  t.same(await service.claimNamespace(ALICE, 'proj'), { namespace: 'proj', created: true, namespaces: [NS_A, 'proj'] })
  t.same((await service.claimNamespace(ALICE, 'proj')).created, false)
  t.equal((await apiError(t, service.claimNamespace(BOB, 'proj'))).code, 'NAMESPACE_TAKEN')
  t.equal((await apiError(t, service.claimNamespace(BOB, NS_A))).code, 'NAMESPACE_RESERVED', 'another user\'s default name')
  t.equal((await apiError(t, service.claimNamespace(BOB, 'ns-0123456789ab'))).code, 'NAMESPACE_RESERVED')
  t.equal((await apiError(t, service.claimNamespace(BOB, 'namespace'))).statusCode, 422)
  t.equal((await apiError(t, service.claimNamespace(BOB, 'a.b'))).statusCode, 422)
  t.equal((await service.claimNamespace(BOB, NS_B)).created, false, 'own default name is fine')
  cluster.topics.set('legacy.data', { partitions: 1, rf: 1, configs: {} })
  t.equal((await apiError(t, service.claimNamespace(BOB, 'legacy'))).code, 'NAMESPACE_TAKEN', 'Kafka already has topics under it')

  await service.createTopic(ALICE, 'proj', 'events')
  const notEmpty = await apiError(t, service.releaseNamespace(ALICE, 'proj'))
  t.equal(notEmpty.statusCode, 409)
  t.equal(notEmpty.code, 'NAMESPACE_NOT_EMPTY')
  t.equal((await apiError(t, service.releaseNamespace(BOB, 'proj'))).statusCode, 404)
  await service.deleteTopic(ALICE, 'proj', 'events')
  cluster.topics.set('proj.stray', { partitions: 1, rf: 1, configs: {} })
  t.same(await service.releaseNamespace(ALICE, 'proj'), { namespace: 'proj', namespaces: [NS_A] })
  t.notOk(cluster.topics.has('proj.stray'), 'leftovers are deleted before the name is released')
  t.equal((await service.claimNamespace(BOB, 'proj')).created, true, 'the name is free again')
  t.equal((await apiError(t, service.releaseNamespace(ALICE, 'proj'))).statusCode, 404)
})

t.test('store failures are 503 METADATA_STORE_UNAVAILABLE', async t => {
  const { service, store } = await setup(t)
  await store.close()
  const e = await apiError(t, service.listNamespaces(ALICE))
  t.equal(e.statusCode, 503)
  t.equal(e.code, 'METADATA_STORE_UNAVAILABLE')
  t.equal(await service.storeHealthy(), false)
})

t.test('KeyedMutex runs one key in call order and forgets idle keys', async t => {
  const m = new KeyedMutex()
  const order: string[] = []
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const a = m.run('k', async () => { await gate; order.push('a') })
  const b = m.run('k', async () => { order.push('b') })
  const c = m.run('other', async () => { order.push('c') })
  await c
  t.same(order, ['c'], 'another key is not blocked')
  release()
  await Promise.all([a, b])
  t.same(order, ['c', 'a', 'b'])
  await t.rejects(m.run('k', async () => { throw new Error('boom') }), /boom/)
  await m.run('k', async () => { order.push('d') })
  t.same(order, ['c', 'a', 'b', 'd'], 'a failure does not block the key')
  t.equal(m.size, 0)
})
