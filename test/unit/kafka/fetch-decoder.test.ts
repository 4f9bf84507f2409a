/**
 * The Fetch v11 decoder against kafkajs' own: responses built byte by byte here (record batches plain and gzip,
 * control batches, log-append time, headers, null and empty keys and values, a batch cut short at the end, errors,
 * several topics and partitions) must decode to what kafkajs' decoder makes of them, record for record. What the
 * decoder leaves to kafkajs (older message formats, aborted transactions, offsets beyond 2^53) must come out as
 * kafkajs' messages, unchanged.
 */
import t, { type Test } from 'tap'
import { createRequire } from 'node:module'
import { FetchDecoder, type FetchResponse } from '../../../plugins/kafka/kafkajs/fetch-decoder.js'
import { FetchedRecord } from '../../../plugins/kafka/driver.js'
import { toSessionRecords } from '../../../plugins/kafka/kafkajs/session.js'
import { kafkajsDecodeHelpers } from '../../../plugins/kafka/kafkajs/patches.js'
import { batch, int16, int32, int64, legacyMessage, record, response, zigzag, type Rec } from '../../helpers/fetch-wire.js'

const require = createRequire(import.meta.url)
const kafkajsV11 = require('kafkajs/src/protocol/requests/fetch/v11/response.js') as { decode (raw: Buffer): Promise<FetchResponse> }
const decoder = new FetchDecoder(kafkajsDecodeHelpers())

// ---- comparing the two decodings ----
interface KafkajsMessage {
  offset: string,
  timestamp: string,
  key: Buffer | null,
  value: Buffer | null,
  headers: Record<string, Buffer | Buffer[] | null>,
  isControlRecord: boolean
}
const hex = (b: Buffer | null | undefined): string | null => b == null ? null : b.toString('hex')

/** kafkajs folds repeated header keys into arrays: compare headers as sorted [key, value] pairs. */
function kafkajsView (m: KafkajsMessage): unknown {
  const headers: Array<[string, string | null]> = []
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    for (const x of Array.isArray(v) ? v : [v]) headers.push([k, hex(x)])
  }
  return {
    offset: Number(m.offset),
    timestamp: Number(m.timestamp),
    key: hex(m.key),
    value: hex(m.value),
    headers: headers.sort(),
    control: m.isControlRecord
  }
}
function ourView (r: FetchedRecord): unknown {
  const headers = (r.headers ?? []).map(([k, v]): [string, string | null] => [k, hex(v)])
  return {
    offset: r.offset,
    timestamp: r.timestamp,
    key: hex(r.key),
    value: hex(r.value),
    headers: headers.sort(),
    control: r.isControlRecord
  }
}
function strip (res: FetchResponse): unknown {
  return res.responses.map(({ topicName, partitions }) => ({
    topicName, partitions: partitions.map(({ messages, ...rest }) => rest)
  }))
}

/** Decodes with both; asserts the same partitions and the same records; returns ours. */
async function same (t: Test, raw: Buffer, expectOurs: boolean): Promise<FetchResponse> {
  const theirs = await kafkajsV11.decode(raw)
  const ours = await decoder.decode(raw)
  t.same(strip(ours), strip(theirs), 'the same topics, partitions and partition fields')
  t.equal(ours.clientSideThrottleTime, theirs.clientSideThrottleTime)
  for (const [ti, topic] of ours.responses.entries()) {
    for (const [pi, p] of topic.partitions.entries()) {
      const their = theirs.responses[ti]?.partitions[pi]?.messages as KafkajsMessage[]
      if (expectOurs && p.messages.length > 0) {
        t.ok(p.messages.every(m => m instanceof FetchedRecord), `${topic.topicName}/${p.partition}: decoded here`)
        t.same(p.messages.map(m => ourView(m as FetchedRecord)), their.map(kafkajsView), `${topic.topicName}/${p.partition}: the same ${their.length} records`)
      } else {
        t.notOk(p.messages.some(m => m instanceof FetchedRecord), `${topic.topicName}/${p.partition}: left to kafkajs`)
        t.same((p.messages as KafkajsMessage[]).map(kafkajsView), their.map(kafkajsView), `${topic.topicName}/${p.partition}: kafkajs' own messages`)
      }
    }
  }
  return ours
}

// A deterministic pseudo-random source (mulberry32), so that a failure can be replayed.
let seed = 12345
function rnd (n: number): number {
  seed = (seed + 0x6d2b79f5) | 0
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
  return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n)
}
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rnd(256)))

function randomRecords (count: number): Rec[] {
  const out: Rec[] = []
  let offDelta = 0
  for (let i = 0; i < count; i++) {
    offDelta += 1 + (rnd(5) === 0 ? rnd(3) : 0) // gaps, as compaction leaves them
    const headers: Array<[string, Buffer | null]> = []
    for (let h = rnd(4); h > 0; h--) headers.push([['a', 'b', 'ü-key', ''][rnd(4)] as string, rnd(4) === 0 ? null : bytes(rnd(20))])
    out.push({
      tsDelta: rnd(3) === 0 ? -rnd(1000) : rnd(100000),
      offDelta: offDelta - 1,
      key: rnd(4) === 0 ? null : bytes(rnd(3) === 0 ? 0 : 1 + rnd(40)),
      value: rnd(10) === 0 ? null : bytes(rnd(5) === 0 ? 0 : rnd(3000)),
      headers
    })
  }
  return out
}

t.test('plain and gzip record batches of several topics and partitions: the same records as kafkajs', async t => {
  for (let round = 0; round < 20; round++) {
    let offset = rnd(1_000_000)
    const set = (): Buffer => {
      const batches: Buffer[] = []
      for (let b = 1 + rnd(4); b > 0; b--) {
        const records = randomRecords(1 + rnd(30))
        batches.push(batch({
          baseOffset: offset, baseTimestamp: 1_700_000_000_000 + rnd(1e9), records, gzip: rnd(3) === 0
        }))
        offset += (records.at(-1)?.offDelta ?? 0) + 1
      }
      return Buffer.concat(batches)
    }
    const raw = response([
      { name: 'ns.alpha', partitions: [{ partition: 0, set: set() }, { partition: 3, set: set() }] },
      { name: 'ns.beta', partitions: [{ partition: 1, set: set() }] }
    ])
    const ours = await same(t, raw, true)
    const first = ours.responses[0]?.partitions[0]?.messages[0] as FetchedRecord
    t.type(first.offset, 'number', 'offsets are numbers')
  }
})

t.test('control batches, log-append time, a batch cut short, an error and an empty set', async t => {
  const recs = randomRecords(5)
  const control = batch({
    baseOffset: 40,
    baseTimestamp: 1_700_000_000_000,
    attributes: 0x20 | 0x10,
    records: [{ tsDelta: 0, offDelta: 0, key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 7]) }]
  })
  const appended = batch({
    baseOffset: 41, baseTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_999_999, attributes: 0x08, records: recs
  })
  const whole = batch({ baseOffset: 60, baseTimestamp: 1_700_000_000_000, records: randomRecords(3) })
  const cut = batch({ baseOffset: 70, baseTimestamp: 1_700_000_000_000, records: randomRecords(4) })
  const raw = response([{
    name: 'ns.t',
    partitions: [
      { partition: 0, set: Buffer.concat([control, appended]) },
      { partition: 1, set: Buffer.concat([whole, cut.subarray(0, cut.length - 7)]) },
      { partition: 2, set: Buffer.concat([whole, cut.subarray(0, 30)]) },
      { partition: 3, error: 1, set: null },
      { partition: 4, set: Buffer.alloc(0) }
    ]
  }])
  const ours = await same(t, raw, true)
  const p0 = ours.responses[0]?.partitions[0]?.messages as FetchedRecord[]
  t.ok(p0[0]?.isControlRecord, 'the control record is marked, for kafkajs to filter')
  t.ok(p0.slice(1).every(r => r.timestamp === 1_700_000_999_999 && !r.isControlRecord), 'log-append time: the batch\'s max timestamp')
  t.equal(ours.responses[0]?.partitions[1]?.messages.length, 3, 'the batch cut short is left out')
  t.equal(ours.responses[0]?.partitions[3]?.errorCode, 1)
})

t.test('what the decoder leaves to kafkajs: older message formats, aborted transactions, offsets beyond 2^53', async t => {
  const legacy = Buffer.concat([legacyMessage(0, Buffer.from('k'), Buffer.from('v0')), legacyMessage(1, null, Buffer.from('v1'))])
  const plain = batch({ baseOffset: 5, baseTimestamp: 1_700_000_000_000, records: randomRecords(4) })
  const huge = batch({ baseOffset: 2n ** 60n, baseTimestamp: 1_700_000_000_000, records: randomRecords(2) })
  const raw = response([{
    name: 'ns.t',
    partitions: [
      { partition: 0, set: legacy },
      { partition: 1, aborted: [[7, 5]], set: plain },
      { partition: 2, set: huge }
    ]
  }])
  const ours = await same(t, raw, false)
  t.equal(ours.responses[0]?.partitions[0]?.messages.length, 2, 'the legacy set decoded by kafkajs')
  t.same(ours.responses[0]?.partitions[1]?.abortedTransactions, [{ producerId: '7', firstOffset: '5' }])
})

t.test('a record that claims more bytes than its batch holds: kafkajs decides, as without the decoder', async t => {
  const good = record({ tsDelta: 0, offDelta: 0, key: null, value: Buffer.from('ok') })
  const bad = Buffer.concat([zigzag(500), Buffer.from([0, 0, 2, 0, 2])]) // says 500 bytes, has 5
  const rest = Buffer.concat([
    int32(0), Buffer.from([2]), int32(0), int16(0), int32(1), int64(0), int64(0), int64(-1), int16(-1), int32(-1),
    int32(2), good, bad
  ])
  const raw = response([{ name: 'ns.t', partitions: [{ partition: 0, set: Buffer.concat([int64(0), int32(rest.length), rest]) }] }])
  const theirs = await kafkajsV11.decode(raw).then(
    r => ({ ok: r.responses[0]?.partitions[0]?.messages.length }), (e: Error) => ({ error: e.name })
  )
  const ours = await decoder.decode(raw).then(
    r => ({ ok: r.responses[0]?.partitions[0]?.messages.length }), (e: Error) => ({ error: e.name })
  )
  t.same(ours, theirs, `the same outcome: ${JSON.stringify(theirs)}`)
})

t.test('left to kafkajs, with the same outcome: a timestamp delta of 8 varint bytes, a null header key, a compressed batch counting more records than it holds', async t => {
  const outcome = async (decode: (raw: Buffer) => Promise<FetchResponse>, raw: Buffer): Promise<unknown> =>
    decode(raw).then(
      r => r.responses[0]?.partitions.map(p => ({
        n: p.messages.length, ours: p.messages.some(m => m instanceof FetchedRecord)
      })),
      (e: Error) => ({ error: e.name })
    )
  const longDelta = batch({ baseOffset: 0, baseTimestamp: 0, records: [{ tsDelta: 2n ** 50n, offDelta: 0, key: null, value: Buffer.from('v') }] })
  const nullHeaderRecord = Buffer.concat([Buffer.from([0, 0, 0]), zigzag(-1), zigzag(1), Buffer.from('v'), zigzag(1), zigzag(-1), zigzag(1), Buffer.from('h')])
  const nullHeader = Buffer.concat([
    int64(0), int32(49 + 1 + nullHeaderRecord.length), int32(0), Buffer.from([2]), int32(0), int16(0), int32(0),
    int64(0), int64(0), int64(-1), int16(-1), int32(-1), int32(1), zigzag(nullHeaderRecord.length), nullHeaderRecord
  ])
  const overCount = batch({ baseOffset: 0, baseTimestamp: 0, gzip: true, records: randomRecords(2) })
  overCount.writeInt32BE(5, 57) // says 5 records, holds 2
  for (const [name, set] of [['8-byte varlong', longDelta], ['null header key', nullHeader], ['count beyond the records', overCount]] as const) {
    const raw = response([{ name: 'ns.t', partitions: [{ partition: 0, set }] }])
    const ours = await outcome(r => decoder.decode(r), raw)
    const theirs = await outcome(r => kafkajsV11.decode(r), raw)
    t.same(ours, theirs, `${name}: the same as kafkajs (${JSON.stringify(theirs)})`)
    t.notOk(JSON.stringify(ours).includes('"ours":true'), `${name}: not decoded here`)
  }
})

t.test('a fetched record: key and value are views of its block made when asked for; size counts key and value', async t => {
  const block = Buffer.from('..key..value..')
  const r = new FetchedRecord('ns.t', 2, 7, 9, block, 2, 5, 7, 12, undefined, false)
  t.equal(r.key?.toString(), 'key')
  t.equal(r.value?.toString(), 'value')
  t.equal(r.key?.buffer, block.buffer, 'a view, not a copy')
  t.equal(r.size, 8)
  const empty = new FetchedRecord('ns.t', 2, 8, 9, block, 0, -1, 3, 3, undefined, false)
  t.equal(empty.key, null)
  t.equal(empty.value?.length, 0, 'an empty value is not a null one')
  t.equal(empty.size, 0)
})

/** The decoder's headers, as the records API renders them (format.ts): names and value bytes, in order. */
const headerView = (h: FetchedRecord['headers']): Array<[string, string | null]> => (h ?? []).map(([k, v]) => [k, hex(v)])

t.test('headers: exactly the wire\'s, in order with repeats interleaved, null and empty values kept, plain and gzip', async t => {
  const specs: Array<Array<[string, Buffer | null]>> = [
    [],
    [['trace', Buffer.from('abc')]],
    [['a', Buffer.from('1')], ['b', null], ['a', Buffer.from('2')], ['2', Buffer.alloc(0)], ['1', Buffer.from([0, 255, 0x80])]],
    [['ключ', bytes(300)], ['', null], ['😀', Buffer.from('v')]]
  ]
  for (const gzip of [false, true]) {
    const records: Rec[] = specs.map((headers, i) => ({ tsDelta: i, offDelta: i, key: null, value: Buffer.from(`v${i}`), headers }))
    const raw = response([{ name: 'ns.h', partitions: [{ partition: 0, set: batch({ baseOffset: 10, baseTimestamp: 1_700_000_000_000, records, gzip }) }] }])
    const ours = await same(t, raw, true)
    const decoded = ours.responses[0]?.partitions[0]?.messages as FetchedRecord[]
    t.same(decoded.map(r => headerView(r.headers)), specs.map(h => h.map(([k, v]) => [k, hex(v)])), `${gzip ? 'gzip' : 'plain'}: the wire's headers, in its order`)
    t.equal(decoded[0]?.headers, undefined, 'no headers: nothing allocated')
  }
})

t.test('headers left to kafkajs (aborted transactions): the same bytes and nulls, each name\'s values in order', async t => {
  const headers: Array<[string, Buffer | null]> = [['x', Buffer.from('1')], ['y', null], ['x', Buffer.from([0xff])], ['z', Buffer.alloc(0)]]
  const set = batch({ baseOffset: 5, baseTimestamp: 1_700_000_000_000, records: [{ tsDelta: 0, offDelta: 0, key: null, value: Buffer.from('v'), headers }] })
  const raw = response([{ name: 'ns.h', partitions: [{ partition: 0, aborted: [[7, 100]], set }] }])
  const ours = await decoder.decode(raw)
  const messages = ours.responses[0]?.partitions[0]?.messages as Parameters<typeof toSessionRecords>[2]
  t.notOk(messages.some(m => m instanceof FetchedRecord), 'decoded by kafkajs')
  const [r] = toSessionRecords('ns.h', 0, messages)
  // kafkajs' object groups a repeated name at its first place: x, x, y, z.
  t.same(headerView(r?.headers), [['x', '31'], ['x', 'ff'], ['y', null], ['z', '']], 'every value\'s bytes, null kept, one name\'s values in order')
})
