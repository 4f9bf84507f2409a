/**
 * Compression codecs for kafkajs, which only ships GZIP: without these a Snappy/LZ4/ZSTD batch written by
 * another producer crashes the consumer for good. All three are pure JavaScript, so nothing native is built.
 */
import kafkajs from 'kafkajs'

// kafkajs is CommonJS and Node cannot see CompressionCodecs as a named export.
const { CompressionCodecs, CompressionTypes } = kafkajs
import SnappyCodec from 'kafkajs-snappy'
import * as lz4 from 'lz4js'
import { decompress as zstdDecompress } from 'fzstd'

interface Encoder { buffer: Buffer }
interface Codec { compress (encoder: Encoder): Promise<Buffer>, decompress (buffer: Buffer): Promise<Buffer> }

const lz4Codec = (): Codec => ({
  // Kafka's LZ4 codec speaks the LZ4 frame format, which lz4js reads and writes.
  async compress (encoder) { return Buffer.from(lz4.compress(encoder.buffer)) },
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
