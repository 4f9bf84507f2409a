/**
 * The port's producer side over kafkajs, without a broker: each partition's records go to kafkajs as one
 * carrier of encoded records; acknowledgements come back as numbers, in the order of the partitions asked for;
 * failures come out as KafkaErrors; and a producer that met an unknown topic is replaced, the old one
 * disconnected once none of its sends is in flight.
 */
import t from 'tap'
import type { Kafka, ProducerBatch, ProducerConfig, RecordMetadata } from 'kafkajs'
import { KafkaError, type PartitionRecords } from '../../../plugins/kafka/driver.js'
import { KafkajsProducer } from '../../../plugins/kafka/kafkajs/producer.js'
import { encodedRecordsOf } from '../../../plugins/kafka/kafkajs/record-batch.js'

interface FakeProducer {
  id: number
  config: ProducerConfig | undefined
  batches: ProducerBatch[]
  connects: number
  disconnects: number
}

/** A kafkajs client whose producers answer from `answer` (or throw what it throws). */
function fakeClient (answer: (batch: ProducerBatch, p: FakeProducer) => Promise<RecordMetadata[]>) {
  const producers: FakeProducer[] = []
  let connectError: Error | undefined
  const kafka = {
    producer (config?: ProducerConfig) {
      const p: FakeProducer = { id: producers.length, config, batches: [], connects: 0, disconnects: 0 }
      producers.push(p)
      return {
        async connect () { p.connects++; if (connectError) throw connectError },
        async disconnect () { p.disconnects++ },
        async sendBatch (batch: ProducerBatch) { p.batches.push(batch); return answer(batch, p) }
      }
    }
  } as unknown as Kafka
  return { kafka, producers, failConnect (err: Error | undefined) { connectError = err } }
}

const rec = (value: string) => ({ key: null, value: Buffer.from(value), headers: [], timestamp: 1000 })
const opts = { acks: -1, timeoutMs: 1000, compression: 'gzip' as const }
const meta = (topicName: string, partition: number, baseOffset: string, errorCode = 0): RecordMetadata =>
  ({ topicName, partition, errorCode, baseOffset, logAppendTime: '-1', logStartOffset: '0' })

t.test('one carrier per partition; acknowledgements as numbers, in the order asked for', async t => {
  const fake = fakeClient(async () => [meta('b', 0, '7'), meta('a', 2, '9007199254740000'), meta('a', 1, '0', 6)])
  const client = new KafkajsProducer({ createClient: () => fake.kafka })
  t.equal(client.requestsWritten, 0)
  const partitions: PartitionRecords[] = [
    { topic: 'a', partition: 2, records: [rec('x'), rec('y')] },
    { topic: 'b', partition: 0, records: [rec('z')] },
    { topic: 'a', partition: 1, records: [rec('w')] },
    { topic: 'a', partition: 3, records: [rec('v')] }
  ]
  const acks = await client.send(partitions, opts)
  t.same(acks, [{ baseOffset: 9007199254740000, logAppendTime: -1 }, { baseOffset: 7, logAppendTime: -1 },
    undefined, undefined], 'an error code or a missing partition is no acknowledgement')
  const [producer] = fake.producers
  t.match(producer?.config, { idempotent: false, retry: { retries: 0 }, allowAutoTopicCreation: false })
  const batch = producer?.batches[0]
  t.match(batch, { acks: -1, timeout: 1000, compression: 1 })
  t.same(batch?.topicMessages?.map(tm => [tm.topic, tm.messages.map(m => m.partition)]), [['a', [2, 1, 3]], ['b', [0]]])
  t.same(batch?.topicMessages?.[0]?.messages.map(m => encodedRecordsOf(m)?.count), [2, 1, 1], 'records encoded')
  await client.close()
  t.equal(producer?.disconnects, 1)
})

t.test('failures are KafkaErrors; a failed connect is tried again by the next call', async t => {
  const fake = fakeClient(async () => [meta('a', 0, '0')])
  const client = new KafkajsProducer({ createClient: () => fake.kafka })
  fake.failConnect(Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', code: 'ECONNREFUSED' }))
  await t.rejects(client.connect(), { name: 'KafkaError', outage: true, message: /ECONNREFUSED/ })
  await t.rejects(client.send([{ topic: 'a', partition: 0, records: [rec('x')] }], opts), KafkaError)
  fake.failConnect(undefined)
  t.same(await client.send([{ topic: 'a', partition: 0, records: [rec('x')] }], opts), [{ baseOffset: 0, logAppendTime: -1 }])
  t.equal(fake.producers[0]?.connects, 3)
  t.equal(fake.producers.length, 1, 'not replaced for an outage')
})

t.test('an unknown topic replaces the producer; the old one goes once its sends are over', async t => {
  const held: Array<() => void> = []
  const fake = fakeClient(async (batch, p) => {
    const topic = batch.topicMessages?.[0]?.topic ?? ''
    if (topic === 'slow') await new Promise<void>(resolve => held.push(resolve))
    if (topic === 'gone' && p.id === 0) {
      throw Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true })
    }
    return [meta(topic, 0, '5')]
  })
  const logged: string[] = []
  const log = { warn: (_o: object, msg: string) => { logged.push(msg) } }
  const client = new KafkajsProducer({ createClient: () => fake.kafka, log })
  const slow = client.send([{ topic: 'slow', partition: 0, records: [rec('x')] }], opts)
  for (let i = 0; i < 10 && held.length === 0; i++) await new Promise(resolve => setImmediate(resolve))
  await t.rejects(client.send([{ topic: 'gone', partition: 0, records: [rec('x')] }], opts),
    { name: 'KafkaError', kind: 'UNKNOWN_TOPIC_OR_PARTITION' })
  t.equal(fake.producers.length, 2, 'replaced')
  t.equal(logged.length, 1)
  t.equal(fake.producers[0]?.disconnects, 0, 'not while a send of it is in flight')
  t.same(await client.send([{ topic: 'gone', partition: 0, records: [rec('y')] }], opts), [{ baseOffset: 5, logAppendTime: -1 }],
    'the next send goes through the new producer')
  held.splice(0).forEach(r => r())
  t.same(await slow, [{ baseOffset: 5, logAppendTime: -1 }])
  for (let i = 0; i < 10 && fake.producers[0]?.disconnects === 0; i++) {
    await new Promise(resolve => setImmediate(resolve))
  }
  t.equal(fake.producers[0]?.disconnects, 1, 'disconnected once its last send is over')
  await client.close()
  t.equal(fake.producers[1]?.disconnects, 1)
})
