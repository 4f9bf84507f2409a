/**
 * The Kafka wire format of Fetch v11 responses and record batches (magic 2), written out here independently of
 * kafkajs and of plugins/kafka/kafkajs/fetch-decoder.ts: the differential test of the decoder builds its responses
 * with it, and so does the fetch micro-benchmark.
 */
import { gzipSync } from 'node:zlib'

export function uvarint (v: bigint): Buffer {
  const out: number[] = []
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) b |= 0x80
    out.push(b)
  } while (v > 0n)
  return Buffer.from(out)
}
export const zigzag = (n: number | bigint): Buffer => {
  const v = BigInt(n)
  return uvarint(v >= 0n ? v * 2n : -v * 2n - 1n)
}
export const int16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b }
export const int32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b }
export const int64 = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigInt64BE(BigInt(n))
  return b
}
export const varBytes = (b: Buffer | null): Buffer => b === null ? zigzag(-1) : Buffer.concat([zigzag(b.length), b])

export interface Rec {
  tsDelta: number | bigint
  offDelta: number
  key: Buffer | null
  value: Buffer | null
  headers?: Array<[string, Buffer | null]>
}
export function record (r: Rec): Buffer {
  const headers = r.headers ?? []
  const body = Buffer.concat([
    Buffer.from([0]), zigzag(r.tsDelta), zigzag(r.offDelta), varBytes(r.key), varBytes(r.value), zigzag(headers.length),
    ...headers.flatMap(([k, v]) => [varBytes(Buffer.from(k)), varBytes(v)])
  ])
  return Buffer.concat([zigzag(body.length), body])
}

export interface BatchSpec {
  baseOffset: number | bigint
  baseTimestamp: number
  maxTimestamp?: number
  attributes?: number
  records: Rec[]
  gzip?: boolean
  magic?: number
}
export function batch (s: BatchSpec): Buffer {
  let recs = Buffer.concat(s.records.map(record))
  if (s.gzip) recs = gzipSync(recs)
  const attributes = (s.attributes ?? 0) | (s.gzip ? 1 : 0)
  const rest = Buffer.concat([
    int32(0), Buffer.from([s.magic ?? 2]), int32(0), int16(attributes),
    int32(Math.max(0, ...s.records.map(r => r.offDelta))),
    int64(s.baseTimestamp), int64(s.maxTimestamp ?? s.baseTimestamp),
    int64(-1), int16(-1), int32(-1), int32(s.records.length), recs
  ])
  return Buffer.concat([int64(s.baseOffset), int32(rest.length), rest])
}

/** A message set in the 0.10 format (magic 1), which kafkajs decodes and the decoder leaves to it. */
export function legacyMessage (offset: number, key: Buffer | null, value: Buffer): Buffer {
  const message = Buffer.concat([
    Buffer.from([1, 0]), int64(1700000000000),
    key === null ? int32(-1) : Buffer.concat([int32(key.length), key]),
    int32(value.length), value
  ])
  const withCrc = Buffer.concat([int32(0), message])
  return Buffer.concat([int64(offset), int32(withCrc.length), withCrc])
}

export interface PartSpec {
  partition: number
  error?: number
  aborted?: Array<[number, number]> | null
  set: Buffer | null
}
export function response (topics: Array<{ name: string, partitions: PartSpec[] }>): Buffer {
  const parts: Buffer[] = [int32(0), int16(0), int32(0), int32(topics.length)]
  for (const topic of topics) {
    parts.push(int16(Buffer.byteLength(topic.name)), Buffer.from(topic.name), int32(topic.partitions.length))
    for (const p of topic.partitions) {
      parts.push(int32(p.partition), int16(p.error ?? 0), int64(1000), int64(990), int64(0))
      if (p.aborted == null) {
        parts.push(int32(-1))
      } else {
        parts.push(int32(p.aborted.length))
        for (const [pid, first] of p.aborted) parts.push(int64(pid), int64(first))
      }
      parts.push(int32(-1))
      parts.push(p.set === null ? int32(-1) : Buffer.concat([int32(p.set.length), p.set]))
    }
  }
  return Buffer.concat(parts)
}
