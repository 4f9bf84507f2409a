import t from 'tap'
import { KafkaError, type PartitionAck, type PartitionRecords, type ProducerClient, type SendOptions }
  from '../../../plugins/kafka/driver.js'
import { ProduceEngine } from '../../../plugins/producer/engine.js'
import { TopicMetadataCache } from '../../../plugins/producer/metadata.js'
import { encodeRecord } from '../../../plugins/producer/records.js'
import { partitionForKey } from '../../../plugins/producer/partitioner.js'

interface Sent { partitions: readonly PartitionRecords[], opts: SendOptions }

/** A ProducerClient stand-in: sends wait until released; offsets count per partition. */
function fakeProducer () {
  const sent: Sent[] = []
  const held: Array<() => void> = []
  const next = new Map<string, number>()
  let hold = false
  let fail: { err: KafkaError, wrote: boolean, times?: number } | undefined
  let writes = 0
  const port: ProducerClient = {
    get requestsWritten () { return writes },
    async connect () {},
    async close () {},
    async send (partitions, opts) {
      sent.push({ partitions, opts })
      if (hold) await new Promise<void>(resolve => held.push(resolve))
      if (fail && (fail.times === undefined || fail.times-- > 0)) {
        if (fail.wrote) writes++
        throw fail.err
      }
      writes++
      return partitions.map(({ topic, partition, records }): PartitionAck => {
        const k = `${topic}-${partition}`
        const base = next.get(k) ?? 0
        next.set(k, base + records.length)
        return { baseOffset: base, logAppendTime: -1 }
      })
    }
  }
  return {
    port,
    sent,
    hold (on: boolean) { hold = on; if (!on) held.splice(0).forEach(r => r()) },
    fail (f: { err: KafkaError, wrote: boolean, times?: number } | undefined) { fail = f }
  }
}

interface EngineOptions { budget?: number, partitions?: number, maxRecord?: number }

function engine (fake: ReturnType<typeof fakeProducer>, opts: EngineOptions = {}) {
  const metadata = new TopicMetadataCache({
    partitions: async (topic) => {
      if (topic === 'missing') throw new KafkaError('unknown', { kind: 'UNKNOWN_TOPIC_OR_PARTITION' })
      return Array.from({ length: opts.partitions ?? 4 }, (_, i) => i)
    }
  }, 60_000)
  return new ProduceEngine({
    client: fake.port,
    metadata,
    maxInFlightBytes: opts.budget ?? 1_000_000,
    maxRecordBytes: opts.maxRecord ?? 1000,
    lingerMs: 0,
    requestTimeoutMs: 1000,
    compression: 'none',
    retryAfterSeconds: 3
  })
}

/** Turns of the event loop until `cond` holds (bounded). */
async function until (cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise(resolve => setImmediate(resolve))
  if (!cond()) throw new Error('condition never held')
}

const rec = (value: string, key?: string) => encodeRecord({ value: { type: 'STRING', data: value }, ...(key === undefined ? {} : { key: { type: 'STRING', data: key } }) })

t.test('concurrent requests share one Kafka request; offsets map back to each record', async t => {
  const fake = fakeProducer()
  const e = engine(fake)
  const p1 = partitionForKey(Buffer.from('k1'), 4)
  // A key of another partition.
  const other = ['k2', 'k3', 'k4', 'k5', 'k6'].find(k => partitionForKey(Buffer.from(k), 4) !== p1) as string
  const results = await Promise.all([
    e.produce('t', 't', [rec('a', 'k1'), rec('b', 'k1'), rec('c', other)]),
    e.produce('t', 't', [rec('d', 'k1')]),
    e.produce('u', 'u', [encodeRecord({ partition_id: 3, value: { type: 'JSON', data: 1 } })])
  ])
  t.equal(fake.sent.length, 1, 'one sendBatch')
  t.equal(fake.sent[0]?.opts.acks, -1)
  const offsetsOf = (r: typeof results[number]) =>
    r.map(o => o.ok ? [o.delivery.partition, o.delivery.offset] : o.error.errorCode)
  t.same(offsetsOf(results[0] ?? []), [[p1, 0], [p1, 1], [partitionForKey(Buffer.from(other), 4), 0]])
  t.same(offsetsOf(results[1] ?? []), [[p1, 2]], 'the second request\'s record follows the first\'s on the same partition')
  t.same(offsetsOf(results[2] ?? []), [[3, 0]])
  t.equal(e.budget.used, 0, 'the budget is given back')
})

t.test('per-record refusals: too large, partition beyond the topic', async t => {
  const fake = fakeProducer()
  const e = engine(fake, { maxRecord: 10 })
  const [big, beyond, ok] = await e.produce('t', 't', [rec('x'.repeat(11)), encodeRecord({ partition_id: 4, value: { type: 'JSON', data: 1 } }), rec('fine')])
  t.match(big, { ok: false, error: { statusCode: 413, errorCode: 41302 } })
  t.match(beyond, { ok: false, error: { statusCode: 404, errorCode: 40402 } })
  t.match(ok, { ok: true })
  await t.rejects(e.produce('missing', 'gone', [rec('x')]), { name: 'ApiError', statusCode: 404, errorCode: 40401, message: /gone/ })
})

t.test('the budget: a request that does not fit is refused whole with 429 and Retry-After, before sending', async t => {
  const fake = fakeProducer()
  const e = engine(fake, { budget: 10 })
  fake.hold(true)
  const first = e.produce('t', 't', [rec('12345678')])
  await until(() => fake.sent.length === 1)
  await t.rejects(e.produce('t', 't', [rec('abc')]), { name: 'ApiError', statusCode: 429, errorCode: 42901, headers: { 'retry-after': '3' } })
  t.equal(fake.sent.length, 1, 'the refused request sent nothing')
  fake.hold(false)
  await first
  t.match(await e.produce('t', 't', [rec('abc')]), [{ ok: true }], 'admitted once the budget is free')
  // Larger than the whole budget: admitted when nothing else is in flight, never refused forever.
  t.match(await e.produce('t', 't', [rec('x'.repeat(50))]), [{ ok: true }])
})

t.test('a failed send: 503 when no produce request left, 50003 otherwise', async t => {
  const fake = fakeProducer()
  const e = engine(fake)
  const refused = new KafkaError('Connection error: connect ECONNREFUSED', { outage: true, retriable: true })
  fake.fail({ err: refused, wrote: false })
  t.match(await e.produce('t', 't', [rec('a'), rec('b')]), [{ ok: false, error: { statusCode: 503, errorCode: 50302 } }, { ok: false, error: { statusCode: 503 } }])
  // The same error after a request left: the broker may have written it.
  fake.fail({ err: refused, wrote: true })
  t.match(await e.produce('t', 't', [rec('a')]), [{ ok: false, error: { statusCode: 500, errorCode: 50003 } }])
  fake.fail(undefined)
  t.match(await e.produce('t', 't', [rec('a')]), [{ ok: true }])
  t.equal(e.budget.used, 0)
  // A failure that wrote nothing (metadata of a new topic not there yet) is resent; one that may have written is not.
  const before = fake.sent.length
  const unknown = new KafkaError('This server does not host this topic-partition',
    { kind: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true })
  fake.fail({ err: unknown, wrote: false, times: 2 })
  t.match(await e.produce('t', 't', [rec('a')]), [{ ok: true }])
  t.equal(fake.sent.length - before, 3, 'two failed attempts, then the one that worked')
  fake.fail({ err: new KafkaError('Request timed out', { retriable: true }), wrote: true, times: 1 })
  t.match(await e.produce('t', 't', [rec('a')]), [{ ok: false, error: { errorCode: 50003 } }])
  t.equal(fake.sent.length - before, 4, 'never resent after a request may have been written')
})

t.test('drain: queued records are sent and answered; new requests get 503 before sending', async t => {
  const fake = fakeProducer()
  const e = engine(fake)
  fake.hold(true)
  const pending = e.produce('t', 't', [rec('a'), rec('b')])
  await until(() => fake.sent.length === 1)
  let drained = false
  const draining = e.drain().then(() => { drained = true })
  await t.rejects(e.produce('t', 't', [rec('late')]), { name: 'ApiError', statusCode: 503, errorCode: 50302 })
  await new Promise(resolve => setImmediate(resolve))
  t.notOk(drained, 'drain waits for the send in flight')
  fake.hold(false)
  await draining
  t.match(await pending, [{ ok: true }, { ok: true }])
  t.equal(fake.sent.length, 1)
})

t.test('a flush holds at most one record batch worth of a partition', async t => {
  const fake = fakeProducer()
  const e = engine(fake, { maxRecord: 100, partitions: 1 })
  const results = await e.produce('t', 't', Array.from({ length: 5 }, (_, i) => rec('x'.repeat(60) + i)))
  t.ok(results.every(r => r.ok))
  t.ok(fake.sent.length >= 3, `split into ${fake.sent.length} Kafka requests`)
  t.same(results.map(r => r.ok ? r.delivery.offset : -1), [0, 1, 2, 3, 4])
})

t.test('an unexpected throw after a send still answers every record once and gives the budget back', async t => {
  const fake = fakeProducer()
  const e = engine(fake)
  let calls = 0
  e.observe({ written () {}, failed () {}, sent () { calls++; throw new Error('observer broke') } })
  let outcomes: Awaited<ReturnType<typeof e.produce>> | undefined
  e.produce('t', 't', [rec('a'), rec('b')]).then(o => { outcomes = o }, () => {})
  await until(() => outcomes !== undefined)
  t.equal(calls, 1)
  t.same(outcomes?.map(o => o.ok ? 'ok' : o.error.errorCode), [50003, 50003], 'sent, but the outcome is unknown to the engine')
  t.equal(e.budget.used, 0, 'the budget is given back')
  await e.drain()
})

t.test('while a send is in flight, records wait for its answer unless they fill a request', async t => {
  const fake = fakeProducer()
  const e = engine(fake, { maxRecord: 100_000 })
  const count = (s: Sent | undefined): number => (s?.partitions ?? []).reduce((n, p) => n + p.records.length, 0)
  fake.hold(true)
  const lone = e.produce('t', 'u', [rec('a')])
  await until(() => fake.sent.length === 1)
  t.equal(count(fake.sent[0]), 1, 'a lone record goes at once')
  const small = [e.produce('t', 'u', [rec('b')]), e.produce('t', 'u', [rec('c'), rec('d')])]
  for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
  t.equal(fake.sent.length, 1, 'a few records wait while a send is in flight')
  fake.hold(false)
  await until(() => fake.sent.length === 2)
  t.equal(count(fake.sent[1]), 3, 'and go together once it is answered')
  const results = await Promise.all([lone, ...small])
  t.same(results.flat().map(o => o.ok), [true, true, true, true])

  fake.hold(true)
  const first = e.produce('t', 'u', [rec('e')])
  await until(() => fake.sent.length === 3)
  const many = e.produce('t', 'u', Array.from({ length: 600 }, (_, i) => rec(`v${i}`)))
  await until(() => fake.sent.length === 4)
  t.equal(count(fake.sent[3]), 600, 'records that fill a request go while a send is in flight')
  fake.hold(false)
  t.equal((await many).filter(o => o.ok).length, 600)
  t.equal((await first).length, 1)
})
