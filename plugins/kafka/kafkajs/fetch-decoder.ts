/**
 * Decoding of Fetch v11 responses for the consumer sessions, in place of kafkajs' own (patches.ts swaps it in for
 * its consumers' fetches only). Same output shape as kafkajs' decoder, so kafkajs' fetch loop, Batch and offset
 * bookkeeping work unchanged, except that the messages of a record set in the current format (record batches,
 * magic 2) are FetchedRecords: ready for the instance's buffer, with numeric offsets and timestamps, and key and
 * value as ranges of one block per record batch.
 *
 * Why: kafkajs builds, per record, a Decoder, two Buffer slices, a headers object and BigInt Long arithmetic
 * behind offset and timestamp strings, which the session then parsed back and copied out of the response again.
 * That was about a third of the server's CPU while draining a topic (BENCHMARKS.md, fetch throughput).
 *
 * Anything else (message sets of the older formats, a partition with aborted transactions, an offset or timestamp
 * beyond 2^53, bytes it cannot make sense of) is handed to kafkajs' own decoding of that partition, whose messages
 * the session converts as before: never worse than kafkajs.
 * Plain module: no Fastify, no kafkajs (the session injects kafkajs' codecs and fallback).
 */
import { FetchedRecord } from '../driver.js'

export interface AbortedTransaction { producerId: string, firstOffset: string }

/** One partition of a response, as kafkajs' Fetch v11 decoder has it. */
export interface FetchedPartition {
  partition: number
  errorCode: number
  highWatermark: string
  lastStableOffset: string
  lastStartOffset: string
  abortedTransactions: AbortedTransaction[]
  preferredReadReplica: number
  /** FetchedRecords, or kafkajs' messages where its decoding was used. */
  messages: unknown[]
}

export interface FetchResponse {
  throttleTime: number
  clientSideThrottleTime: number
  errorCode: number
  sessionId: number
  responses: Array<{ topicName: string, partitions: FetchedPartition[] }>
}

export interface Codec { decompress (compressed: Buffer): Promise<Buffer> }

export interface DecodeHelpers {
  /** The codec of a record batch's attributes, null when uncompressed (kafkajs' registry; throws as kafkajs does). */
  codec (attributes: number): Codec | null
  /** kafkajs' decoding of one partition's record set (its int32 size and bytes). */
  kafkajsMessages (recordSet: Buffer): Promise<unknown[]>
}

/** Our decoding does not apply: kafkajs decodes the partition instead. */
class NotOurs extends Error {}

const MAGIC = 2
const HEADER_BYTES = 61 // a record batch's header, from baseOffset to the record count
const ATTR_CODEC = 0x07
const ATTR_LOG_APPEND_TIME = 0x08
const ATTR_CONTROL = 0x20
const TWO_32 = 4294967296

/** A signed 64-bit big-endian integer as a number, when it is one exactly. */
function int64 (b: Buffer, at: number): number {
  const hi = b.readInt32BE(at)
  if (hi > 0x1fffff || hi < -0x200000) throw new NotOurs('beyond 2^53')
  return hi * TWO_32 + b.readUInt32BE(at + 4)
}

/** A cursor over the records of one record batch. */
class Records {
  constructor (readonly buf: Buffer, public pos: number, readonly end: number) {}

  /** Zigzag varint (int32). */
  varint (): number {
    const buf = this.buf
    let b = buf[this.pos++] as number
    let r = b & 0x7f
    let shift = 7
    while (b >= 0x80) {
      if (shift > 28) throw new NotOurs('varint too long')
      b = buf[this.pos++] as number
      r |= (b & 0x7f) << shift
      shift += 7
    }
    return (r >>> 1) ^ -(r & 1)
  }

  /** Zigzag varlong (int64), exact up to 2^53. */
  varlong (): number {
    const buf = this.buf
    let b = buf[this.pos++] as number
    let r = b & 0x7f
    let mul = 128
    while (b >= 0x80) {
      if (mul > 2 ** 42) throw new NotOurs('varlong beyond 2^49') // 7 bytes at most: the zigzag stays exact
      b = buf[this.pos++] as number
      r += (b & 0x7f) * mul
      mul *= 128
    }
    return r % 2 === 0 ? r / 2 : -(r + 1) / 2
  }

  /** Skip `n` bytes (n >= 0) and return where they started; they must lie inside `limit`. */
  skip (n: number, limit: number): number {
    const at = this.pos
    if (n < 0 || at + n > limit) throw new NotOurs('field beyond its record')
    this.pos = at + n
    return at
  }
}

export class FetchDecoder {
  constructor (readonly helpers: DecodeHelpers) {}

  /** A whole Fetch v11 response (what kafkajs' fetch/v11/response.js decode returns). */
  async decode (raw: Buffer): Promise<FetchResponse> {
    let at = 0
    const clientSideThrottleTime = raw.readInt32BE(at)
    const errorCode = raw.readInt16BE(at + 4)
    const sessionId = raw.readInt32BE(at + 6)
    at += 10
    const topics = Math.max(0, raw.readInt32BE(at))
    at += 4
    const responses: FetchResponse['responses'] = []
    for (let t = 0; t < topics; t++) {
      const nameLength = raw.readInt16BE(at) // -1 (null) never comes from a broker: read as ''
      const topicName = raw.toString('utf8', at + 2, at + 2 + Math.max(0, nameLength))
      at += 2 + Math.max(0, nameLength)
      const count = Math.max(0, raw.readInt32BE(at))
      at += 4
      const partitions: FetchedPartition[] = []
      for (let p = 0; p < count; p++) {
        const partition = raw.readInt32BE(at)
        const partitionError = raw.readInt16BE(at + 4)
        const highWatermark = raw.readBigInt64BE(at + 6).toString()
        const lastStableOffset = raw.readBigInt64BE(at + 14).toString()
        const lastStartOffset = raw.readBigInt64BE(at + 22).toString()
        at += 30
        const aborted = raw.readInt32BE(at)
        at += 4
        const abortedTransactions: AbortedTransaction[] = []
        for (let a = 0; a < aborted; a++) {
          abortedTransactions.push({
            producerId: raw.readBigInt64BE(at).toString(),
            firstOffset: raw.readBigInt64BE(at + 8).toString()
          })
          at += 16
        }
        const preferredReadReplica = raw.readInt32BE(at)
        at += 4
        const size = raw.readInt32BE(at)
        const setEnd = at + 4 + Math.max(0, size)
        const messages = await this.#recordSet(raw, at, topicName, partition, abortedTransactions.length > 0)
        at = setEnd
        partitions.push({
          partition,
          errorCode: partitionError,
          highWatermark,
          lastStableOffset,
          lastStartOffset,
          abortedTransactions,
          preferredReadReplica,
          messages
        })
      }
      responses.push({ topicName, partitions })
    }
    return { throttleTime: 0, clientSideThrottleTime, errorCode, sessionId, responses }
  }

  /** The messages of one partition's record set, which starts at `at` with its int32 size. */
  async #recordSet (raw: Buffer, at: number, topic: string, partition: number, aborted: boolean): Promise<unknown[]> {
    const size = raw.readInt32BE(at)
    // As kafkajs: nothing, or a set cut short by the response's end, decodes to no messages.
    if (size <= 0 || at + 4 + size > raw.length) return []
    if (!aborted) {
      try {
        return await this.#batches(raw, at + 4, at + 4 + size, topic, partition)
      } catch {
        // NotOurs, or bytes we could not decode (kafkajs then fails the same way, or copes: either way, its call).
      }
    }
    return this.helpers.kafkajsMessages(raw.subarray(at, at + 4 + size))
  }

  /**
   * Record batches in [start, end); a batch cut short at the end (the broker's max_bytes) is left out, as kafkajs
   * does.
   */
  async #batches (raw: Buffer, start: number, end: number, topic: string, partition: number): Promise<FetchedRecord[]> {
    const out: FetchedRecord[] = []
    let at = start
    while (end - at >= 12) {
      const length = raw.readInt32BE(at + 8)
      if (at + 12 + length > end) break // partial
      if (length < HEADER_BYTES - 12) throw new NotOurs('record batch shorter than its header')
      if (raw[at + 16] !== MAGIC) throw new NotOurs('not a record batch')
      const batchEnd = at + 12 + length
      const baseOffset = int64(raw, at)
      const attributes = raw.readInt16BE(at + 21)
      const baseTimestamp = int64(raw, at + 27)
      const maxTimestamp = int64(raw, at + 35)
      const count = raw.readInt32BE(at + 57)
      const codec = this.helpers.codec(attributes & ATTR_CODEC)
      let records: Records
      if (codec) {
        const inflated = await codec.decompress(raw.subarray(at + HEADER_BYTES, batchEnd))
        records = new Records(inflated, 0, inflated.length)
      } else {
        // One copy of the batch's records: the response can be freed while they wait in the buffer.
        const block = Buffer.allocUnsafe(batchEnd - at - HEADER_BYTES)
        raw.copy(block, 0, at + HEADER_BYTES, batchEnd)
        records = new Records(block, 0, block.length)
      }
      const control = (attributes & ATTR_CONTROL) !== 0
      const appendTime = (attributes & ATTR_LOG_APPEND_TIME) !== 0
      const timestamp = appendTime ? maxTimestamp : baseTimestamp
      for (let i = 0; i < count; i++) {
        out.push(this.#record(records, topic, partition, baseOffset, timestamp, appendTime, control))
      }
      at = batchEnd
    }
    return out
  }

  #record (
    r: Records, topic: string, partition: number, baseOffset: number, baseTimestamp: number, appendTime: boolean,
    control: boolean
  ): FetchedRecord {
    const length = r.varint()
    if (length < 0 || r.pos + length > r.end) throw new NotOurs('record beyond its batch')
    const recordEnd = r.pos + length
    r.pos++ // attributes (unused)
    const timestampDelta = r.varlong()
    const offset = baseOffset + r.varint()
    const timestamp = appendTime ? baseTimestamp : baseTimestamp + timestampDelta
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(timestamp)) throw new NotOurs('beyond 2^53')
    const keyLength = r.varint()
    const keyStart = keyLength < 0 ? 0 : r.skip(keyLength, recordEnd)
    const valueLength = r.varint()
    const valueStart = valueLength < 0 ? 0 : r.skip(valueLength, recordEnd)
    const headerCount = r.varint()
    let headers: Array<[string, Buffer | null]> | undefined
    if (headerCount > 0) {
      headers = []
      for (let h = 0; h < headerCount; h++) {
        const kLength = r.varint()
        const kStart = r.skip(kLength, recordEnd)
        const vLength = r.varint()
        const value = vLength < 0 ? null : r.buf.subarray(r.skip(vLength, recordEnd), r.pos)
        headers.push([r.buf.toString('utf8', kStart, kStart + kLength), value])
      }
    }
    if (r.pos > recordEnd) throw new NotOurs('record longer than its length')
    r.pos = recordEnd
    return new FetchedRecord(topic, partition, offset, timestamp, r.buf,
      keyStart, keyLength < 0 ? -1 : keyStart + keyLength,
      valueStart, valueLength < 0 ? -1 : valueStart + valueLength,
      headers, control)
  }
}
