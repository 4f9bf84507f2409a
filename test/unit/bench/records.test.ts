/** The benchmark's record counter: the same count whatever the chunking, matches across chunk ends included. */
import t from 'tap'
import { RecordCounter, countRecords } from '../../../bench/lib/records.js'

const body = Buffer.from(JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ topic: 't', key: null, value: 'x'.repeat(i % 7), partition: i % 3, offset: i, timestamp: 5 }))))

t.test('a whole body', async t => {
  t.equal(countRecords(body), 40)
  t.equal(countRecords(Buffer.from('[]')), 0)
})

t.test('split in two at every position, and in chunks of every size from 1 to 40 bytes', async t => {
  const wrong: string[] = []
  for (let at = 0; at <= body.length; at++) {
    const n = new RecordCounter().push(body.subarray(0, at)).push(body.subarray(at)).count
    if (n !== 40) wrong.push(`split at ${at}: ${n}`)
  }
  for (let size = 1; size <= 40; size++) {
    const c = new RecordCounter()
    for (let i = 0; i < body.length; i += size) c.push(body.subarray(i, i + size))
    if (c.count !== 40) wrong.push(`chunks of ${size}: ${c.count}`)
  }
  t.same(wrong, [])
})
