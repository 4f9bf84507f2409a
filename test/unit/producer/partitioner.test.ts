import t from 'tap'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { murmur2, partitionForKey, Spreader, toPositive } from '../../../plugins/producer/partitioner.js'

const require = createRequire(import.meta.url)
// kafkajs' Java-compatible murmur2 (its DefaultPartitioner), as the reference for random keys.
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number

t.test('murmur2 matches Kafka\'s Java values', async t => {
  // Known values of org.apache.kafka.common.utils.Utils.murmur2 (from Kafka's UtilsTest).
  t.equal(murmur2(Buffer.from('21')), -973932308)
  t.equal(murmur2(Buffer.from('foobar')), -790332482)
  t.equal(murmur2(Buffer.from('a-little-bit-long-string')), -985981536)
  t.equal(murmur2(Buffer.from('a-little-bit-longer-string')), -1486304829)
  t.equal(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')), -58897971)
  t.equal(murmur2(Buffer.from([97, 98, 99])), 479470107)
})

t.test('murmur2 matches kafkajs\' partitioner for random keys of every length', async t => {
  for (let len = 0; len < 200; len++) {
    for (let i = 0; i < 5; i++) {
      const key = randomBytes(len)
      t.equal(murmur2(key), kafkajsMurmur2(key), `length ${len}`)
    }
  }
})

t.test('toPositive drops the sign bit; partitions are in range', async t => {
  t.equal(toPositive(-1), 0x7fffffff)
  t.equal(toPositive(-2147483648), 0)
  t.equal(toPositive(5), 5)
  for (let i = 0; i < 200; i++) {
    const p = partitionForKey(randomBytes(8), 7)
    t.ok(p >= 0 && p < 7)
  }
})

t.test('records without a key go round-robin per topic', async t => {
  const s = new Spreader()
  const first = s.next('a', 3)
  t.same([s.next('a', 3), s.next('a', 3), s.next('a', 3)], [(first + 1) % 3, (first + 2) % 3, first])
  t.ok(s.next('b', 1) === 0)
})
