/**
 * The kafkajs adapter's session without a broker, with kafkajs' real ConsumerGroup prototype (patched) and a real
 * client that never connects: the fetch gate, where a held or parked session's fetch loop waits while eachBatch
 * returns at once; and the process-wide fix of kafkajs' request-queue timer loop. (The fallbacks for a kafkajs
 * without the gate, and their tests with a stand-in kafkajs, are gone: applyKafkajsPatches refuses such a
 * kafkajs at boot.)
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { Kafka as KafkaClient, logLevel, type ConsumerConfig, type EachBatchPayload, type Kafka, type PartitionAssigner } from 'kafkajs'
import { Session, toSessionRecords } from '../../../plugins/kafka/kafkajs/session.js'
import { applyKafkajsPatches, patchKafkajsFetchGate, patchKafkajsRequestQueue } from '../../../plugins/kafka/kafkajs/patches.js'
import type { SessionHandlers } from '../../../plugins/kafka/driver.js'

await applyKafkajsPatches()

interface Fake { eachBatch?: (p: EachBatchPayload) => Promise<void> }

function payload (heartbeat: () => Promise<void>): EachBatchPayload {
  return {
    batch: { topic: 'ns.t', partition: 0, messages: [{ offset: '5', timestamp: '1000', key: null, value: Buffer.from('v'), headers: {} }] },
    isStale: () => false,
    heartbeat
  } as unknown as EachBatchPayload
}

t.test('a session needs the Cluster kafkajs hands its assigner factories (the gate is always attached)', async t => {
  const handlers: SessionHandlers = { onJoin () {}, onRecords () {}, onRebalancing () {}, onCrash () {} }
  const kafka = { consumer: () => ({ events: {}, on () {} }) } as unknown as Kafka
  t.throws(() => new Session({ kafka, groupId: 'ns.g', topics: ['ns.t'], fromBeginning: true, sessionTimeout: 6000, heartbeatInterval: 20, maxWaitTimeInMs: 100, maxBytes: 1048576, handlers }),
    /did not hand its Cluster/)
})

t.test('an unheld session returns from eachBatch at once', async t => {
  let got = 0
  const { s, eachBatch } = gatedSession(() => { got++ })
  await s.start()
  await eachBatch()(payload(async () => { throw new Error('no heartbeat expected') }))
  t.equal(got, 1)
  await s.stop()
})

t.test('kafkajs request queues re-arm their pending check only when something is pending', async t => {
  t.equal(patchKafkajsRequestQueue(), true)
  t.equal(patchKafkajsRequestQueue(), true, 'idempotent')
  const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (o: object) => {
    pending: unknown[]
    throttledUntil: number
    throttleCheckTimeoutId: NodeJS.Timeout | null
    checkPendingRequests (): void
    destroy (): void
  }
  const logger = { debug () {}, info () {}, warn () {}, error () {} }
  const q = new RequestQueue({ maxInFlightRequests: null, requestTimeout: 30000, enforceRequestTimeout: false, clientId: 'c', broker: 'b', logger })
  t.teardown(() => q.destroy())
  q.checkPendingRequests() // what every response does
  t.equal(q.throttleCheckTimeoutId, null, 'nothing pending: no timer (kafkajs 2.2.4 armed a 1 ms one, for ever)')
  q.throttledUntil = Date.now() + 60_000
  q.pending.push({ correlationId: 1 })
  q.checkPendingRequests()
  t.not(q.throttleCheckTimeoutId, null, 'a throttled pending request still schedules its check')
})

/**
 * A Session over a real kafkajs client that never connects: creating its consumer hands the assigner factories
 * its Cluster (noted here, to call the patched ConsumerGroup#fetch as kafkajs' fetch loop would), and start()
 * only captures eachBatch.
 */
function gatedSession (onRecords: (s: Session) => void = () => {}): { s: Session, cluster: object, eachBatch: () => NonNullable<Fake['eachBatch']> } {
  const real = new KafkaClient({ clientId: 'unit', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING })
  let cluster: object | undefined
  let captured: Fake['eachBatch']
  const kafka = {
    consumer: (cfg: ConsumerConfig) => {
      const c = real.consumer({
        ...cfg,
        partitionAssigners: (cfg.partitionAssigners ?? []).map(factory => (x: Parameters<PartitionAssigner>[0]) => {
          cluster = x.cluster
          return factory(x)
        })
      })
      return Object.assign(c, {
        connect: async () => {},
        subscribe: async () => {},
        run: async (r: { eachBatch: NonNullable<Fake['eachBatch']> }) => { captured = r.eachBatch },
        disconnect: async () => {}
      })
    }
  } as unknown as Kafka
  const handlers: SessionHandlers = { onJoin () {}, onRecords: () => onRecords(s), onRebalancing () {}, onCrash () {} }
  const s: Session = new Session({ kafka, groupId: 'ns.g', topics: ['ns.t'], fromBeginning: true, sessionTimeout: 6000, heartbeatInterval: 200, maxWaitTimeInMs: 100, maxBytes: 1048576, handlers })
  if (!cluster) throw new Error('kafkajs handed over no Cluster')
  return { s, cluster, eachBatch: () => captured as NonNullable<Fake['eachBatch']> }
}

const ConsumerGroup = createRequire(import.meta.url)('kafkajs/src/consumer/consumerGroup.js') as { prototype: { fetch (this: unknown, nodeId: number): Promise<unknown[]> } }

/** ConsumerGroup#fetch as kafkajs' fetch loop calls it, with whether it has settled. */
function fetchAt (cluster: object): { result: Promise<unknown[]>, settled: () => boolean } {
  let settled = false
  const result = ConsumerGroup.prototype.fetch.call({ cluster }, 0).finally(() => { settled = true })
  return { result, settled: () => settled }
}

const tick = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

t.test('a held session returns from eachBatch at once and its next fetch waits at the gate until released', async t => {
  t.equal(patchKafkajsFetchGate(), true)
  t.equal(patchKafkajsFetchGate(), true, 'idempotent')
  const { s, cluster, eachBatch } = gatedSession(s => s.hold())
  await s.start()
  let done = false
  // Not held: kafkajs keeps a whole fetch response alive until every batch of it is handled.
  const delivered = eachBatch()(payload(async () => { throw new Error('no heartbeat expected') })).then(() => { done = true })
  await tick(20)
  t.ok(done, 'the batch is not held in eachBatch')
  await delivered

  const next = fetchAt(cluster)
  await tick(50)
  t.notOk(next.settled(), 'the next fetch waits: nothing more is fetched while paused')
  t.equal(s.fetchingSince, undefined, 'a wait at the gate is no fetch waiting for the broker')
  s.release()
  t.same(await next.result, [], 'resume ends the wait at once, with no batches (the loop fetches again)')

  s.hold()
  const alone = fetchAt(cluster)
  await tick(50)
  t.notOk(alone.settled(), 'paused again: waiting')
  t.same(await alone.result, [], 'and it ends on its own after one heartbeat interval, so the runner heartbeats between waits')
  const last = fetchAt(cluster)
  await s.stop()
  t.same(await last.result, [], 'stop releases the wait (kafkajs disconnect waits for its fetch loop)')
})

t.test('a parked consumer\'s fetch loop waits at the gate (no Fetch) until unpark, stop or one heartbeat interval', async t => {
  const { s, cluster } = gatedSession()
  s.park()
  const first = fetchAt(cluster)
  await tick(50)
  t.notOk(first.settled(), 'still waiting: a parked consumer sends no Fetch')
  s.unpark()
  t.same(await first.result, [], 'unpark ends the wait at once, with no batches')

  s.park()
  s.hold()
  s.release()
  const alone = fetchAt(cluster)
  await tick(50)
  t.notOk(alone.settled(), 'a resume does not open the gate of a parked consumer')
  t.same(await alone.result, [], 'the wait ends on its own (one heartbeat interval)')

  const again = fetchAt(cluster)
  t.equal(s.fetchingSince, undefined, 'a parked wait is no fetch waiting for the broker')
  await s.stop()
  t.same(await again.result, [], 'stop releases the wait')
})

t.test('a fetch waiting for the broker shows in fetchingSince until it settles', async t => {
  const real = new KafkaClient({ clientId: 'unit', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING })
  let cluster: { refreshMetadataIfNecessary?: () => Promise<void> } | undefined
  const kafka = {
    consumer: (cfg: ConsumerConfig) => real.consumer({
      ...cfg,
      partitionAssigners: (cfg.partitionAssigners ?? []).map(factory => (c: Parameters<PartitionAssigner>[0]) => {
        cluster = c.cluster as typeof cluster
        return factory(c)
      })
    })
  } as unknown as Kafka
  const handlers: SessionHandlers = { onJoin () {}, onRecords () {}, onRebalancing () {}, onCrash () {} }
  const s = new Session({ kafka, groupId: 'ns.g', topics: ['ns.t'], fromBeginning: true, sessionTimeout: 6000, heartbeatInterval: 200, maxWaitTimeInMs: 100, maxBytes: 1048576, handlers })
  t.teardown(() => s.stop())
  if (!cluster) throw new Error('kafkajs handed over no Cluster')
  t.equal(s.fetchingSince, undefined, 'nothing under way')

  // The first step of kafkajs' fetch is a metadata check against the broker: a silent broker never answers it.
  let answer: (() => void) | undefined
  cluster.refreshMetadataIfNecessary = () => new Promise<void>(resolve => { answer = resolve })
  const before = Date.now()
  const pending = ConsumerGroup.prototype.fetch
    .call({ cluster, logger: { debug () {}, warn () {}, error () {} } }, 0)
    .catch(() => [])
  const since = s.fetchingSince
  t.ok(since !== undefined && since >= before && since <= Date.now(), 'the fetch is under way since it began')
  answer?.()
  await pending
  t.equal(s.fetchingSince, undefined, 'settled (here with an error): no longer under way')
})

t.test('fetched keys and values are copied out of the response into blocks of at most 64 KiB', async t => {
  const response = Buffer.alloc(300 * 1100)
  for (let i = 0; i < response.length; i++) response[i] = (i * 31) & 255
  const messages = Array.from({ length: 300 }, (_, i) => ({
    offset: String(i),
    timestamp: '5',
    headers: {},
    key: i % 2 === 0 ? null : response.subarray(i * 1100, i * 1100 + 8),
    value: response.subarray(i * 1100 + 20, i * 1100 + 1044)
  }))
  messages.push({ offset: '300', timestamp: '5', headers: {}, key: null, value: Buffer.alloc(100_000, 7) })
  const records = toSessionRecords('ns.t', 3, messages as never)
  t.equal(records.length, 301)
  t.ok(records.every((r, i) => r.value?.equals(messages[i]?.value as Buffer) && (r.key === null) === (messages[i]?.key === null) && (r.key === null || r.key.equals(messages[i]?.key as Buffer))), 'the same bytes')
  t.ok(records.every(r => r.value?.buffer !== response.buffer), 'copies, not slices of the response')
  const blocks = new Set(records.map(r => r.value?.buffer))
  t.ok(blocks.size >= 5, `${blocks.size} blocks`)
  t.ok([...blocks].every(b => (b?.byteLength ?? 0) <= 64 * 1024 || b === records[300]?.value?.buffer), 'each at most 64 KiB but the one of an oversized record')
  t.equal(records[300]?.size, 100_000)
  t.same([records[1]?.offset, records[1]?.timestamp, records[1]?.partition, records[1]?.size], [1, 5, 3, 1032])
})
