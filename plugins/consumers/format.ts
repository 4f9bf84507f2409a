/**
 * Embedded formats of consumer instances: decoding happens at response time, never at buffer time. A read hands
 * the route a `Delivery` (the buffered records taken, plus json texts already checked), which renders the GET
 * records answer straight into one Buffer: no intermediate object per record and no generic serializer on the
 * hot path (BENCHMARKS.md, fetch throughput).
 */
import { isUtf8 } from 'node:buffer'
import { Errors } from '../errors/errors.js'
import { isJsonText } from './json-check.js'
import type { BufferedRecord } from './record-buffer.js'

export type ConsumerFormat = 'binary' | 'json'

/** One record as the RecordsResponse schema describes it. */
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

/**
 * A json key or value as the JSON text to embed: null for no bytes; the bytes themselves when they are UTF-8 and
 * one JSON value (checked by a scanner that allocates nothing); otherwise, for bytes that are not UTF-8, their
 * decoded text (invalid sequences become U+FFFD, as Buffer#toString does) once JSON.parse accepts it.
 * Embedded as the producer wrote it (whitespace and number spelling included) rather than parsed and
 * re-serialised: the same JSON value, without a second pass, and large integers keep their digits.
 */
export function jsonText (b: Buffer | null): JsonText | null | typeof UNDECODABLE {
  if (b === null || b.length === 0) return null
  if (isUtf8(b)) return isJsonText(b) ? b : UNDECODABLE
  const s = b.toString('utf8')
  try {
    JSON.parse(s)
  } catch {
    return UNDECODABLE
  }
  return s
}

/** The text of a checked json key or value: its UTF-8 bytes, or a string decoded from bytes that were not UTF-8. */
export type JsonText = Buffer | string

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
    const k = jsonText(r.key)
    const v = jsonText(r.value)
    if (k === UNDECODABLE || v === UNDECODABLE) return UNDECODABLE
    key = k === null ? null : JSON.parse(k.toString())
    value = v === null ? null : JSON.parse(v.toString())
  }
  const out: WireRecord = { topic: userTopic, key, value, partition: r.partition, offset: r.offset, timestamp: r.timestamp }
  if (r.headers && r.headers.length > 0) out.headers = wireHeaders(r.headers)
  return out
}

/**
 * Buffer's per-encoding writers (on Buffer.prototype since Node's first releases, not in @types/node): called
 * directly, they skip Buffer#write's argument checks and encoding lookup, which the fetch profile showed at 10 %
 * of the server's time with three writes per record.
 */
interface EncodingWriters {
  latin1Write (s: string, offset: number, length: number): number
  utf8Write (s: string, offset: number, length: number): number
}

/** A growable output buffer written with explicit encodings (one copy per piece, no string concatenation). */
class Writer {
  buf: Buffer
  pos = 0
  constructor (capacity: number) { this.buf = Buffer.allocUnsafe(Math.max(256, capacity)) }
  #ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** ASCII text (JSON punctuation, digits, base64): one byte per character. */
  ascii (s: string): void {
    this.#ensure(s.length)
    this.pos += (this.buf as unknown as EncodingWriters).latin1Write(s, this.pos, s.length)
  }

  /** Any text: at most three UTF-8 bytes per UTF-16 unit. */
  utf8 (s: string): void {
    this.#ensure(s.length * 3)
    this.pos += (this.buf as unknown as EncodingWriters).utf8Write(s, this.pos, this.buf.length - this.pos)
  }

  /** Bytes as they are. */
  bytes (b: Buffer): void {
    this.#ensure(b.length)
    this.pos += b.copy(this.buf, this.pos)
  }

  /** A checked json text: UTF-8 bytes copied, or a string encoded. */
  text (t: JsonText): void {
    if (typeof t === 'string') this.utf8(t)
    else this.bytes(t)
  }

  done (): Buffer { return this.buf.subarray(0, this.pos) }
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/

/** What one GET records answer delivers: the records taken from the buffer, rendered on demand. */
export class Delivery {
  constructor (
    readonly records: readonly BufferedRecord[],
    readonly format: ConsumerFormat,
    /** The user's name of a Kafka topic. */
    readonly userTopic: (kafkaTopic: string) => string,
    /** json: key and value text of each record (2 per record), checked when taken. */
    readonly texts?: ReadonlyArray<JsonText | null>
  ) {}

  get length (): number { return this.records.length }

  /** The records as objects (tests, tools); the route sends `render()`. */
  wire (): WireRecord[] {
    const out: WireRecord[] = []
    for (const r of this.records) {
      const w = toWire(r, this.format, this.userTopic(r.topic))
      if (w !== UNDECODABLE) out.push(w)
    }
    return out
  }

  /**
   * The JSON text of the answer, as UTF-8: the RecordsResponse schema's fields in its order, the same JSON value
   * as JSON.stringify(this.wire()) (byte for byte in binary; json embeds the checked texts verbatim).
   */
  render (): Buffer {
    const records = this.records
    const texts = this.texts
    let estimate = 2
    for (const r of records) estimate += 112 + Math.ceil(r.size * (texts ? 1.05 : 1.34))
    const w = new Writer(estimate)
    let topic: string | undefined
    let topicJson = ''
    let topicAscii = true
    // Records of one producer batch share their timestamp, and a millisecond timestamp is no small integer for
    // V8: its decimal text is worth keeping.
    let timestamp = NaN
    let timestampText = ''
    w.ascii('[')
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as BufferedRecord
      if (r.topic !== topic) {
        topic = r.topic
        topicJson = JSON.stringify(this.userTopic(topic))
        topicAscii = !NON_ASCII.test(topicJson)
      }
      const head = i === 0 ? '{"topic":' : ',{"topic":'
      if (r.timestamp !== timestamp) {
        timestamp = r.timestamp
        timestampText = ',"timestamp":' + timestamp
      }
      const tail = ',"partition":' + r.partition + ',"offset":' + r.offset + timestampText
      if (!texts && topicAscii) {
        // Binary, the common case: all ASCII. The value's base64 is written on its own: concatenated with the
        // rest it would be a rope that V8 copies into a new flat string before the write.
        w.ascii(head + topicJson + (r.key === null ? ',"key":null,"value":' : ',"key":"' + r.key.toString('base64') + '","value":'))
        if (r.value === null) w.ascii('null' + tail)
        else {
          w.ascii('"')
          w.ascii(r.value.toString('base64'))
          w.ascii('"' + tail)
        }
      } else {
        w.ascii(head)
        if (topicAscii) w.ascii(topicJson)
        else w.utf8(topicJson)
        if (texts) {
          const k = texts[2 * i] ?? null
          const v = texts[2 * i + 1] ?? null
          if (k === null) w.ascii(',"key":null')
          else { w.ascii(',"key":'); w.text(k) }
          if (v === null) w.ascii(',"value":null')
          else { w.ascii(',"value":'); w.text(v) }
        } else {
          w.ascii(r.key === null ? ',"key":null' : ',"key":"' + r.key.toString('base64') + '"')
          w.ascii(r.value === null ? ',"value":null' : ',"value":"' + r.value.toString('base64') + '"')
        }
        w.ascii(tail)
      }
      if (r.headers && r.headers.length > 0) w.utf8(',"headers":' + JSON.stringify(wireHeaders(r.headers)) + '}')
      else w.ascii('}')
    }
    w.ascii(']')
    return w.done()
  }
}

export function undecodableError (r: BufferedRecord, format: ConsumerFormat, userTopic: string): Error {
  const what = format === 'json' && jsonText(r.key) === UNDECODABLE ? 'key' : 'value'
  return Errors.undecodableRecord(userTopic, r.partition, String(r.offset), what)
}

export { UNDECODABLE }
