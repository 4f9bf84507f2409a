/**
 * The produce engine's own record batch encoder (record-batch.ts, in place through kafkajs/patches.ts) against
 * the real broker: records sent through records:batch and a stream into a 12-partition topic are read back
 * from Kafka (by the fetch decoder, which keeps header order) and compared byte for byte with what was sent,
 * at the partition and offset each was reported at: keys (null, empty), values (null, empty, large), headers
 * (repeated names, null values, order), timestamps.
 */
import t, { type Test as Tap } from 'tap'
import http from 'node:http'
import { Session } from '../../plugins/kafka/kafkajs/session.js'
import type { BufferedRecord } from '../../plugins/kafka/driver.js'
import { patchKafkajsProduceRequest } from '../../plugins/kafka/kafkajs/patches.js'
import { build } from '../helpers/app.js'
import { apiUser } from '../helpers/api.js'
import { testKafka, uniqueName } from '../helpers/broker.js'
import { waitFor } from '../helpers/wait.js'

t.setTimeout(180_000)

const { app, globus, url } = await build(t, { listen: true })
const alice = await apiUser(app, globus)
t.ok(await patchKafkajsProduceRequest(), 'the encoder is in place (else this test would test kafkajs)')

interface Sent { key: Buffer | null, value: Buffer | null, headers: Array<[string, Buffer | null]>, timestamp: number }

/** Record `i` of the set: every kind of key, value and header list, spread over the cases. */
function record (i: number): { body: Record<string, unknown>, sent: Sent } {
  const key = i % 5 === 0 ? null : i % 5 === 1 ? Buffer.alloc(0) : Buffer.from(`key-${i}-ключ`)
  const value = key !== null && i % 7 === 3 ? null : i % 11 === 0 ? Buffer.alloc(0) : i % 50 === 17 ? Buffer.alloc(300_000 + i, i) : Buffer.from(`value ${i} ${'x'.repeat(i * 37 % 3000)}`)
  const headers: Array<[string, Buffer | null]> = i % 3 === 0 ? [['a', Buffer.from(`1-${i}`)], ['b', null], ['a', Buffer.from(`2-${i}`)], ['é', Buffer.alloc(0)]] : []
  const timestamp = 1_700_000_000_000 + (i % 4 === 0 ? i * 86_400_000 : i)
  const body: Record<string, unknown> = {
    timestamp: new Date(timestamp).toISOString(),
    headers: headers.map(([name, v]) => ({ name, value: v === null ? null : v.toString('base64') }))
  }
  if (key !== null) body.key = { type: 'BINARY', data: key.toString('base64') }
  body.value = value === null ? { type: 'BINARY', data: null } : { type: 'BINARY', data: value.toString('base64') }
  return { body, sent: { key, value, headers, timestamp } }
}

/** A chunked POST (streaming mode), a few records per chunk; the status and the whole answer. */
async function chunkedPost (target: URL, token: string, texts: string[]): Promise<{ status: number, body: string }> {
  const req = http.request(target, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } })
  const answer = new Promise<{ status: number, body: string }>((resolve, reject) => {
    req.on('error', reject)
    req.on('response', res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
  })
  for (let i = 0; i < texts.length; i += 7) req.write(texts.slice(i, i + 7).join('\n'))
  req.end()
  return answer
}

function session (t: Tap, topic: string, got: BufferedRecord[]): Session {
  const s = new Session({
    kafka: testKafka(),
    groupId: uniqueName('g'),
    topics: [topic],
    fromBeginning: true,
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 200,
    maxBytes: 8 * 1048576,
    handlers: {
      onJoin () {},
      onRecords: (_topic, _partition, records) => { got.push(...records) },
      onRebalancing () {},
      onCrash () {}
    }
  })
  t.teardown(() => s.stop())
  return s
}

/** Reads `topic` from the beginning and compares every record with `expected` (by partition and offset). */
async function readBack (t: Tap, topic: string, expected: Map<string, Sent>): Promise<void> {
  const got: BufferedRecord[] = []
  await session(t, topic, got).start()
  await waitFor('every record', async () => got.length >= expected.size, 60_000)
  t.equal(got.length, expected.size, 'each record once, nothing else')
  let differing = 0
  for (const r of got) {
    const want = expected.get(`${r.partition}:${r.offset}`)
    const same = want !== undefined &&
      (want.key === null ? r.key === null : r.key !== null && r.key.equals(want.key)) &&
      (want.value === null ? r.value === null : r.value !== null && r.value.equals(want.value)) &&
      r.timestamp === want.timestamp &&
      JSON.stringify((r.headers ?? []).map(([k, v]) => [k, v?.toString('hex') ?? null])) === JSON.stringify(want.headers.map(([k, v]) => [k, v?.toString('hex') ?? null]))
    if (!same) {
      differing++
      if (differing <= 3) t.fail(`partition ${r.partition} offset ${r.offset} differs`, { want, got: { key: r.key, value: r.value?.subarray(0, 40), timestamp: r.timestamp, headers: r.headers } })
    }
  }
  t.equal(differing, 0, 'every record byte for byte: key, value, headers in order, timestamp')
}

t.test('what Kafka holds is what was sent, at the reported partition and offset', async t => {
  const topic = await alice.topic(12)
  const expected = new Map<string, Sent>()
  // A batch request: many records per partition in one flush.
  const batch = Array.from({ length: 240 }, (_, i) => record(i))
  for (let from = 0; from < batch.length; from += 30) {
    const entries = batch.slice(from, from + 30).map((r, j) => ({ id: String(from + j), ...r.body }))
    const res = await alice.req('POST', `${alice.ns}/topics/${topic}/records:batch`, JSON.stringify({ entries }), { 'content-type': 'application/json' })
    t.equal(res.statusCode, 207)
    const { successes, failures } = res.json() as {
      successes: Array<{ id: string, partition_id: number, offset: number }>
      failures: unknown[]
    }
    t.same(failures, [], 'no failure')
    for (const s of successes) expected.set(`${s.partition_id}:${s.offset}`, (batch[Number(s.id)] as { sent: Sent }).sent)
  }
  // A stream (one record per line of results), a few with explicit partitions.
  const streamed = Array.from({ length: 60 }, (_, i) => record(1000 + i))
  const texts = streamed.map((r, i) => JSON.stringify(i % 4 === 0 ? { ...r.body, partition_id: i % 12 } : r.body))
  const answer = await chunkedPost(new URL(`/api/v3/${alice.ns}/topics/${topic}/records`, url), alice.token, texts)
  t.equal(answer.status, 200)
  const lines = answer.body.trim().split('\r\n').map(l => JSON.parse(l) as { error_code: number, partition_id: number, offset: number })
  t.equal(lines.length, streamed.length, 'one result per streamed record')
  lines.forEach((l, i) => {
    t.equal(l.error_code, 200)
    if (i % 4 === 0) t.equal(l.partition_id, i % 12, 'the partition asked for')
    expected.set(`${l.partition_id}:${l.offset}`, (streamed[i] as { sent: Sent }).sent)
  })
  t.equal(expected.size, batch.length + streamed.length, 'every record at a partition and offset of its own')
  t.ok(new Set([...expected.keys()].map(k => k.split(':')[0])).size >= 10, 'spread over the partitions')

  await readBack(t, `${alice.ns}.${topic}`, expected)
})

t.test('compressed batches (PRODUCE_COMPRESSION): what Kafka holds is what was sent', async t => {
  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd']) {
    const other = await build(t, { env: { PRODUCE_COMPRESSION: compression } })
    const bob = await apiUser(other.app, other.globus)
    const topic = await bob.topic(3)
    const records = Array.from({ length: 40 }, (_, i) => record(i))
    const entries = records.map((r, i) => ({ id: String(i), ...r.body }))
    const res = await bob.req('POST', `${bob.ns}/topics/${topic}/records:batch`, JSON.stringify({ entries }), { 'content-type': 'application/json' })
    t.equal(res.statusCode, 207, compression)
    const { successes } = res.json() as { successes: Array<{ id: string, partition_id: number, offset: number }> }
    t.equal(successes.length, records.length, `${compression}: every record written`, { failures: (res.json() as { failures: unknown[] }).failures.slice(0, 1) })
    const expected = new Map(successes.map(s => [`${s.partition_id}:${s.offset}`, (records[Number(s.id)] as { sent: Sent }).sent]))
    await readBack(t, `${bob.ns}.${topic}`, expected)
  }
})
