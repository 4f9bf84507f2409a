/** Embedded formats of consumer instances: decoding happens at response time, never at buffer time. */
import { Errors } from '../errors/errors.js'
import type { BufferedRecord } from './record-buffer.js'

export type ConsumerFormat = 'binary' | 'json'

export interface WireRecord {
  topic: string
  key: unknown
  value: unknown
  partition: number
  offset: number
  timestamp: number
  headers?: Array<{ key: string, value: string | null }>
}

const UNDECODABLE = Symbol('undecodable')

function decodeJson (b: Buffer | null): unknown {
  if (b === null) return null
  if (b.length === 0) return null
  try {
    return JSON.parse(b.toString('utf8'))
  } catch {
    return UNDECODABLE
  }
}

/** Headers are always base64 (they are bytes in Kafka), whatever the format. */
function wireHeaders (h: BufferedRecord['headers']): WireRecord['headers'] {
  return h?.map(([key, v]) => ({ key, value: v === null ? null : v.toString('base64') }))
}

export function toWire (r: BufferedRecord, format: ConsumerFormat, userTopic: string): WireRecord | typeof UNDECODABLE {
  let key: unknown
  let value: unknown
  if (format === 'binary') {
    key = r.key === null ? null : r.key.toString('base64')
    value = r.value === null ? null : r.value.toString('base64')
  } else {
    key = decodeJson(r.key)
    value = decodeJson(r.value)
    if (key === UNDECODABLE || value === UNDECODABLE) return UNDECODABLE
  }
  const out: WireRecord = { topic: userTopic, key, value, partition: r.partition, offset: r.offset, timestamp: r.timestamp }
  if (r.headers && r.headers.length > 0) out.headers = wireHeaders(r.headers)
  return out
}

function embedded (v: unknown, format: ConsumerFormat): string {
  if (v === null || v === undefined) return 'null'
  // Binary keys and values are base64 ([A-Za-z0-9+/=]): nothing to escape.
  if (format === 'binary' && typeof v === 'string') return '"' + v + '"'
  return JSON.stringify(v)
}

/**
 * The JSON text of a GET records answer, exactly as the RecordsResponse schema renders it (same fields, same
 * order), built directly: the generic serializer spent about 7 µs per 1 KiB binary record scanning base64 for
 * characters to escape, over half of the serialization cost (BENCHMARKS.md, fetch throughput).
 */
export function renderRecords (records: readonly WireRecord[], format: ConsumerFormat): string {
  let out = '['
  let topic: string | undefined
  let topicJson = ''
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as WireRecord
    if (r.topic !== topic) { topic = r.topic; topicJson = JSON.stringify(topic) }
    out += (i === 0 ? '{"topic":' : ',{"topic":') + topicJson +
      ',"key":' + embedded(r.key, format) + ',"value":' + embedded(r.value, format) +
      ',"partition":' + r.partition + ',"offset":' + r.offset + ',"timestamp":' + r.timestamp +
      (r.headers === undefined ? '}' : ',"headers":' + JSON.stringify(r.headers) + '}')
  }
  return out + ']'
}

export function undecodableError (r: BufferedRecord, format: ConsumerFormat, userTopic: string): Error {
  const what = toWire({ ...r, value: null }, format, userTopic) === UNDECODABLE ? 'key' : 'value'
  return Errors.undecodableRecord(userTopic, r.partition, String(r.offset), what)
}

export { UNDECODABLE }
