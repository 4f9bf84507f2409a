/** Confluent v2 media types and JSON body parsing. Plain module. */
import { Errors } from '../errors/errors.js'

export const KAFKA_V2 = 'application/vnd.kafka.v2+json'
export const EMBEDDED_FORMATS = ['binary', 'json', 'avro', 'jsonschema', 'protobuf'] as const
export type EmbeddedFormat = typeof EMBEDDED_FORMATS[number]

/** application/vnd.kafka[.fmt].v2+json, plus the lenient vnd.kafka+json that Karapace accepts. */
export const KAFKA_REQUEST_TYPE = /^application\/vnd\.kafka(\.(binary|json|avro|jsonschema|protobuf))?(\.v2)?\+json$/i

export function embeddedType (format: EmbeddedFormat): string {
  return `application/vnd.kafka.${format}.v2+json`
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/** A body's bytes as text: JSON is UTF-8 (RFC 8259), so bytes that are not UTF-8 are a 400, never replaced. */
export function decodeUtf8 (bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw Errors.malformedJson('the body is not valid UTF-8')
  }
}

/** The charset parameter of a Content-Type, lower-cased; undefined when there is none. */
export function charsetOf (contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '')
  return m ? (m[1] as string).toLowerCase() : undefined
}

/**
 * Can a response in JSON (application/json, or any application/…+json type such as Confluent's) satisfy this
 * Accept header? A missing or empty header accepts anything; ranges with q=0 are refusals.
 */
export function acceptsJson (accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map(s => s.trim().toLowerCase())
    if (params.some(p => /^q\s*=\s*0(\.0*)?$/.test(p))) continue
    if (range === '*/*' || range === 'application/*' || range === 'application/json' || /^application\/[^/]+\+json$/.test(range)) return true
  }
  return false
}

/**
 * Parse a JSON request body. An empty body is `undefined` (Confluent accepts bodiless create and commit);
 * anything else must be valid JSON. Prototype-poisoning keys are refused.
 */
export function parseJsonBody (text: string): unknown {
  if (text.trim() === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw Errors.malformedJson((err as Error).message)
  }
  if (/"(__proto__|constructor)"\s*:/.test(text) && hasPoisonKey(value)) throw Errors.badRequest('Forbidden key in JSON body')
  return value
}

/** Does any object in `root` have a `__proto__` or `constructor` key? Iterative: any nesting depth. */
function hasPoisonKey (root: unknown): boolean {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || typeof v !== 'object') continue
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item)
      continue
    }
    for (const k of Object.keys(v)) {
      if (k === '__proto__' || k === 'constructor') return true
      stack.push((v as Record<string, unknown>)[k])
    }
  }
  return false
}

export interface AcceptChoice {
  /** The embedded format named first in Accept, if any. */
  format?: EmbeddedFormat
  /** True when Accept names only types we cannot produce. */
  unacceptable: boolean
}

/**
 * Pick the first embedded format explicitly named in Accept (Karapace's rule, recommended by the contract).
 * Missing, star and plain JSON types leave the format to the instance.
 */
export function negotiateRecordsAccept (accept: string | undefined): AcceptChoice {
  if (!accept) return { unacceptable: false }
  let sawAcceptable = false
  for (const part of accept.split(',')) {
    const type = (part.split(';')[0] ?? '').trim().toLowerCase()
    const m = /^application\/vnd\.kafka\.(binary|json|avro|jsonschema|protobuf)\.v2\+json$/.exec(type)
    if (m) return { format: m[1] as EmbeddedFormat, unacceptable: false }
    if (type === '*/*' || type === 'application/*' || type === 'application/json' || type === KAFKA_V2 || type === 'application/vnd.kafka+json') sawAcceptable = true
  }
  return { unacceptable: !sawAcceptable }
}

/**
 * A body sent chunked without a length: Confluent's streaming produce mode on the routes that read their body
 * as a stream (route config `streamingBody`).
 */
export function isStreamingBody (headers: { 'transfer-encoding'?: string | undefined, 'content-length'?: string | undefined }): boolean {
  return headers['transfer-encoding'] !== undefined && headers['content-length'] === undefined
}
