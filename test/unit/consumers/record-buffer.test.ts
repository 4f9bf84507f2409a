import t from 'tap'
import { RecordBuffer, BufferBudget, type BufferedRecord } from '../../../plugins/consumers/record-buffer.js'

const push = (b: RecordBuffer, r: BufferedRecord): void => { b.pushBatch(r.topic, r.partition, [r]) }

function rec (partition: number, offset: number, size = 10): BufferedRecord {
  return { topic: 'ns.t', partition, offset, timestamp: 0, key: null, value: Buffer.alloc(size), headers: undefined, size }
}

t.test('takes round-robin across partitions and keeps order within each', async t => {
  const b = new RecordBuffer()
  for (let i = 0; i < 3; i++) { push(b, rec(0, i)); push(b, rec(1, 100 + i)) }
  const out = b.take(1000)
  t.same(out.map(r => [r.partition, r.offset]), [[0, 0], [1, 100], [0, 1], [1, 101], [0, 2], [1, 102]])
  t.equal(b.records, 0)
  t.equal(b.bytes, 0)
})

t.test('honours max_bytes but always yields one record', async t => {
  const b = new RecordBuffer()
  push(b, rec(0, 0, 50))
  push(b, rec(0, 1, 50))
  push(b, rec(0, 2, 500))
  t.same(b.take(120).map(r => r.offset), [0, 1])
  t.same(b.take(10).map(r => r.offset), [2], 'a record larger than max_bytes still comes out alone')
  t.same(b.take(10), [])
})

t.test('a refused record stops the take and stays at the head', async t => {
  const b = new RecordBuffer()
  push(b, rec(0, 0))
  push(b, rec(0, 1))
  const out = b.take(1000, r => r.offset !== 1)
  t.same(out.map(r => r.offset), [0])
  t.equal(b.records, 1)
  t.same(b.take(1000).map(r => r.offset), [1])
})

t.test('purge drops one partition and its bytes', async t => {
  const b = new RecordBuffer()
  push(b, rec(0, 0, 7))
  push(b, rec(1, 0, 5))
  t.equal(b.purge('ns.t', 0), 7)
  t.equal(b.bytes, 5)
  t.same(b.take(100).map(r => r.partition), [1])
  t.equal(b.purge('ns.t', 9), 0)
})

t.test('large queues compact without losing records', async t => {
  const b = new RecordBuffer()
  for (let i = 0; i < 5000; i++) push(b, rec(0, i, 1))
  let next = 0
  while (b.records > 0) {
    for (const r of b.take(37)) { t.equal(r.offset, next); next++ }
  }
  t.equal(next, 5000)
})

t.test('budget signals relief once usage drops well below the limit', async t => {
  const budget = new BufferBudget(100)
  let relieved = 0
  budget.add(100)
  t.ok(budget.exhausted)
  budget.onRelief(() => { relieved++ })
  budget.release(10)
  t.equal(relieved, 0, 'still above 75 %')
  budget.release(30)
  t.equal(relieved, 1)
  budget.release(10)
  t.equal(relieved, 1, 'called once')
})

t.test('pushes after purge, clear and the empty-queue sweep land in live queues', async t => {
  const b = new RecordBuffer()
  push(b, rec(0, 0))
  b.purge('ns.t', 0)
  push(b, rec(0, 1))
  t.same(b.take(1000).map(r => r.offset), [1], 'after purge')
  push(b, rec(0, 2))
  b.clear()
  push(b, rec(0, 3))
  t.same(b.take(1000).map(r => r.offset), [3], 'after clear')
  // 64+ partitions make take() drop empty queues, including the one pushed to last.
  for (let p = 0; p < 70; p++) push(b, rec(p, 10))
  t.equal(b.take(100_000).length, 70)
  push(b, rec(69, 11))
  push(b, rec(69, 12))
  t.same(b.take(1000).map(r => [r.partition, r.offset]), [[69, 11], [69, 12]], 'after the sweep')
  t.equal(b.records, 0)
  t.equal(b.bytes, 0)
})
