import t from 'tap'
import { decompress } from 'fzstd'
import kafkajs from 'kafkajs'

// kafkajs is CommonJS and Node cannot see CompressionCodecs as a named export.
const { CompressionCodecs, CompressionTypes } = kafkajs
import { randomBytes } from 'node:crypto'
import * as lz4 from 'lz4js'
import { hash as xxh32 } from 'lz4js/xxh32.js'
import { lz4Frame, registerCodecs, zstdStoredFrame } from '../../../plugins/kafka/kafkajs/codecs.js'

t.test('zstd stored frames decode with a real zstd decoder, across block boundaries', async t => {
  for (const size of [0, 1, 1000, 128 * 1024, 300 * 1024 + 7]) {
    const data = Buffer.alloc(size, 0).map((_, i) => i % 251)
    const frame = zstdStoredFrame(Buffer.from(data))
    t.same(Buffer.from(decompress(frame)), Buffer.from(data), `size ${size}`)
  }
})

t.test('snappy, lz4 and zstd codecs round-trip through the kafkajs codec table', async t => {
  registerCodecs()
  const input = Buffer.from('hello kafka '.repeat(500))
  for (const type of [CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD]) {
    const codec = (CompressionCodecs as Record<number, () => {
      compress (e: { buffer: Buffer }): Promise<Buffer>, decompress (b: Buffer): Promise<Buffer>
    }>)[type]
    t.ok(codec, `codec ${type} registered`)
    const c = (codec as () => {
      compress (e: { buffer: Buffer }): Promise<Buffer>, decompress (b: Buffer): Promise<Buffer>
    })()
    const packed = await c.compress({ buffer: input })
    t.same(await c.decompress(packed), input)
  }
})

t.test('lz4 frames declare independent blocks and round-trip across block boundaries', async t => {
  // Kafka refuses frames with dependent blocks (FLG bit 5 clear) and checks the descriptor checksum.
  for (const size of [0, 10, 64 * 1024, 64 * 1024 + 1, 300_000]) {
    const data = Buffer.alloc(size)
    for (let i = 0; i < size; i++) data[i] = (i % 7 === 0 ? (i * 31) & 0xFF : 65 + (i % 13))
    const frame = lz4Frame(data)
    t.equal(frame.readUInt32LE(0), 0x184D2204, `${size}: magic`)
    t.equal(frame[4], 0x60, `${size}: version 1, independent blocks`)
    t.equal(frame[5], 0x40, `${size}: 64 KiB blocks`)
    t.equal(frame[6], (xxh32(0, frame, 4, 2) >>> 8) & 0xFF, `${size}: descriptor checksum`)
    t.same(Buffer.from(lz4.decompress(frame)), data, `${size}: lz4js reads it back`)
  }
  // Independence: each block, framed alone, decodes to its own 64 KiB of the input.
  const data = Buffer.from('abcabcabd'.repeat(30_000))
  const frame = lz4Frame(data)
  let pos = 7
  for (let start = 0; start < data.length; start += 64 * 1024) {
    const word = frame.readUInt32LE(pos)
    const size = word & 0x7FFFFFFF
    const alone = Buffer.concat([frame.subarray(0, 7), frame.subarray(pos, pos + 4 + size), Buffer.alloc(4)])
    t.same(Buffer.from(lz4.decompress(alone)), data.subarray(start, start + 64 * 1024), `block at ${start} stands alone`)
    pos += 4 + size
  }
  const random = randomBytes(100_000)
  t.same(Buffer.from(lz4.decompress(lz4Frame(random))), random, 'incompressible blocks are stored raw')
})
