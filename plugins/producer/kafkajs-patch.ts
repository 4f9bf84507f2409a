/**
 * One fix to kafkajs 2.2.4's record encoder (src/protocol/recordBatch/record/v0): it measures every header
 * value with Buffer.byteLength before checking for null, so a header with a null value (Confluent's
 * `{"name": "h", "value": null}`) throws. The replacement below encodes the same bytes, allows null values,
 * and also takes the headers as an ordered list of `{key, value}` so that interleaved repeated names keep
 * their order (kafkajs' object form cannot say `a, b, a`). Object headers still work as before, for every
 * other kafkajs producer in the process.
 *
 * The produce request modules (v3 to v7) capture the record encoder when they load, so they are dropped
 * from require's cache after the swap and load again, with the fixed encoder, at the next produce. Plain
 * module; process-wide and idempotent.
 */
import { createRequire } from 'node:module'
import { crc32c } from './crc32c.js'
import { carrier, encodedRecordsOf, encodeProduceBody, encodeRecords, type BatchRecord, type ProduceBody } from './record-batch.js'

const require = createRequire(import.meta.url)

interface EncoderLike { buf: Buffer, writeVarInt (n: number): EncoderLike, writeInt8 (n: number): EncoderLike, writeVarLong (n: unknown): EncoderLike, writeVarIntBytes (b: unknown): EncoderLike, writeVarIntArray (a: unknown[]): EncoderLike }
interface EncoderClass {
  new (initialSize?: number): EncoderLike
  sizeOfVarInt (n: number): number
  sizeOfVarLong (n: unknown): number
  sizeOfVarIntBytes (b: unknown): number
}

export interface OrderedHeader { key: string, value: Buffer | null }
type HeaderInput = OrderedHeader[] | Record<string, Buffer | string | null | Array<Buffer | string | null>>

/** The produce request modules (v3 to v7), which capture the record batch encoders when they load. */
const PRODUCE_REQUESTS = [3, 4, 5, 6, 7].map(v => `kafkajs/src/protocol/requests/produce/v${v}/request.js`)

/**
 * Replaces the exports of kafkajs' module `id` with `make()`'s result, and drops `dependents` from require's
 * cache so that they load again with it at their next use. True when done; false when kafkajs' layout does
 * not match (the caller keeps kafkajs' own module).
 */
function swapModule (id: string, make: () => unknown, dependents: string[]): boolean {
  try {
    const resolved = require.resolve(id)
    require(resolved)
    const mod = require.cache[resolved]
    if (!mod) return false
    mod.exports = make()
    for (const dependent of dependents) delete require.cache[require.resolve(dependent)]
    return true
  } catch {
    return false
  }
}

let patched: boolean | undefined

export function patchKafkajsRecordHeaders (): boolean {
  patched ??= swapModule('kafkajs/src/protocol/recordBatch/record/v0/index.js', () => {
    const Encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass
    const Header = require('kafkajs/src/protocol/recordBatch/header/v0/index.js') as (h: { key: string, value: unknown }) => unknown
    const listOf = (headers: HeaderInput): Array<{ key: string, value: unknown }> => Array.isArray(headers)
      ? headers
      : Object.keys(headers).flatMap(key => {
        const v = headers[key]
        return Array.isArray(v) ? v.map(value => ({ key, value })) : [{ key, value: v }]
      })
    return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: { offsetDelta?: number, timestampDelta?: unknown, key: unknown, value: unknown, headers?: HeaderInput }) => {
      const list = listOf(headers)
      let headerSize = Encoder.sizeOfVarInt(list.length)
      for (const h of list) {
        const keySize = Buffer.byteLength(h.key)
        headerSize += Encoder.sizeOfVarInt(keySize) + keySize
        headerSize += h.value === null || h.value === undefined
          ? Encoder.sizeOfVarInt(-1)
          : Encoder.sizeOfVarInt(Buffer.byteLength(h.value as Buffer)) + Buffer.byteLength(h.value as Buffer)
      }
      const sizeOfBody = 1 + Encoder.sizeOfVarLong(timestampDelta) + Encoder.sizeOfVarInt(offsetDelta) +
        Encoder.sizeOfVarIntBytes(key) + Encoder.sizeOfVarIntBytes(value) + headerSize
      // The record's exact size, from the pool and not zero-filled, where kafkajs' Encoder starts at 512 zeroed
      // bytes and doubles (another zeroed buffer and a copy for a 1 KiB value). A wrong size costs a regrowth.
      const encoder = new Encoder(1)
      encoder.buf = Buffer.allocUnsafe(Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody)
      return encoder
        .writeVarInt(sizeOfBody)
        .writeInt8(0)
        .writeVarLong(timestampDelta)
        .writeVarInt(offsetDelta)
        .writeVarIntBytes(key)
        .writeVarIntBytes(value)
        .writeVarIntArray(list.map(Header))
    }
  }, PRODUCE_REQUESTS)
  return patched
}

let crcPatched: boolean | undefined

/**
 * A second swap, of kafkajs' CRC-32C (a byte at a time) for crc32c.ts (eight bytes at a time, the same
 * values): the record batch encoder captures it when it loads, so it and the produce request modules are
 * dropped from require's cache to load again with it. Process-wide and idempotent.
 */
export function patchKafkajsCrc32C (): boolean {
  crcPatched ??= swapModule('kafkajs/src/protocol/recordBatch/crc32C/index.js', () => (buffer: Buffer): number => crc32c(buffer),
    ['kafkajs/src/protocol/recordBatch/v0/index.js', ...PRODUCE_REQUESTS])
  return crcPatched
}

interface ProduceRequestArgs {
  acks: number
  timeout: number
  transactionalId?: string | null
  producerId?: unknown
  producerEpoch?: number
  compression?: number
  topicData: Array<{ topic: string, partitions: Array<{ partition: number, firstSequence?: number, messages: unknown[] }> }>
}
interface ProduceRequest { apiKey: number, apiVersion: number, encode: () => Promise<EncoderLike> }
type ProduceRequestModule = (args: ProduceRequestArgs) => ProduceRequest
interface LongLike { toString (): string }
interface LongClass { fromValue (v: unknown): LongLike }
interface Codec { compress (encoder: { buffer: Buffer }): Promise<Buffer> }

/** The body of `args` when every partition is one carrier of encoded records (record-batch.ts), else undefined. */
function encodedBody (args: ProduceRequestArgs, Long: LongClass): ProduceBody | undefined {
  const topics: ProduceBody['topics'] = []
  for (const t of args.topicData) {
    const partitions: ProduceBody['topics'][number]['partitions'] = []
    for (const p of t.partitions) {
      const records = p.messages.length === 1 ? encodedRecordsOf(p.messages[0]) : undefined
      if (!records) return undefined
      partitions.push({ partition: p.partition, firstSequence: p.firstSequence ?? 0, records })
    }
    topics.push({ topic: t.topic, partitions })
  }
  return {
    transactionalId: args.transactionalId ?? null,
    acks: args.acks,
    timeout: args.timeout,
    compression: args.compression ?? 0,
    producerId: BigInt(Long.fromValue(args.producerId ?? -1).toString()),
    producerEpoch: args.producerEpoch ?? 0,
    topics
  }
}

/** A check message set: null key, null value, empty value, headers (a repeated name, a null value), spread timestamps. */
function sampleRecords (): BatchRecord[] {
  return [
    { key: Buffer.from('k1'), value: Buffer.from('v1'), headers: [], timestamp: 1_700_000_000_123 },
    { key: null, value: Buffer.alloc(300, 7), headers: [{ name: 'a', value: Buffer.from('x') }, { name: 'b', value: null }, { name: 'a', value: Buffer.alloc(0) }], timestamp: 1_700_000_000_100 },
    { key: Buffer.from('k3'), value: null, headers: [], timestamp: 1_700_000_900_000 },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [{ name: 'é', value: Buffer.from('y') }], timestamp: 1_700_000_000_101 }
  ]
}

function makeReplacement (original: ProduceRequestModule): ProduceRequestModule {
  const Encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass
  const Long = require('kafkajs/src/utils/long.js') as LongClass
  const { lookupCodec } = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodec: (type: number) => Codec | null }
  if (typeof original !== 'function' || typeof Encoder !== 'function' || typeof Long.fromValue !== 'function' || typeof lookupCodec !== 'function') {
    throw new Error('kafkajs layout changed')
  }
  const asEncoder = (buf: Buffer): EncoderLike => {
    const e = new Encoder(1) as EncoderLike & { offset: number }
    e.buf = buf
    e.offset = buf.length
    return e
  }
  return (args) => {
    const request = original(args)
    const body = encodedBody(args, Long)
    if (!body) return request
    const codec = body.compression === 0 ? null : lookupCodec(body.compression)
    const compress = codec ? async (records: Buffer): Promise<Buffer> => codec.compress({ buffer: records }) : undefined
    return { ...request, encode: async () => asEncoder(await encodeProduceBody(body, compress)) }
  }
}

/** Do kafkajs' request and the replacement write the same bytes for the sample (plain and gzip)? */
async function sameBytes (original: ProduceRequestModule, replacement: ProduceRequestModule): Promise<boolean> {
  const records = sampleRecords()
  const encoded = encodeRecords(records)
  for (const compression of [0, 1]) {
    const common = { acks: -1, timeout: 30000, transactionalId: null, producerEpoch: 0, compression }
    const theirs = await original({
      ...common,
      topicData: [{ topic: 't', partitions: [{ partition: 3, firstSequence: 0, messages: records.map(r => ({ key: r.key, value: r.value, timestamp: String(r.timestamp), headers: r.headers.map(h => ({ key: h.name, value: h.value })) })) }] }]
    }).encode()
    const ours = await replacement({ ...common, topicData: [{ topic: 't', partitions: [{ partition: 3, firstSequence: 0, messages: [carrier(3, encoded)] }] }] }).encode()
    if (!theirs.buf.subarray(0, (theirs as EncoderLike & { offset: number }).offset).equals(ours.buf)) return false
  }
  return true
}

/** A Produce request module (v0–v2) that throws for a request carrying encoded records. */
function refuseCarriers (original: ProduceRequestModule): ProduceRequestModule {
  if (typeof original !== 'function') throw new Error('kafkajs layout changed')
  return (args) => {
    if (args.topicData.some(t => t.partitions.some(p => p.messages.some(m => encodedRecordsOf(m) !== undefined)))) {
      throw new Error('the Kafka broker only speaks Produce v0–v2 (Kafka before 0.11), which cannot carry record batches; nothing was sent')
    }
    return original(args)
  }
}

let producePatched: Promise<boolean> | undefined

/**
 * A third swap, of kafkajs' Produce request (v3, which v4 to v7 extend): a request whose partitions each
 * carry one message of encoded records (record-batch.ts `carrier`) is written by `encodeProduceBody` in one
 * buffer; any other request is kafkajs' own. Needs the record encoder and CRC-32C patches (applied first:
 * they reload the produce modules). Before swapping, both write a sample request and the bytes must be the
 * same; false (kafkajs' own request kept, the engine builds kafkajs messages) when kafkajs' layout or bytes
 * are not the expected ones. Process-wide and idempotent.
 */
export async function patchKafkajsProduceRequest (): Promise<boolean> {
  producePatched ??= (async () => {
    if (!patchKafkajsRecordHeaders() || !patchKafkajsCrc32C()) return false
    const v3 = 'kafkajs/src/protocol/requests/produce/v3/request.js'
    let replacement: ProduceRequestModule
    try {
      const original = require(v3) as ProduceRequestModule
      replacement = makeReplacement(original)
      if (!await sameBytes(original, replacement)) return false
    } catch {
      return false
    }
    // Produce v0–v2 (brokers before Kafka 0.11) write message sets, which cannot hold a record batch: a carrier
    // there would be written as one message holding the batch's bytes. They refuse carriers instead (before
    // anything is written, so the engine answers 503), and the encoder is used only once both guards are in.
    const guards = [0, 2].map(v => `kafkajs/src/protocol/requests/produce/v${v}/request.js`)
    for (const id of guards) {
      if (!swapModule(id, () => refuseCarriers(require(id) as ProduceRequestModule), ['kafkajs/src/protocol/requests/produce/v1/request.js'])) return false
    }
    return swapModule(v3, () => replacement, PRODUCE_REQUESTS.filter(id => id !== v3))
  })()
  return producePatched
}
