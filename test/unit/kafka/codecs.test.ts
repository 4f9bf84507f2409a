import t from 'tap'
import { decompress } from 'fzstd'
import kafkajs from 'kafkajs'

// kafkajs is CommonJS and Node cannot see CompressionCodecs as a named export.
const { CompressionCodecs, CompressionTypes } = kafkajs
import { registerCodecs, zstdStoredFrame } from '../../../plugins/kafka/codecs.js'

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
    const codec = (CompressionCodecs as Record<number, () => { compress (e: { buffer: Buffer }): Promise<Buffer>, decompress (b: Buffer): Promise<Buffer> }>)[type]
    t.ok(codec, `codec ${type} registered`)
    const c = (codec as () => { compress (e: { buffer: Buffer }): Promise<Buffer>, decompress (b: Buffer): Promise<Buffer> })()
    const packed = await c.compress({ buffer: input })
    t.same(await c.decompress(packed), input)
  }
})
