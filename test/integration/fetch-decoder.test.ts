/**
 * The fetch decoder in place, against the real broker: a session's consumer gets its records from our decoder
 * (plain and gzip batches, headers, null keys, tombstones), the same bytes the producer sent, in order; a plain
 * kafkajs consumer in the same process still gets kafkajs' own messages (the decoder is the sessions' only).
 */
import t from 'tap'
import { CompressionTypes } from 'kafkajs'
import { Session } from '../../plugins/consumers/session.js'
import { FetchedRecord, type BufferedRecord } from '../../plugins/consumers/record-buffer.js'
import { createTopic, testKafka, uniqueName } from '../helpers/broker.js'
import { producer } from '../helpers/api.js'
import { waitFor } from '../helpers/wait.js'

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

t.test('a session\'s records come from the fetch decoder, byte for byte what was sent', async t => {
  const got: BufferedRecord[] = []
  const s = new Session({
    kafka: testKafka(),
    groupId: uniqueName('g'),
    topics: [topic],
    fromBeginning: true,
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 200,
    maxBytes: 1048576,
    handlers: { onJoin () {}, onRecords: (_topic, _partition, records) => { got.push(...records) }, onRebalancing () {}, onCrash () {} }
  })
  t.teardown(() => s.stop())
  await s.start()
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

t.test('a plain kafkajs consumer in the same process still gets kafkajs\' messages', async t => {
  const consumer = testKafka().consumer({ groupId: uniqueName('plain') })
  t.teardown(() => consumer.disconnect())
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got: Array<{ offset: unknown, headers: unknown, record: boolean }> = []
  await consumer.run({ eachMessage: async ({ message }) => { got.push({ offset: message.offset, headers: message.headers, record: (message as unknown) instanceof FetchedRecord }) } })
  await waitFor('every record', async () => got.length >= sent.length)
  t.ok(got.every(m => typeof m.offset === 'string' && !m.record), 'offsets as strings, kafkajs\' message objects')
  t.ok(got.some(m => Array.isArray((m.headers as Record<string, unknown>).h)), 'headers as kafkajs folds them')
})
