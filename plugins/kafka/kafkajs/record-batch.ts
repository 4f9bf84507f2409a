/**
 * Kafka record batches (magic 2) and Produce request bodies (v3 to v7, one layout), written straight from the
 * engine's records into one buffer each. kafkajs builds a Record object per message (copying every message
 * object), an Encoder per record, and copies each record's bytes three more times on the way to its request;
 * this writes each record's bytes once, into its partition's records section, and the request body once.
 * The bytes are those kafkajs 2.2.4 writes for the same messages (the differential test compares them):
 * partition leader epoch 0, timestamps relative to the batch's smallest one, offsets 0…n−1. patches.ts
 * puts the request side in place of kafkajs' own. Plain module.
 */
import { crc32c } from './crc32c.js'
import type { KafkaHeader } from '../driver.js'

/** One record as the engine sends it. */
export interface BatchRecord {
  key: Buffer | null
  value: Buffer | null
  headers: KafkaHeader[]
  /** CreateTime, ms since the epoch. */
  timestamp: number
}

/** A partition's records, encoded (the records section of its batch, uncompressed). */
export interface EncodedRecords {
  count: number
  firstTimestamp: number
  maxTimestamp: number
  bytes: Buffer
}

/**
 * The key under which a kafkajs message carries a whole partition's encoded records: the engine hands kafkajs
 * one such message per partition, and the patched produce request writes it as the partition's batch.
 */
export const ENCODED_RECORDS = Symbol.for('diaspora-service.producer.encodedRecords')

/** A kafkajs message standing for a partition's encoded records. */
export interface CarrierMessage {
  partition: number
  key: null
  value: Buffer
  [ENCODED_RECORDS]: EncodedRecords
}

export function carrier (partition: number, records: EncodedRecords): CarrierMessage {
  return { partition, key: null, value: records.bytes, [ENCODED_RECORDS]: records }
}

export function encodedRecordsOf (message: unknown): EncodedRecords | undefined {
  if (message === null || typeof message !== 'object') return undefined
  return (message as Partial<CarrierMessage>)[ENCODED_RECORDS]
}

// Zigzag varints: Kafka's record fields are signed; a length n ≥ 0 is 2n, a null (−1) is 1.
const NULL_LENGTH = 1

/** Bytes of the unsigned varint `v` (0 ≤ v < 2^53). */
function uvarintSize (v: number): number {
  if (v < 0x80) return 1
  if (v < 0x4000) return 2
  if (v < 0x200000) return 3
  if (v < 0x10000000) return 4
  let n = 4
  v = Math.floor(v / 0x10000000)
  while (v >= 0x80) { v = Math.floor(v / 0x80); n++ }
  return n + 1
}

function writeUvarint (buf: Buffer, off: number, v: number): number {
  if (v >= 0x80000000) {
    // Beyond 31 bits (a timestamp delta of years): plain arithmetic, exact below 2^53.
    while (v >= 0x80) { buf[off++] = (v % 0x80) | 0x80; v = Math.floor(v / 0x80) }
    buf[off++] = v
    return off
  }
  while (v > 0x7f) { buf[off++] = (v & 0x7f) | 0x80; v >>>= 7 }
  buf[off++] = v
  return off
}

const lengthField = (b: Buffer | null): number => b === null ? NULL_LENGTH : b.length * 2

/**
 * The records of one partition, in order, as one records section. Sizes first (kept per record), then one
 * buffer, written once.
 */
export function encodeRecords (records: readonly BatchRecord[]): EncodedRecords {
  const n = records.length
  let first = Infinity
  let max = -Infinity
  for (let i = 0; i < n; i++) {
    const ts = (records[i] as BatchRecord).timestamp
    if (ts < first) first = ts
    if (ts > max) max = ts
  }
  const bodies = new Array<number>(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    const r = records[i] as BatchRecord
    const key = r.key
    const value = r.value
    let body = 1 + uvarintSize((r.timestamp - first) * 2) + uvarintSize(i * 2) +
      uvarintSize(lengthField(key)) + (key === null ? 0 : key.length) +
      uvarintSize(lengthField(value)) + (value === null ? 0 : value.length) +
      uvarintSize(r.headers.length * 2)
    for (const h of r.headers) {
      const nameBytes = Buffer.byteLength(h.name, 'utf8')
      body += uvarintSize(nameBytes * 2) + nameBytes +
        uvarintSize(lengthField(h.value)) + (h.value === null ? 0 : h.value.length)
    }
    bodies[i] = body
    total += uvarintSize(body * 2) + body
  }
  const buf = Buffer.allocUnsafe(total)
  let off = 0
  for (let i = 0; i < n; i++) {
    const r = records[i] as BatchRecord
    off = writeUvarint(buf, off, (bodies[i] as number) * 2)
    buf[off++] = 0 // attributes
    off = writeUvarint(buf, off, (r.timestamp - first) * 2)
    off = writeUvarint(buf, off, i * 2)
    off = writeBytes(buf, off, r.key)
    off = writeBytes(buf, off, r.value)
    off = writeUvarint(buf, off, r.headers.length * 2)
    for (const h of r.headers) {
      const nameBytes = Buffer.byteLength(h.name, 'utf8')
      off = writeUvarint(buf, off, nameBytes * 2)
      off += buf.write(h.name, off, nameBytes, 'utf8')
      off = writeBytes(buf, off, h.value)
    }
  }
  if (off !== total) throw new Error(`record batch encoder: wrote ${off} bytes of ${total}`)
  return { count: n, firstTimestamp: n === 0 ? 0 : first, maxTimestamp: n === 0 ? 0 : max, bytes: buf }
}

function writeBytes (buf: Buffer, off: number, b: Buffer | null): number {
  if (b === null) { buf[off++] = NULL_LENGTH; return off }
  off = writeUvarint(buf, off, b.length * 2)
  return off + b.copy(buf, off)
}

/** What a Produce request (v3–v7) says, with every partition's records encoded. */
export interface ProduceBody {
  transactionalId: string | null
  acks: number
  timeout: number
  /** kafkajs' compression type (0 none; the codec's 3 low bits go into the batch attributes). */
  compression: number
  producerId: bigint
  producerEpoch: number
  topics: Array<{
    topic: string
    partitions: Array<{ partition: number, firstSequence: number, records: EncodedRecords }>
  }>
}

const MAGIC = 2
const TRANSACTIONAL = 0x10
const CODEC_MASK = 0x07
/** Record batch bytes before the records: base offset … record count. */
const BATCH_HEADER = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4
/** Where the CRC-covered part (attributes …) starts, from the batch's start. */
const CRC_FROM = 8 + 4 + 4 + 1 + 4

/**
 * The request body, in one buffer: each partition's batch with its CRC-32C. `compress` turns a records section
 * into the codec's bytes (only called when `compression` is not 0).
 */
export async function encodeProduceBody (
  body: ProduceBody,
  compress?: (records: Buffer) => Promise<Buffer>
): Promise<Buffer> {
  const sections: Buffer[][] = []
  const tx = body.transactionalId
  let size = 2 + (tx === null ? 0 : Buffer.byteLength(tx, 'utf8')) + 2 + 4 + 4
  for (const t of body.topics) {
    const list: Buffer[] = []
    size += 2 + Buffer.byteLength(t.topic, 'utf8') + 4
    for (const p of t.partitions) {
      let records = p.records.bytes
      if (body.compression !== 0) {
        if (!compress) throw new Error('record batch encoder: no codec for a compressed batch')
        records = await compress(records)
      }
      list.push(records)
      size += 4 + 4 + BATCH_HEADER + records.length
    }
    sections.push(list)
  }
  const buf = Buffer.allocUnsafe(size)
  let off = 0
  if (tx === null) {
    off = buf.writeInt16BE(-1, off)
  } else {
    off = buf.writeInt16BE(Buffer.byteLength(tx, 'utf8'), off)
    off += buf.write(tx, off, 'utf8')
  }
  off = buf.writeInt16BE(body.acks, off)
  off = buf.writeInt32BE(body.timeout, off)
  off = buf.writeInt32BE(body.topics.length, off)
  const attributes = (body.compression & CODEC_MASK) | (tx === null ? 0 : TRANSACTIONAL)
  body.topics.forEach((t, ti) => {
    off = buf.writeInt16BE(Buffer.byteLength(t.topic, 'utf8'), off)
    off += buf.write(t.topic, off, 'utf8')
    off = buf.writeInt32BE(t.partitions.length, off)
    t.partitions.forEach((p, pi) => {
      const records = (sections[ti] as Buffer[])[pi] as Buffer
      const r = p.records
      off = buf.writeInt32BE(p.partition, off)
      off = buf.writeInt32BE(BATCH_HEADER + records.length, off)
      const start = off
      off = buf.writeBigInt64BE(0n, off) // base offset
      off = buf.writeInt32BE(BATCH_HEADER - 12 + records.length, off) // batch length: what follows it
      off = buf.writeInt32BE(0, off) // partition leader epoch
      off = buf.writeInt8(MAGIC, off)
      const crcAt = off
      off += 4
      off = buf.writeInt16BE(attributes, off)
      off = buf.writeInt32BE(r.count - 1, off) // last offset delta
      off = buf.writeBigInt64BE(BigInt(r.firstTimestamp), off)
      off = buf.writeBigInt64BE(BigInt(r.maxTimestamp), off)
      off = buf.writeBigInt64BE(body.producerId, off)
      off = buf.writeInt16BE(body.producerEpoch, off)
      off = buf.writeInt32BE(p.firstSequence, off)
      off = buf.writeInt32BE(r.count, off)
      off += records.copy(buf, off)
      buf.writeUInt32BE(crc32c(buf.subarray(start + CRC_FROM, off)), crcAt)
    })
  })
  if (off !== size) throw new Error(`produce request encoder: wrote ${off} bytes of ${size}`)
  return buf
}
