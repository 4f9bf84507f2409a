/**
 * The pool of answer buffers: sizes rounded to powers of two, best fit on reuse, a buffer never handed out twice
 * at once, and bounded idle memory. And a Delivery rendered into the pool gives its buffer back on release().
 */
import t from 'tap'
import { BufferPool } from '../../../plugins/consumers/buffer-pool.js'
import { Delivery } from '../../../plugins/consumers/format.js'
import type { BufferedRecord } from '../../../plugins/consumers/record-buffer.js'

t.test('acquire rounds up to a power of two of at least 64 KiB; a released buffer is reused, best fit first', async t => {
  const pool = new BufferPool()
  const a = pool.acquire(10)
  const b = pool.acquire(200_000)
  t.equal(a.length, 65536)
  t.equal(b.length, 262144)
  t.equal(a.buffer.byteLength, a.length, 'its own ArrayBuffer, not a slice of Node\'s pool')
  pool.release(b)
  pool.release(a)
  t.ok(pool.acquire(1000) === a, 'the smallest that fits')
  t.ok(pool.acquire(1000) === b, 'a buffer handed out is not handed out again before it is released: the next that fits')
  t.equal(pool.acquire(100_000).length, 131072, 'none left: a new one')
  t.same(pool.stats, { acquired: 5, reused: 2 })
})

t.test('a small answer does not take an idle buffer more than four times its size (or 256 KiB)', async t => {
  const pool = new BufferPool()
  const big = pool.acquire(4 * 1048576)
  pool.release(big)
  t.not(pool.acquire(1024).length, big.length, 'a 1 KiB answer gets a 64 KiB buffer of its own')
  t.ok(pool.acquire(1048576 + 1) === big, 'an answer of a quarter of it or more takes it')
})

t.test('idle memory is bounded: larger buffers are kept over smaller ones, oversized and foreign ones are dropped', async t => {
  const pool = new BufferPool(1048576, 524288)
  const small = [pool.acquire(65536), pool.acquire(65536)]
  const big = pool.acquire(524288)
  const huge = pool.acquire(600_000)
  for (const b of small) pool.release(b)
  pool.release(huge)
  t.equal(pool.idleBytes, 131072, 'larger than maxBuffer: not kept')
  pool.release(big)
  t.equal(pool.idleBytes, 655360)
  const big2 = pool.acquire(524289)
  pool.release(pool.acquire(524288)) // takes `big` and gives it back
  pool.release(big2) // 1 MiB: over maxBuffer
  t.equal(pool.idleBytes, 655360)
  const other = Buffer.allocUnsafeSlow(524288)
  pool.release(other) // 655360 + 524288 > 1 MiB: the small ones make room
  t.equal(pool.idleBytes, 1048576, 'the two small buffers gave way to the large one')
  pool.release(Buffer.alloc(65536).subarray(1)) // a slice: never pooled
  pool.release(other)
  t.equal(pool.idleBytes, 1048576, 'a slice, and a buffer already idle, are not taken')
})

function record (offset: number, value: string): BufferedRecord {
  return { topic: 'ns.t', partition: 0, offset, timestamp: 5, key: null, value: Buffer.from(value), headers: undefined, size: value.length }
}

t.test('a delivery renders into a pooled buffer and gives it back on release, once', async t => {
  const pool = new BufferPool()
  const d = new Delivery([record(1, 'a'), record(2, 'bc')], 'binary', k => k.slice(3))
  const body = d.render(pool)
  t.same(JSON.parse(body.toString()), [
    { topic: 't', key: null, value: 'YQ==', partition: 0, offset: 1, timestamp: 5, headers: [] },
    { topic: 't', key: null, value: 'YmM=', partition: 0, offset: 2, timestamp: 5, headers: [] }
  ])
  t.equal(body.buffer.byteLength, 65536, 'written into a pool buffer')
  t.equal(pool.idleBytes, 0)
  const done = d.releaser()
  d.release() // detached already: nothing
  t.equal(pool.idleBytes, 0)
  done()
  done()
  t.equal(pool.idleBytes, 65536, 'given back once, by the releaser')
  t.ok(pool.acquire(10).buffer === body.buffer, 'and handed out again')
  const unpooled = new Delivery([record(3, 'x')], 'binary', k => k)
  unpooled.render()
  unpooled.release()
  t.equal(pool.stats.acquired, 2, 'a render without a pool takes nothing from it')
})
