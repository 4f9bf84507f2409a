/**
 * Embedded formats of consumer instances: decoding happens at response time, never at buffer time. A read hands
 * the route a `Delivery` (the buffered records taken, plus json texts already checked), which renders the GET
 * records answer straight into one Buffer: no intermediate object per record and no generic serializer on the
 * hot path (BENCHMARKS.md, fetch throughput).
 */
import { isUtf8 } from 'node:buffer'
import { Errors } from '../errors/errors.js'
import { isJsonText } from './json-check.js'
import { FetchedRecord, type BufferedRecord } from '../kafka/driver.js'
import type { BufferPool } from './buffer-pool.js'

export type ConsumerFormat = 'binary' | 'json'

const UNDECODABLE = Symbol('undecodable')

/**
 * A json key or value as the JSON text to embed (the Diaspora 0.7 API's lenient json format): null for no bytes;
 * the bytes themselves when they are UTF-8 and one JSON value (checked by a scanner that allocates nothing);
 * other UTF-8 text (empty bytes included) as a JSON string of it (`job-42` -> `"job-42"`); UNDECODABLE only
 * for bytes that are not UTF-8, which no JSON text can carry faithfully.
 * Embedded as the producer wrote it (whitespace and number spelling included) rather than parsed and
 * re-serialised: the same JSON value, without a second pass, and large integers keep their digits.
 */
export function jsonText (b: Buffer | null): JsonText | null | typeof UNDECODABLE {
  if (b === null) return null
  if (!isUtf8(b)) return UNDECODABLE
  if (b.length > 0 && isJsonText(b)) return b
  return JSON.stringify(b.toString('utf8'))
}

/** The text of a checked json key or value: its UTF-8 bytes (one JSON value), or a JSON string literal made of text. */
export type JsonText = Buffer | string

/**
 * Buffer's per-encoding writers (on Buffer.prototype since Node's first releases, not in @types/node): called
 * directly, they skip Buffer#write's argument checks and encoding lookup, which the fetch profile showed at 10 %
 * of the server's time with three writes per record.
 */
interface EncodingWriters {
  latin1Write (s: string, offset: number, length: number): number
  utf8Write (s: string, offset: number, length: number): number
  base64Slice (start: number, end: number): string
}

/** A growable output buffer written with explicit encodings (one copy per piece, no string concatenation). */
class Writer {
  buf: Buffer
  pos = 0
  constructor (capacity: number, readonly pool?: BufferPool) { this.buf = this.#alloc(Math.max(256, capacity)) }
  #alloc (n: number): Buffer { return this.pool ? this.pool.acquire(n) : Buffer.allocUnsafe(n) }
  #ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = this.#alloc(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.pool?.release(this.buf)
    this.buf = next
  }

  /** Pre-encoded bytes (punctuation, field names, the topic): a short loop costs less than a native call. */
  lit (bytes: Uint8Array): void {
    this.#ensure(bytes.length)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i] as number
    this.pos = pos
  }

  /**
   * A safe integer (offsets, partitions, timestamps) in decimal, without making its string. In int32 arithmetic:
   * % and / on a double (a millisecond timestamp is one) each cost V8 a call, and String(n) allocates.
   */
  int (n: number): void {
    this.#ensure(17)
    if (n < 0) { this.buf[this.pos++] = 0x2d; n = -n }
    if (n < 1e9) { this.#digits(n, 1); return }
    // Exact for safe integers: the quotient is below 2^24, where rounding moves it by at most 2^-30, less than
    // the 1e-9 by which a non-integer quotient stays below the next integer; high * 1e9 is a safe integer.
    const high = Math.floor(n / 1e9)
    const low = n - high * 1e9
    this.#digits(high, 1)
    this.#digits(low, 9)
  }

  /** 0 <= n < 1e9, at least `width` digits (zero-padded). */
  #digits (n: number, width: number): void {
    let count = 1
    for (let m = n; m >= 10; m = (m / 10) | 0) count++
    if (count < width) count = width
    const buf = this.buf
    let at = this.pos + count
    this.pos = at
    for (let k = 0; k < count; k++) {
      const q = (n / 10) | 0
      buf[--at] = 0x30 + n - q * 10
      n = q
    }
  }

  /** ASCII text (JSON punctuation, digits, base64): one byte per character. */
  ascii (s: string): void {
    this.#ensure(s.length)
    this.pos += (this.buf as unknown as EncodingWriters).latin1Write(s, this.pos, s.length)
  }

  /**
   * A binary key or value: `nil` for null, else `open`, bytes [start, end) of `b` in base64 (without a view of
   * them; Buffer#toString's checks skipped, as above), and the closing quote. The base64 text is written on its
   * own: concatenated, it would be a rope that V8 flattens into yet another string before the write.
   */
  base64Field (nil: Uint8Array, open: Uint8Array, b: Buffer | null, start: number, end: number): void {
    if (b === null) { this.lit(nil); return }
    this.lit(open)
    this.ascii((b as unknown as EncodingWriters).base64Slice(start, end))
    this.lit(QUOTE)
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

const ascii = (s: string): Uint8Array => Uint8Array.from(s, c => c.charCodeAt(0))
// The fixed pieces of a records answer, in the RecordsResponse schema's field order.
const OPEN = ascii('[')
const NEXT_RECORD = ',{"topic":'
const KEY = ascii(',"key":')
const KEY_QUOTE = ascii(',"key":"')
const KEY_NULL = ascii(',"key":null')
const VALUE = ascii(',"value":')
const VALUE_QUOTE = ascii(',"value":"')
const VALUE_NULL = ascii(',"value":null')
const QUOTE = ascii('"')
const PARTITION = ascii(',"partition":')
const OFFSET = ascii(',"offset":')
const TIMESTAMP = ascii(',"timestamp":')
// Most records have no headers: one literal for them, no per-record work.
const NO_HEADERS = ascii(',"headers":[]}')
const HEADERS_OPEN = ascii(',"headers":[{"name":')
const NEXT_HEADER = ascii('},{"name":')
const HEADER_NULL = ascii(',"value":null')
const HEADER_QUOTE = ascii(',"value":"')
const HEADERS_CLOSE = ascii('}]}')
const CLOSE = ascii(']')

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

  /**
   * The JSON text of the answer, as UTF-8: the RecordsResponse schema's fields in its order, the same JSON value
   * as JSON.stringify of the records test/helpers/wire.ts builds (byte for byte in binary; json embeds the checked
   * texts verbatim). With a pool, written into one of its buffers, which release() hands back.
   */
  render (pool?: BufferPool): Buffer {
    const records = this.records
    const texts = this.texts
    let estimate = 2
    for (const r of records) estimate += 126 + Math.ceil(r.size * (texts ? 1.05 : 1.34))
    const w = new Writer(estimate, pool)
    // ',{"topic":"name"' as bytes, by Kafka topic (a read takes round-robin across partitions, so topics alternate).
    const openings = new Map<string, Uint8Array>()
    let topic: string | undefined
    let opening: Uint8Array = Buffer.alloc(0)
    w.lit(OPEN)
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as BufferedRecord
      if (r.topic !== topic) {
        topic = r.topic
        let known = openings.get(topic)
        if (!known) openings.set(topic, (known = Buffer.from(NEXT_RECORD + JSON.stringify(this.userTopic(topic)), 'utf8')))
        opening = known
      }
      if (i === 0) w.lit(opening.subarray(1))
      else w.lit(opening)
      if (texts) {
        const k = texts[2 * i] ?? null
        const v = texts[2 * i + 1] ?? null
        if (k === null) w.lit(KEY_NULL)
        else { w.lit(KEY); w.text(k) }
        if (v === null) w.lit(VALUE_NULL)
        else { w.lit(VALUE); w.text(v) }
      } else if (r instanceof FetchedRecord) {
        // Binary, as the fetch decoder buffered it: key and value are ranges of its block (no views).
        w.base64Field(KEY_NULL, KEY_QUOTE, r.keyEnd < 0 ? null : r.block, r.keyStart, r.keyEnd)
        w.base64Field(VALUE_NULL, VALUE_QUOTE, r.valueEnd < 0 ? null : r.block, r.valueStart, r.valueEnd)
      } else {
        const { key, value } = r
        w.base64Field(KEY_NULL, KEY_QUOTE, key, 0, key?.length ?? 0)
        w.base64Field(VALUE_NULL, VALUE_QUOTE, value, 0, value?.length ?? 0)
      }
      w.lit(PARTITION)
      w.int(r.partition)
      w.lit(OFFSET)
      w.int(r.offset)
      w.lit(TIMESTAMP)
      w.int(r.timestamp)
      const headers = r.headers
      if (headers === undefined || headers.length === 0) w.lit(NO_HEADERS)
      else {
        for (let h = 0; h < headers.length; h++) {
          const [name, v] = headers[h] as [string, Buffer | null]
          w.lit(h === 0 ? HEADERS_OPEN : NEXT_HEADER)
          w.utf8(JSON.stringify(name))
          w.base64Field(HEADER_NULL, HEADER_QUOTE, v, 0, v?.length ?? 0)
        }
        w.lit(HEADERS_CLOSE)
      }
    }
    w.lit(CLOSE)
    if (pool) this.#rendered = { pool, buf: w.buf }
    return w.done()
  }

  #rendered: { pool: BufferPool, buf: Buffer } | undefined

  /**
   * What gives the pooled buffer of the rendered answer back, to be called once the answer has been written out
   * (the response's 'finish'); the Buffer render() returned must not be used after that. It holds only the pool
   * and the buffer, not this delivery, so the records taken can be collected while a slow client reads.
   */
  releaser (): () => void {
    const rendered = this.#rendered
    this.#rendered = undefined
    if (!rendered) return () => {}
    let done = false
    return () => {
      if (done) return
      done = true
      rendered.pool.release(rendered.buf)
    }
  }

  /** releaser(), called now. */
  release (): void { this.releaser()() }
}

/**
 * The json format's check at take time (RecordBuffer.take's `accept`): each record's key and value texts, in
 * `texts`; the first record whose bytes are not UTF-8 stops the take and is kept in `bad`.
 */
export class JsonTake {
  readonly texts: Array<JsonText | null> = []
  bad: BufferedRecord | undefined
  accept = (r: BufferedRecord): boolean => {
    const k = jsonText(r.key)
    const v = k === UNDECODABLE ? k : jsonText(r.value)
    if (k === UNDECODABLE || v === UNDECODABLE) { this.bad = r; return false }
    this.texts.push(k, v)
    return true
  }
}

export function undecodableError (r: BufferedRecord, format: ConsumerFormat, userTopic: string): Error {
  const what = format === 'json' && jsonText(r.key) === UNDECODABLE ? 'key' : 'value'
  return Errors.undecodableRecord(userTopic, r.partition, String(r.offset), what)
}

export { UNDECODABLE }
