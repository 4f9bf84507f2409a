/**
 * Compression codecs for kafkajs, which only ships GZIP: without these a Snappy/LZ4/ZSTD batch written by
 * another producer crashes the consumer for good. All three are pure JavaScript, so nothing native is built.
 */
import kafkajs from 'kafkajs'

// kafkajs is CommonJS and Node cannot see CompressionCodecs as a named export.
const { CompressionCodecs, CompressionTypes } = kafkajs
import SnappyCodec from 'kafkajs-snappy'
import * as lz4 from 'lz4js'
import { hash as xxh32 } from 'lz4js/xxh32.js'
import { decompress as zstdDecompress } from 'fzstd'

interface Encoder { buffer: Buffer }
interface Codec { compress (encoder: Encoder): Promise<Buffer>, decompress (buffer: Buffer): Promise<Buffer> }

const LZ4_MAGIC = 0x184D2204
const LZ4_BLOCK = 64 * 1024
// FLG: version 01, independent blocks, no checksums, no content size. BD: 64 KiB blocks (Kafka's default).
const LZ4_FLG = 0x60
const LZ4_BD = 0x40
const LZ4_INCOMPRESSIBLE = 0x80000000

/**
 * An LZ4 frame Kafka accepts. lz4js' own frames declare dependent blocks, which Kafka refuses ("Dependent
 * block stream is unsupported"), so each 64 KiB block is compressed here with a fresh hash table: no match
 * reaches into an earlier block, and the frame says so.
 */
export function lz4Frame (data: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / LZ4_BLOCK))
  const out = Buffer.allocUnsafe(7 + blocks * (4 + lz4.compressBound(LZ4_BLOCK)) + 4)
  out.writeUInt32LE(LZ4_MAGIC, 0)
  out[4] = LZ4_FLG
  out[5] = LZ4_BD
  out[6] = (xxh32(0, out, 4, 2) >>> 8) & 0xFF
  let pos = 7
  const hashTable = new Uint32Array(1 << 16)
  for (let start = 0; start < data.length; start += LZ4_BLOCK) {
    const block = data.subarray(start, Math.min(start + LZ4_BLOCK, data.length))
    hashTable.fill(0)
    const size = lz4.compressBlock(block, out.subarray(pos + 4), 0, block.length, hashTable)
    if (size === 0 || size >= block.length) {
      out.writeUInt32LE((LZ4_INCOMPRESSIBLE | block.length) >>> 0, pos)
      block.copy(out, pos + 4)
      pos += 4 + block.length
    } else {
      out.writeUInt32LE(size, pos)
      pos += 4 + size
    }
  }
  out.writeUInt32LE(0, pos) // end mark
  return out.subarray(0, pos + 4)
}

const lz4Codec = (): Codec => ({
  async compress (encoder) { return lz4Frame(encoder.buffer) },
  async decompress (buffer) { return Buffer.from(lz4.decompress(buffer)) }
})

const ZSTD_MAGIC = 0xFD2FB528
const ZSTD_MAX_BLOCK = 128 * 1024

/**
 * A valid Zstandard frame made of raw (stored) blocks: spec-conformant and readable by every zstd decoder.
 * The gateway only consumes, so producing uncompressed frames costs nothing that matters and needs no
 * native encoder.
 */
export function zstdStoredFrame (data: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / ZSTD_MAX_BLOCK))
  const out = Buffer.alloc(4 + 1 + 8 + blocks * 3 + data.length)
  out.writeUInt32LE(ZSTD_MAGIC, 0)
  out[4] = 0xE0 // 8-byte frame content size, single segment, no checksum, no dictionary
  out.writeBigUInt64LE(BigInt(data.length), 5)
  let pos = 13
  for (let i = 0; i < blocks; i++) {
    const chunk = data.subarray(i * ZSTD_MAX_BLOCK, (i + 1) * ZSTD_MAX_BLOCK)
    const last = i === blocks - 1 ? 1 : 0
    const header = last | (0 << 1) | (chunk.length << 3) // block type 0 = raw
    out.writeUIntLE(header, pos, 3)
    pos += 3
    chunk.copy(out, pos)
    pos += chunk.length
  }
  return out
}

const zstdCodec = (): Codec => ({
  async compress (encoder) { return zstdStoredFrame(encoder.buffer) },
  async decompress (buffer) { return Buffer.from(zstdDecompress(buffer)) }
})

let registered = false

/** Idempotent: codecs are a process-wide kafkajs table. */
export function registerCodecs (): void {
  if (registered) return
  const table = CompressionCodecs as Record<number, () => Codec>
  table[CompressionTypes.Snappy] = SnappyCodec as unknown as () => Codec
  table[CompressionTypes.LZ4] = lz4Codec
  table[CompressionTypes.ZSTD] = zstdCodec
  registered = true
}
