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
