/**
 * Confluent v3 produce records (and v2 produce records) from parsed JSON to Kafka bytes, validated by hand so
 * that every record of a batch or a stream fails on its own with a clear code. Plain module: no Fastify.
 *
 * Rules (produce-v3-contract.md §2.1, §4.1, §7.3; §7 wins where it differs from Confluent):
 * - `key` / `value`: `{type: BINARY|JSON|STRING, data}`; BINARY is padded standard base64, JSON is written
 *   compact (JSON.stringify), STRING is the UTF-8 of a string. `data: null`, an absent `data` or an absent
 *   field is a Kafka null. AVRO, JSONSCHEMA, PROTOBUF or no `type` need a schema registry: 422/42206.
 * - A record needs a key or a value (the Diaspora 0.7 API; Confluent would write an empty record): 422/42206.
 * - `headers`: `[{name, value: base64 | null}]`, order and repeats kept.
 * - `timestamp`: ISO 8601 with `Z` or a numeric offset (none: 400/40005), or a JSON number read as epoch
 *   seconds as Jackson does (a fraction gives milliseconds). Absent: the gateway's clock at send time.
 * - `partition_id`: an integer ≥ 0 (negative: 404/40402; beyond the topic: checked by the engine).
 */
import { ApiError } from '../errors/errors.js'
import type { KafkaHeader } from '../kafka/driver.js'

export type DataType = 'BINARY' | 'JSON' | 'STRING'

export type { KafkaHeader }

/** A record ready for Kafka. */
export interface EncodedRecord {
  partition?: number
  key: Buffer | null
  value: Buffer | null
  headers: KafkaHeader[]
  /** ms since the epoch; undefined: the engine stamps the send time. */
  timestamp?: number
  /** For the Confluent report: the types the request named (absent when the request had no key/value). */
  keyType?: DataType
  valueType?: DataType
}

export const SCHEMA_TYPES = new Set(['AVRO', 'JSONSCHEMA', 'PROTOBUF'])
const DATA_TYPES = new Set(['BINARY', 'JSON', 'STRING'])
const RECORD_FIELDS = new Set(['partition_id', 'headers', 'key', 'value', 'timestamp'])
const DATA_FIELDS = new Set(['type', 'data', 'subject', 'subject_name_strategy', 'schema_id', 'schema_version', 'schema'])
// ISO 8601 date-time with a mandatory zone: Z or ±hh:mm (±hhmm and ±hh as Java's offset parser allows).
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)$/
const ISO_NO_ZONE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?$/

export const ProduceErrors = {
  malformed: (message: string) => new ApiError(400, 400, message, { code: 'BAD_RECORD' }),
  timestampWithoutOffset: (raw: string) => new ApiError(400, 40005,
    `timestamp ${JSON.stringify(raw.slice(0, 64))} has no UTC offset; give one, e.g. 2026-10-26T15:04:05Z or +00:00`, { code: 'TIMESTAMP_WITHOUT_OFFSET' }),
  schemaType: (where: string, type: string) => new ApiError(422, 42206,
    `Payload error: ${where} type ${type} needs a schema registry, which this service does not offer; use BINARY, JSON or STRING`, { code: 'SCHEMA_REGISTRY_REQUIRED' }),
  emptyRecord: () => new ApiError(422, 42206, 'Payload error: a record needs a key or a value', { code: 'EMPTY_RECORD' }),
  partitionNotFound: (partition: number) => new ApiError(404, 40402, `Partition not found: ${partition}`, { code: 'PARTITION_NOT_FOUND' }),
  tooLarge: (size: number, max: number) => new ApiError(413, 41302,
    `Record too large: ${size} bytes of key, value and headers, at most ${max}`, { code: 'RECORD_TOO_LARGE' })
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** The start of a value for an error message (a JSON type name when it is too deep to write). */
function preview (v: unknown): string {
  try {
    return String(JSON.stringify(v)).slice(0, 40)
  } catch {
    return Array.isArray(v) ? 'a list' : typeof v
  }
}

/** Padded standard base64 to bytes; anything else (url alphabet, no padding, stray characters) is a 400. */
export function decodeBase64 (s: unknown, where: string): Buffer {
  if (typeof s !== 'string') throw ProduceErrors.malformed(`${where}: data=${preview(s)} is not a base64 string`)
  const bytes = strictBase64(s)
  if (bytes === undefined) throw ProduceErrors.malformed(`${where}: data is not valid padded base64`)
  return bytes
}

const EQ = 0x3d

/**
 * The bytes of `s` when it is padded standard base64 (what /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|
 * [A-Za-z0-9+/]{3}=)?$/ accepts), else undefined. Without the RegExp, which cost more than the decoding: Node's
 * decoder skips characters outside both base64 alphabets and stops at '=', so with '=' only as the last one or
 * two characters, a string of length L (a multiple of 4) with p padding characters decodes to exactly
 * 3L/4 − p bytes when every other character is in an alphabet, and to fewer when any is not (each skipped one
 * takes 6 bits away). What that leaves: the url-safe characters '-' and '_' (which Node accepts) and characters
 * beyond ASCII (Node reads a two-byte string's characters by their low byte), each ruled out by a native scan.
 */
export function strictBase64 (s: string): Buffer | undefined {
  const length = s.length
  if ((length & 3) !== 0) return undefined
  let padding = 0
  if (length > 0 && s.charCodeAt(length - 1) === EQ) padding = s.charCodeAt(length - 2) === EQ ? 2 : 1
  const eq = s.indexOf('=')
  if (eq !== -1 && eq < length - padding) return undefined
  if (s.indexOf('-') !== -1 || s.indexOf('_') !== -1) return undefined
  if (Buffer.byteLength(s, 'utf8') !== length) return undefined
  const bytes = Buffer.from(s, 'base64')
  return bytes.length === (length >>> 2) * 3 - padding ? bytes : undefined
}

/**
 * Compact JSON bytes of a parsed value. JSON.parse takes any depth but JSON.stringify recurses, so a value
 * nested deeper than the stack allows is the record's 400, not a RangeError (500).
 */
function compactJson (data: unknown, where: string): Buffer {
  try {
    return Buffer.from(JSON.stringify(data), 'utf8')
  } catch (err) {
    if (err instanceof RangeError) throw ProduceErrors.malformed(`${where}: data is nested too deeply`)
    throw err
  }
}

function encodeData (raw: unknown, where: 'key' | 'value'): { bytes: Buffer | null, type?: DataType } {
  if (raw === undefined || raw === null) return { bytes: null }
  if (!isObject(raw)) throw ProduceErrors.malformed(`${where} must be an object {type, data}`)
  for (const field of Object.keys(raw)) {
    if (!DATA_FIELDS.has(field)) throw ProduceErrors.malformed(`Unrecognized field in ${where}: ${field}`)
  }
  const t = raw.type
  if (t === undefined || t === null) throw ProduceErrors.schemaType(where, '(none)')
  if (typeof t !== 'string') throw ProduceErrors.malformed(`${where}.type must be a string`)
  const type = t.toUpperCase()
  if (SCHEMA_TYPES.has(type)) throw ProduceErrors.schemaType(where, type)
  if (!DATA_TYPES.has(type)) throw ProduceErrors.malformed(`${where}.type must be BINARY, JSON or STRING (got ${JSON.stringify(t.slice(0, 40))})`)
  for (const f of ['subject', 'subject_name_strategy', 'schema_id', 'schema_version', 'schema']) {
    if (raw[f] !== undefined) throw ProduceErrors.malformed(`${where}: ${f} is not allowed with type ${type}`)
  }
  const dataType = type as DataType
  const data = raw.data
  if (data === undefined || data === null) return { bytes: null, type: dataType }
  switch (dataType) {
    case 'BINARY': return { bytes: decodeBase64(data, where), type: dataType }
    case 'STRING':
      if (typeof data !== 'string') throw ProduceErrors.malformed(`${where}: data=${preview(data)} is not a string`)
      return { bytes: Buffer.from(data, 'utf8'), type: dataType }
    case 'JSON': return { bytes: compactJson(data, where), type: dataType }
  }
}

/** ISO 8601 with a zone, or epoch seconds, to ms since the epoch. */
export function parseTimestamp (raw: unknown): number {
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw) || raw < 0 || raw > 253402300799) throw ProduceErrors.malformed('timestamp: epoch seconds out of range')
    return Math.floor(raw * 1000)
  }
  if (typeof raw !== 'string') throw ProduceErrors.malformed('timestamp must be an ISO 8601 string with a UTC offset')
  const m = ISO_RE.exec(raw)
  if (!m) {
    if (ISO_NO_ZONE_RE.test(raw)) throw ProduceErrors.timestampWithoutOffset(raw)
    throw ProduceErrors.malformed(`timestamp ${JSON.stringify(raw.slice(0, 64))} is not an ISO 8601 date-time`)
  }
  const [, y, mo, d, h, mi, s = '0', frac = '', zone = 'Z'] = m as unknown as string[]
  // Date.UTC reads years 0–99 as 1900–1999; they are before 1970 anyway.
  if (Number(y) < 1969) throw ProduceErrors.malformed('timestamp before 1970 is not supported by Kafka')
  const ms = Number((frac + '000').slice(0, 3))
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms)
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)))
  if (Number(mo) < 1 || Number(mo) > 12 || check.getUTCDate() !== Number(d) ||
    Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw ProduceErrors.malformed(`timestamp ${JSON.stringify(raw.slice(0, 64))} is not a valid date-time`)
  }
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const minutes = Number(digits.slice(2, 4) || '0')
    const offset = Number(digits.slice(0, 2)) * 60 + minutes
    if (offset > 18 * 60 || minutes > 59) throw ProduceErrors.malformed('timestamp: UTC offset out of range')
    t -= sign * offset * 60_000
  }
  if (t < 0) throw ProduceErrors.malformed('timestamp before 1970 is not supported by Kafka')
  return t
}

function parseHeaders (raw: unknown): KafkaHeader[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw ProduceErrors.malformed('headers must be a list of {name, value}')
  return raw.map((h, i) => {
    if (!isObject(h)) throw ProduceErrors.malformed(`headers[${i}] must be an object {name, value}`)
    for (const field of Object.keys(h)) {
      if (field !== 'name' && field !== 'value') throw ProduceErrors.malformed(`Unrecognized field in headers[${i}]: ${field}`)
    }
    if (typeof h.name !== 'string') throw ProduceErrors.malformed(`headers[${i}].name must be a string`)
    const value = h.value === undefined || h.value === null ? null : decodeBase64(h.value, `headers[${i}].value`)
    return { name: h.name, value }
  })
}

/** One Confluent v3 ProduceRequest (a record, or a batch entry without its `id`) to Kafka bytes. */
export function encodeRecord (raw: unknown, extraFields: ReadonlySet<string> = new Set()): EncodedRecord {
  if (!isObject(raw)) throw ProduceErrors.malformed('A record must be a JSON object')
  for (const field of Object.keys(raw)) {
    if (!RECORD_FIELDS.has(field) && !extraFields.has(field)) throw ProduceErrors.malformed(`Unrecognized field: ${field}`)
  }
  const out: EncodedRecord = { key: null, value: null, headers: parseHeaders(raw.headers) }
  const p = raw.partition_id
  if (p !== undefined && p !== null) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p > 2147483647) throw ProduceErrors.malformed('partition_id must be an integer')
    if (p < 0) throw ProduceErrors.partitionNotFound(p)
    out.partition = p
  }
  const key = encodeData(raw.key, 'key')
  const value = encodeData(raw.value, 'value')
  out.key = key.bytes
  out.value = value.bytes
  if (key.type) out.keyType = key.type
  if (value.type) out.valueType = value.type
  if (out.key === null && out.value === null) throw ProduceErrors.emptyRecord()
  if (raw.timestamp !== undefined && raw.timestamp !== null) out.timestamp = parseTimestamp(raw.timestamp)
  return out
}

/** Key + value + header bytes: what the record-size limit and the in-flight budget count. */
export function recordSize (r: Pick<EncodedRecord, 'key' | 'value' | 'headers'>): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0)
  for (const h of r.headers) n += Buffer.byteLength(h.name) + (h.value?.length ?? 0)
  return n
}

/** Batch entry ids: 1–80 of [A-Za-z0-9_-] (the Diaspora 0.7 API and Confluent). */
export const BATCH_ID_RE = /^[A-Za-z0-9_-]{1,80}$/

export type V2Format = 'binary' | 'json'

/** One Confluent v2 produce record `{key?, value?, partition?}` in the given embedded format. */
export function encodeV2Record (raw: unknown, format: V2Format): EncodedRecord {
  if (!isObject(raw)) throw ProduceErrors.malformed('A record must be a JSON object')
  for (const field of Object.keys(raw)) {
    if (field !== 'key' && field !== 'value' && field !== 'partition') throw ProduceErrors.malformed(`Unrecognized field: ${field}`)
  }
  const encode = (v: unknown, where: string): Buffer | null => {
    if (v === undefined || v === null) return null
    return format === 'binary' ? decodeBase64(v, where) : compactJson(v, where)
  }
  const out: EncodedRecord = { key: encode(raw.key, 'key'), value: encode(raw.value, 'value'), headers: [] }
  const p = raw.partition
  if (p !== undefined && p !== null) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p > 2147483647) throw ProduceErrors.malformed('partition must be an integer')
    if (p < 0) throw ProduceErrors.partitionNotFound(p)
    out.partition = p
  }
  if (out.key === null && out.value === null) throw ProduceErrors.emptyRecord()
  return out
}

let lastMs = NaN
let lastIso = ''

/**
 * ISO 8601 UTC as Confluent writes it (java.time.Instant): no fraction when it is zero. The records of one send
 * mostly share a timestamp, so the last one is kept.
 */
export function isoTimestamp (ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString().replace('.000Z', 'Z')
    lastMs = ms
  }
  return lastIso
}
