/**
 * Keyed records produced over REST land on the partitions the Java producer picks for the same keys
 * (issue 12, Produce item 6): the same keys go through the real Java client (Kafka's console producer from
 * the broker's jars) into a topic with the same partition count, and both topics are read back.
 * Records without a key are spread over the partitions.
 */
import t from 'tap'
import { build } from '../helpers/app.js'
import { apiUser, shortName } from '../helpers/api.js'
import { brokers, createTopic, testKafka, uniqueName } from '../helpers/broker.js'
import { produceWithJava } from '../helpers/java-producer.js'

// Generous: on a loaded 2-core CI machine four consumer-group reads of new topics can take minutes.
t.setTimeout(600_000)

const { app, globus } = await build(t)
const alice = await apiUser(app, globus)

/** key -> partition of every keyed record of `topic`, and the partitions of records without a key. */
async function partitionsOf (topic: string, count: number): Promise<{ keyed: Map<string, number>, unkeyed: number[] }> {
  // A group leader whose metadata of a new topic still lacks some partitions assigns only the others and
  // would wait for kafkajs' 5-minute metadata refresh to notice: refresh often instead.
  const consumer = testKafka().consumer({ groupId: shortName('read'), maxWaitTimeInMs: 100, metadataMaxAge: 1000 })
  await consumer.connect()
  const keyed = new Map<string, number>()
  const unkeyed: number[] = []
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })
  let expired = false
  const deadline = setTimeout(() => { expired = true; done() }, 120_000)
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (message.key === null) unkeyed.push(partition)
        else keyed.set(message.key.toString(), partition)
        if (keyed.size + unkeyed.length >= count) done()
      }
    })
    await finished
  } finally {
    clearTimeout(deadline)
    await consumer.disconnect()
  }
  // Fail as what it is (a slow read), not as a misleading partition mismatch.
  if (expired) throw new Error(`${topic}: read ${keyed.size + unkeyed.length} of ${count} records in 120 s`)
  return { keyed, unkeyed }
}

t.test('keyed records: the Java client\'s partitions, for 7 and 16 partitions', async t => {
  const keys = Array.from({ length: 200 }, (_, i) => i % 3 === 0 ? `job-${i}` : i % 3 === 1 ? `ключ-${i}-✓` : `${i * 7919}`)
  for (const partitions of [7, 16]) {
    const topic = await alice.topic(partitions)
    const res = await alice.req('POST', `${alice.ns}/topics/${topic}/records:batch`, JSON.stringify({
      entries: keys.map((k, i) => ({ id: String(i), key: { type: 'STRING', data: k }, value: { type: 'STRING', data: 'v' } }))
    }), { 'content-type': 'application/json' })
    t.equal(res.statusCode, 207)
    t.equal(res.json().successes.length, keys.length)
    const javaTopic = await createTopic(t, uniqueName('java-partitions'), partitions)
    await produceWithJava({ brokers: brokers(), topic: javaTopic, compression: 'gzip', records: keys.map(key => ({ key, value: 'v' })) })
    const rest = await partitionsOf(`${alice.ns}.${topic}`, keys.length)
    const java = await partitionsOf(javaTopic, keys.length)
    t.equal(java.keyed.size, keys.length)
    const differ = keys.filter(k => rest.keyed.get(k) !== java.keyed.get(k))
    t.same(differ, [], `${partitions} partitions: every key on the Java client's partition`)
    t.ok(new Set(java.keyed.values()).size > 1, 'the keys use several partitions')
    // The reported partition is the one the record is on.
    const successes = res.json().successes as Array<{ id: string, partition_id: number }>
    const reported = new Map(successes.map(s => [keys[Number(s.id)], s.partition_id]))
    t.same(keys.filter(k => reported.get(k) !== rest.keyed.get(k)), [])
  }
})

t.test('records without a key are spread over the partitions', async t => {
  const topic = await alice.topic(4)
  const res = await alice.req('POST', `${alice.ns}/topics/${topic}/records:batch`, JSON.stringify({
    entries: Array.from({ length: 40 }, (_, i) => ({ id: String(i), value: { type: 'JSON', data: i } }))
  }), { 'content-type': 'application/json' })
  t.equal(res.statusCode, 207)
  const used = new Set((res.json().successes as Array<{ partition_id: number }>).map(s => s.partition_id))
  t.same([...used].sort(), [0, 1, 2, 3])
})
