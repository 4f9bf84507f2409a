import t from 'tap'
import { createRequire } from 'node:module'
import { crc32c } from '../../../plugins/kafka/kafkajs/crc32c.js'

const require = createRequire(import.meta.url)
// kafkajs' own CRC-32C (one table, a byte at a time): the reference.
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number

let seed = 24681357
const rand = (n: number): number => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) % n
}
const randomBuffer = (length: number): Buffer => {
  const b = Buffer.alloc(length)
  for (let i = 0; i < length; i++) b[i] = rand(256)
  return b
}

t.test('known values', async t => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the CRC-32C check value')
  t.equal(crc32c(Buffer.alloc(0)), 0)
  t.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa, 'RFC 3720 B.4: 32 bytes of zeros')
  t.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43, 'RFC 3720 B.4: 32 bytes of ones')
})

t.test('equals kafkajs on random buffers of every length 0-4096, and larger ones', async t => {
  let ok = 0
  let total = 0
  const check = (b: Uint8Array): void => {
    total++
    if (crc32c(b) === kafkajsCrc32C(Buffer.from(b.buffer, b.byteOffset, b.length))) ok++
    else t.fail(`length ${b.length}: ${crc32c(b)} != ${kafkajsCrc32C(Buffer.from(b))}`)
  }
  for (let length = 0; length <= 4096; length++) check(randomBuffer(length))
  for (const length of [65536, 65537, 1048576 + 3]) check(randomBuffer(length))
  // Views at odd offsets into a larger buffer.
  const big = randomBuffer(10000)
  for (let k = 0; k < 200; k++) {
    const start = rand(5000)
    check(big.subarray(start, start + rand(5000)))
  }
  t.equal(ok, total)
})

t.test('the patched kafkajs record batch encoder writes the same bytes as before', async t => {
  type Batch = (o: Record<string, unknown>) => Promise<{ buffer: Buffer }>
  const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: Record<string, unknown>) => unknown
  const before = (require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: Batch }).RecordBatch
  const { patchKafkajsCrc32C } = await import('../../../plugins/kafka/kafkajs/patches.js')
  t.equal(patchKafkajsCrc32C(), true)
  t.equal(require('kafkajs/src/protocol/recordBatch/crc32C/index.js'), require('kafkajs/src/protocol/recordBatch/crc32C/index.js'))
  const after = (require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: Batch }).RecordBatch
  t.not(after, before, 'the encoder loaded again')
  for (const count of [1, 7, 500]) {
    const records = Array.from({ length: count }, (_, i) => Record({
      offsetDelta: i, timestampDelta: i, key: null, value: randomBuffer(rand(2000)), headers: {}
    }))
    const o = {
      firstTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_000_000 + count, lastOffsetDelta: count - 1, records
    }
    t.same((await after(o)).buffer, (await before(o)).buffer, `${count} records`)
  }
})

t.test('the patched record encoder writes what kafkajs\' own writes, in one buffer of the exact size', async t => {
  type Enc = { buf: Buffer, offset: number, buffer: Buffer }
  const path = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js')
  // kafkajs' own encoder, loaded apart from the (patched) one in require's cache.
  const cached = require.cache[path]
  delete require.cache[path]
  const original = require(path) as (r: Record<string, unknown>) => Enc
  if (cached) require.cache[path] = cached
  const { patchKafkajsRecordHeaders } = await import('../../../plugins/kafka/kafkajs/patches.js')
  t.equal(patchKafkajsRecordHeaders(), true)
  const patched = require(path) as (r: Record<string, unknown>) => Enc
  t.not(patched, original)
  let ok = 0
  const N = 400
  for (let i = 0; i < N; i++) {
    const r = {
      offsetDelta: rand(3) === 0 ? rand(100000) : rand(100),
      timestampDelta: rand(4) === 0 ? rand(2 ** 31) * 1000 : rand(1000),
      key: [null, randomBuffer(rand(40)), 'a key ü'][rand(3)],
      value: [null, randomBuffer(rand(3000)), 'a value'][rand(3)],
      headers: rand(2) === 0 ? {} : { h1: randomBuffer(rand(20)), 'h-ü': ['x', randomBuffer(3)] }
    }
    const a = patched(r)
    const b = original(r)
    if (a.buffer.equals(b.buffer) && a.offset === a.buf.length) ok++
    else t.fail(`record ${i}: ${a.buffer.toString('hex').slice(0, 80)} / ${b.buffer.toString('hex').slice(0, 80)}, ${a.offset} of ${a.buf.length}`)
  }
  t.equal(ok, N)
})
