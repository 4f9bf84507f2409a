// Proves the local broker from scripts/broker.ts offers what the other tests rely on:
// a PLAINTEXT listener, SASL PLAIN / SCRAM-SHA-512 / OAUTHBEARER on the SASL listener,
// and a Java producer that writes compressed batches.
import t from 'tap'
import { rmSync } from 'node:fs'
import { Kafka, logLevel, type SASLOptions } from 'kafkajs'
import { brokers, createTopic, saslBrokers, testKafka, uniqueName, unsecuredJwt } from '../helpers/broker.js'
import { produceWithJava } from '../helpers/java-producer.js'
import { privateBrokerConfig, RUN_DIR } from '../../scripts/broker.js'
import { freePorts } from '../../scripts/ports.js'

function saslKafka (sasl: SASLOptions): Kafka {
  return new Kafka({
    clientId: 'broker-tooling-test',
    brokers: saslBrokers(),
    sasl,
    // Fail fast on bad credentials instead of retrying for half a minute.
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING
  })
}

async function listTopicsWith (sasl: SASLOptions): Promise<string[]> {
  const admin = saslKafka(sasl).admin()
  await admin.connect()
  try {
    return await admin.listTopics()
  } finally {
    await admin.disconnect()
  }
}

t.test('PLAINTEXT listener round-trips a record', async (t) => {
  const topic = await createTopic(t, uniqueName('tooling-roundtrip'), 1)
  const kafka = testKafka()

  const producer = kafka.producer()
  await producer.connect()
  t.teardown(() => producer.disconnect())
  await producer.send({ topic, messages: [{ key: 'k1', value: 'hello broker' }] })

  const consumer = kafka.consumer({ groupId: uniqueName('tooling-group'), sessionTimeout: 6000, heartbeatInterval: 500 })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const received = await new Promise<{ key: string, value: string }>((resolve, reject) => {
    // Fail with a clear message instead of tap's whole-file timeout.
    const timer = setTimeout(() => reject(new Error('no record consumed within 30 s')), 30_000)
    consumer.run({
      eachMessage: async ({ message }) => {
        clearTimeout(timer)
        resolve({ key: String(message.key), value: String(message.value) })
      }
    }).catch(reject)
  })
  t.same(received, { key: 'k1', value: 'hello broker' })
})

t.test('SASL listener', async (t) => {
  t.test('PLAIN as alice', async (t) => {
    const topics = await listTopicsWith({ mechanism: 'plain', username: 'alice', password: 'alice-secret' })
    t.ok(Array.isArray(topics), 'authenticated and listed topics')
  })

  t.test('SCRAM-SHA-512 as alice', async (t) => {
    const topics = await listTopicsWith({ mechanism: 'scram-sha-512', username: 'alice', password: 'alice-secret' })
    t.ok(Array.isArray(topics), 'authenticated and listed topics')
  })

  t.test('OAUTHBEARER with an unsecured JWT', async (t) => {
    let calls = 0
    const topics = await listTopicsWith({
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => {
        calls++
        return { value: unsecuredJwt('alice') }
      }
    })
    t.ok(Array.isArray(topics), 'authenticated and listed topics')
    t.ok(calls >= 1, 'token provider was asked for a token')
  })

  t.test('wrong PLAIN password is rejected', async (t) => {
    await t.rejects(
      listTopicsWith({ mechanism: 'plain', username: 'alice', password: 'not-the-secret' }),
      { name: 'KafkaJSSASLAuthenticationError' }
    )
  })

  t.test('wrong SCRAM password is rejected', async (t) => {
    await t.rejects(
      listTopicsWith({ mechanism: 'scram-sha-512', username: 'alice', password: 'not-the-secret' }),
      { name: 'KafkaJSSASLAuthenticationError' }
    )
  })
})

t.test('Java producer writes zstd-compressed records', async (t) => {
  const topic = await createTopic(t, uniqueName('tooling-java-zstd'), 1)
  const admin = testKafka().admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())

  const before = await admin.fetchTopicOffsets(topic)
  t.equal(before[0]?.high, '0', 'new topic is empty')

  await produceWithJava({
    brokers: brokers(),
    topic,
    compression: 'zstd',
    records: [
      { key: 'a', value: 'first' },
      { key: null, value: 'second, without a key' },
      { key: 'c', value: '{"json":true}' }
    ]
  })

  const after = await admin.fetchTopicOffsets(topic)
  t.equal(after[0]?.high, '3', 'end offset advanced by the three records')
})

t.test('private brokers get distinct free ports (two Kafka listeners on one port refuse to start)', async (t) => {
  // Ports closed one by one may come back from the next bind(0); 200 draws collide often that way.
  const ports = await freePorts(200)
  t.equal(ports.length, 200)
  t.equal(new Set(ports).size, 200, 'no port repeats')
  const cfg = await privateBrokerConfig('diaspora-ports-')
  t.teardown(() => rmSync(cfg.runDir, { recursive: true, force: true }))
  t.equal(new Set([cfg.port, cfg.saslPort, cfg.controllerPort]).size, 3, 'listener ports are distinct')
  t.not(cfg.runDir, RUN_DIR, 'its own run folder, not the shared broker\'s')
  t.equal(cfg.keepData, false)
})
