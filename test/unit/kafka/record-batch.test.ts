/**
 * The record batch and Produce request encoder (record-batch.ts) against kafkajs 2.2.4's own: the same
 * messages through kafkajs' Produce request (v3, with the record encoder and CRC-32C of kafkajs/patches.ts, which
 * write kafkajs' bytes) and through the patched request with carriers give the same bytes, plain and gzip,
 * over many topics and partitions; and kafkajs' record batch decoder reads back what was encoded.
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { patchKafkajsCrc32C, patchKafkajsProduceRequest, patchKafkajsRecordHeaders } from '../../../plugins/kafka/kafkajs/patches.js'
import { carrier, encodeRecords, type BatchRecord } from '../../../plugins/kafka/kafkajs/record-batch.js'
import { crc32c } from '../../../plugins/kafka/kafkajs/crc32c.js'

const require = createRequire(import.meta.url)
const V3 = 'kafkajs/src/protocol/requests/produce/v3/request.js'

interface Req { encode: () => Promise<{ buf: Buffer, offset: number }> }
type RequestModule = (args: Record<string, unknown>) => Req

t.ok(patchKafkajsRecordHeaders() && patchKafkajsCrc32C(), 'record encoder and CRC-32C patched')
// kafkajs' own Produce request, loaded after those two patches and before the request patch.
const kafkajsRequest = require(V3) as RequestModule
t.ok(await patchKafkajsProduceRequest(), 'produce request patched (its own start-up check passed)')
const patchedRequest = require(V3) as RequestModule
t.not(patchedRequest, kafkajsRequest, 'the request module is swapped')

const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{ records: Array<{ key: Buffer | null, value: Buffer | null, timestamp: string, offset: string, headers: Record<string, Buffer | Buffer[] | null> }>, firstTimestamp: string, maxTimestamp: string, lastOffsetDelta: number }>

/** Deterministic pseudo-random numbers. */
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

function bytes (r: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256)
  return b
}

function randomRecord (r: () => number, i: number): BatchRecord {
  const pick = r()
  const key = pick < 0.2 ? null : pick < 0.3 ? Buffer.alloc(0) : bytes(r, 1 + Math.floor(r() * 40))
  const sizes = [0, 1, 63, 64, 127, 128, 1024, 8191, 8192, 70_000]
  const value = key !== null && r() < 0.15 ? null : bytes(r, sizes[Math.floor(r() * sizes.length)] as number)
  const headers: BatchRecord['headers'] = []
  const nh = r() < 0.5 ? 0 : Math.floor(r() * 5)
  for (let h = 0; h < nh; h++) {
    const names = ['a', 'b', 'trace-id', 'é-ü', 'x'.repeat(70)]
    headers.push({
      name: names[Math.floor(r() * names.length)] as string, value: r() < 0.2 ? null : bytes(r, Math.floor(r() * 200))
    })
  }
  // Timestamps out of order, some far apart (years: deltas beyond 31 bits).
  const spread = r() < 0.1 ? Math.floor(r() * 5e11) : Math.floor(r() * 5000)
  return { key, value, headers, timestamp: 1_600_000_000_000 + spread + i }
}

const kafkajsMessage = (m: BatchRecord): Record<string, unknown> => ({
  key: m.key,
  value: m.value,
  timestamp: String(m.timestamp),
  headers: m.headers.map(h => ({ key: h.name, value: h.value }))
})

async function both (
  topics: Array<{ topic: string, partitions: Array<{ partition: number, records: BatchRecord[] }> }>,
  compression: number
): Promise<[Buffer, Buffer]> {
  const common = { acks: -1, timeout: 30000, transactionalId: null, producerEpoch: 0, compression }
  const theirs = await kafkajsRequest({
    ...common,
    topicData: topics.map(t => ({
      topic: t.topic,
      partitions: t.partitions.map(p => ({
        partition: p.partition, firstSequence: 0, messages: p.records.map(kafkajsMessage)
      }))
    }))
  }).encode()
  const ours = await patchedRequest({
    ...common,
    topicData: topics.map(t => ({
      topic: t.topic,
      partitions: t.partitions.map(p => ({
        partition: p.partition, firstSequence: 0, messages: [carrier(p.partition, encodeRecords(p.records))]
      }))
    }))
  }).encode()
  return [theirs.buf.subarray(0, theirs.offset), ours.buf.subarray(0, ours.offset)]
}

t.test('the same bytes as kafkajs: random records over many topics and partitions, plain and gzip', async t => {
  const r = rng(12)
  for (let round = 0; round < 12; round++) {
    const topics = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, ti) => ({
      topic: `topic-${round}-${ti}-ünï`,
      partitions: Array.from({ length: 1 + Math.floor(r() * 12) }, (_, p) => ({
        partition: p * 3,
        records: Array.from(
          { length: 1 + Math.floor(r() * (round % 4 === 0 ? 150 : 20)) }, (_, i) => randomRecord(r, i)
        )
      }))
    }))
    for (const compression of [0, 1]) {
      const [theirs, ours] = await both(topics, compression)
      t.ok(ours.equals(theirs), `round ${round}, ${compression === 0 ? 'plain' : 'gzip'}: ${ours.length} bytes, the same as kafkajs'`)
    }
  }
})

t.test('edge records: null key, null value, empty key and value, null and repeated headers, one huge record', async t => {
  const records: BatchRecord[] = [
    { key: null, value: Buffer.from('v'), headers: [], timestamp: 1_700_000_000_000 },
    { key: Buffer.from('k'), value: null, headers: [], timestamp: 1_700_000_000_000 },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [], timestamp: 1_700_000_000_001 },
    { key: null, value: Buffer.from('h'), headers: [{ name: 'a', value: Buffer.from('1') }, { name: 'b', value: null }, { name: 'a', value: Buffer.from('2') }, { name: '', value: Buffer.alloc(0) }], timestamp: 1_699_999_999_999 },
    { key: null, value: Buffer.alloc(1_000_000, 0x61), headers: [], timestamp: 0 }
  ]
  const [theirs, ours] = await both([{ topic: 't', partitions: [{ partition: 0, records }] }], 0)
  t.ok(ours.equals(theirs), 'the same bytes as kafkajs')
})

t.test('kafkajs\' record batch decoder reads back what was encoded, with a valid CRC-32C', async t => {
  const r = rng(7)
  const records = Array.from({ length: 200 }, (_, i) => randomRecord(r, i))
  const [, body] = await both([{ topic: 'decoded', partitions: [{ partition: 5, records }] }], 0)
  // transactional id (null) 2, acks 2, timeout 4, topics 4, name 2 + 7, partitions 4, partition 4, record set size 4.
  let at = 2 + 2 + 4 + 4 + 2 + 'decoded'.length + 4
  t.equal(body.readInt32BE(at), 5, 'partition id')
  const size = body.readInt32BE(at + 4)
  at += 8
  const batch = body.subarray(at, at + size)
  t.equal(at + size, body.length, 'one batch, to the end of the request')
  t.equal(batch.readUInt32BE(17), crc32c(batch.subarray(21)), 'the CRC-32C covers attributes to the end')
  const decoded = await decodeBatch(new Decoder(batch))
  t.equal(decoded.records.length, records.length, 'every record')
  t.equal(decoded.lastOffsetDelta, records.length - 1, 'last offset delta')
  t.equal(decoded.firstTimestamp, String(Math.min(...records.map(x => x.timestamp))), 'first timestamp: the smallest')
  t.equal(decoded.maxTimestamp, String(Math.max(...records.map(x => x.timestamp))), 'max timestamp')
  decoded.records.forEach((got, i) => {
    const want = records[i] as BatchRecord
    const headers: Record<string, Buffer | Buffer[] | null> = {}
    for (const h of want.headers) {
      const prev = headers[h.name]
      const v = h.value as Buffer
      headers[h.name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev as Buffer, v]
    }
    const same = got.offset === String(i) && got.timestamp === String(want.timestamp) &&
      (got.key === null ? want.key === null : want.key !== null && got.key.equals(want.key)) &&
      (got.value === null ? want.value === null : want.value !== null && got.value.equals(want.value))
    if (!same) t.fail(`record ${i} differs`)
    t.same(got.headers, headers, `record ${i}: headers`)
  })
})

t.test('Produce v0–v2 (Kafka before 0.11) refuse carriers before writing anything; kafkajs messages still go', async t => {
  const records: BatchRecord[] = [{ key: null, value: Buffer.from('v'), headers: [], timestamp: 1_700_000_000_000 }]
  for (const v of [0, 1, 2]) {
    const request = require(`kafkajs/src/protocol/requests/produce/v${v}/request.js`) as RequestModule
    const common = { acks: -1, timeout: 30000, compression: 0 }
    t.throws(() => request({ ...common, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [carrier(0, encodeRecords(records))] }] }] }),
      /cannot carry record batches/, `v${v}: a carrier is refused`)
    const plain = await request({ ...common, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: null, value: Buffer.from('v'), timestamp: '1700000000000' }] }] }] }).encode()
    t.ok(plain.offset > 0, `v${v}: a kafkajs message is encoded as before`)
  }
})
