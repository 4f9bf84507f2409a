/**
 * The fetch decoder in place, against the real broker: a session's consumer gets its records from our decoder
 * (plain and gzip batches, headers, null keys, tombstones), the same bytes the producer sent, in order; a plain
 * kafkajs consumer in the same process still gets kafkajs' own messages (the decoder is the sessions' only).
 */
import t, { type Test as Tap } from 'tap'
import { CompressionTypes } from 'kafkajs'
import { Session } from '../../plugins/kafka/kafkajs/session.js'
import { applyKafkajsPatches } from '../../plugins/kafka/kafkajs/patches.js'
import { FetchedRecord, type BufferedRecord } from '../../plugins/kafka/driver.js'
import { createTopic, testKafka, uniqueName } from '../helpers/broker.js'
import { producer } from '../helpers/api.js'
import { waitFor } from '../helpers/wait.js'
import { produceWithJava } from '../helpers/java-producer.js'
import { registerCodecs } from '../../plugins/kafka/kafkajs/codecs.js'
import { brokers } from '../helpers/broker.js'

await applyKafkajsPatches() // as the kafka plugin does at start
const topic = await createTopic(t, uniqueName('fetch-decoder'), 2)
const prod = await producer(t)
const sent = Array.from({ length: 120 }, (_, i) => ({
  key: i % 5 === 0 ? null : `key-${i}`,
  value: i % 7 === 0 ? null : `value-${i}-${'x'.repeat(i * 13)}`,
  partition: i % 2,
  timestamp: String(1_700_000_000_000 + i),
  headers: i % 3 === 0 ? { h: [`a${i}`, `b${i}`], other: 'o' } : undefined
}))
await prod.send({ topic, messages: sent.slice(0, 60) })
await prod.send({ topic, messages: sent.slice(60), compression: CompressionTypes.GZIP })

function session (t: Tap, topics: string[], got: BufferedRecord[]): Session {
  const s = new Session({
    kafka: testKafka(),
    groupId: uniqueName('g'),
    topics,
    fromBeginning: true,
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 200,
    maxBytes: 1048576,
    handlers: {
      onJoin () {},
      onRecords: (_topic, _partition, records) => { got.push(...records) },
      onRebalancing () {},
      onCrash () {}
    }
  })
  t.teardown(() => s.stop())
  return s
}

t.test('a session\'s records come from the fetch decoder, byte for byte what was sent', async t => {
  const got: BufferedRecord[] = []
  await session(t, [topic], got).start()
  await waitFor('every record', async () => got.length >= sent.length)
  t.equal(got.length, sent.length, 'each record once')
  t.ok(got.every(r => r instanceof FetchedRecord), 'all of them FetchedRecords, gzip batches included')
  for (const p of [0, 1]) {
    const mine = got.filter(r => r.partition === p)
    const theirs = sent.filter(m => m.partition === p)
    t.same(mine.map(r => r.offset), theirs.map((_, i) => i), `partition ${p}: offsets 0… in order`)
    t.same(mine.map(r => [r.key?.toString() ?? null, r.value?.toString() ?? null, r.timestamp]), theirs.map(m => [m.key, m.value, Number(m.timestamp)]), `partition ${p}: keys, values (tombstones as null) and timestamps`)
    t.same(
      mine.map(r => r.headers?.map(([k, v]) => [k, v?.toString() ?? null]) ?? []),
      theirs.map(m => m.headers ? [['h', m.headers.h[0]], ['h', m.headers.h[1]], ['other', 'o']] : []),
      `partition ${p}: headers in the order sent, a repeated key twice`
    )
  }
})

t.test('batches the Java producer compressed with snappy, lz4 and zstd are decoded here too (the codecs the kafka plugin registers)', async t => {
  registerCodecs()
  const javaTopic = await createTopic(t, uniqueName('fetch-decoder-java'), 1)
  const codecs = ['snappy', 'lz4', 'zstd', 'gzip'] as const
  for (const compression of codecs) {
    await produceWithJava({ brokers: brokers(), topic: javaTopic, compression, records: [0, 1, 2].map(i => ({ key: `${compression}-${i}`, value: `${compression}-value-${i}-${'z'.repeat(300)}` })) })
  }
  const got: BufferedRecord[] = []
  await session(t, [javaTopic], got).start()
  await waitFor('every record', async () => got.length >= 12)
  t.ok(got.every(r => r instanceof FetchedRecord), 'FetchedRecords, not kafkajs\' messages converted')
  t.same(got.map(r => r.key?.toString()), codecs.flatMap(c => [0, 1, 2].map(i => `${c}-${i}`)), 'in order')
  t.ok(got.every(r => r.value?.toString() === `${r.key?.toString().replace(/-(\d)$/, '-value-$1')}-${'z'.repeat(300)}`), 'values intact')
})

t.test('a plain kafkajs consumer in the same process still gets kafkajs\' messages', async t => {
  // Frequent metadata refresh: see readTopic in produce.test.ts.
  const consumer = testKafka().consumer({ groupId: uniqueName('plain'), metadataMaxAge: 1000 })
  t.teardown(() => consumer.disconnect())
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got: Array<{ offset: unknown, headers: unknown, record: boolean }> = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push({
        offset: message.offset, headers: message.headers, record: (message as unknown) instanceof FetchedRecord
      })
    }
  })
  await waitFor('every record', async () => got.length >= sent.length)
  t.ok(got.every(m => typeof m.offset === 'string' && !m.record), 'offsets as strings, kafkajs\' message objects')
  t.ok(got.some(m => Array.isArray((m.headers as Record<string, unknown>).h)), 'headers as kafkajs folds them')
})
