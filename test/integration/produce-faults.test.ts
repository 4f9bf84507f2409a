/**
 * Produce under refusal and failure (issue 12, Produce items 5 and 6): 429 with Retry-After when the
 * in-flight budget is spent, 503 with the broker stopped (nothing sent, a retry after the restart writes the
 * record once), and the shutdown drain (every record answered 200 is in Kafka, every 503 wrote nothing).
 * The stopped broker is a private one of this test (own ports and folder); the shared broker is never touched.
 */
import t from 'tap'
import { rmSync } from 'node:fs'
import { Kafka, logLevel } from 'kafkajs'
import { privateBrokerConfig, startBroker, stopBroker } from '../../scripts/broker.js'
import { build } from '../helpers/app.js'
import { apiUser, type ApiUser } from '../helpers/api.js'
import { testKafka } from '../helpers/broker.js'
import { waitFor } from '../helpers/wait.js'

t.setTimeout(240_000)

const JSON_CT = { 'content-type': 'application/json' }
const record = (data: unknown) => JSON.stringify({ value: { type: 'JSON', data } })
const post = (user: ApiUser, topic: string, body: string, suffix = 'records') =>
  user.req('POST', `${user.ns}/topics/${topic}/${suffix}`, body, JSON_CT)

async function totalRecords (kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high), 0)
  } finally {
    await admin.disconnect()
  }
}

t.test('a tiny in-flight budget: 429/42901 with Retry-After, and nothing written for them', async t => {
  const { app, globus } = await build(t, { env: { PRODUCE_MAX_IN_FLIGHT_BYTES: '100', PRODUCE_MAX_RECORD_BYTES: '100', PRODUCE_RETRY_AFTER_SECONDS: '2' } })
  const user = await apiUser(app, globus)
  const topic = await user.topic(1)
  // Connects the producer and caches the topic's metadata, so the burst below reaches admission together.
  t.equal((await post(user, topic, record('warm-up'))).statusCode, 200)
  const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => post(user, topic, record('x'.repeat(60) + i))))
  const ok = burst.filter(r => r.statusCode === 200)
  const refused = burst.filter(r => r.statusCode === 429)
  t.equal(ok.length + refused.length, burst.length, 'every answer is 200 or 429')
  t.ok(refused.length > 0, 'some requests were not admitted')
  for (const r of refused) {
    t.equal(r.json().error_code, 42901)
    t.equal(r.headers['retry-after'], '2')
  }
  t.equal(await totalRecords(testKafka(), `${user.ns}.${topic}`), 1 + ok.length, 'only the admitted records were written')
  // A batch too is refused as a whole, before anything is sent.
  const batch = await Promise.all([0, 1, 2].map(j => post(user, topic, JSON.stringify({
    entries: [0, 1].map(i => ({ id: String(i), value: { type: 'STRING', data: 'y'.repeat(60) + j } }))
  }), 'records:batch')))
  t.ok(batch.every(r => r.statusCode === 207 || r.statusCode === 429), batch.map(r => r.statusCode).join())
  const batchOk = batch.filter(r => r.statusCode === 207).length
  t.equal(await totalRecords(testKafka(), `${user.ns}.${topic}`), 1 + ok.length + 2 * batchOk)
})

t.test('shutdown drain: every 200 is in Kafka, every 503 wrote nothing', async t => {
  const { app, globus } = await build(t)
  const user = await apiUser(app, globus)
  const topic = await user.topic(2)
  t.equal((await post(user, topic, record('first'))).statusCode, 200)
  const requests = Array.from({ length: 40 }, (_, i) => post(user, topic, record(i)))
  const closed = app.close()
  const answers = await Promise.all(requests)
  await closed
  const statuses = answers.map(r => r.statusCode)
  t.ok(statuses.every(s => s === 200 || s === 503), statuses.join())
  for (const r of answers.filter(a => a.statusCode === 503)) t.equal(r.json().error_code, 50302)
  t.equal(await totalRecords(testKafka(), `${user.ns}.${topic}`), 1 + statuses.filter(s => s === 200).length)
})

t.test('broker stopped: 503/50302 before anything is sent; the retry after the restart writes once', async t => {
  const cfg = await privateBrokerConfig('diaspora-produce-broker-')
  await startBroker(cfg)
  t.teardown(async () => {
    await stopBroker(cfg)
    rmSync(cfg.runDir, { recursive: true, force: true })
  })
  const bootstrap = `127.0.0.1:${cfg.port}`
  const { app, globus } = await build(t, { env: { DEFAULT_SERVERS: bootstrap, KAFKA_CONNECTION_TIMEOUT_MS: '1000', KAFKA_REQUEST_TIMEOUT_MS: '5000' } })
  const user = await apiUser(app, globus)
  const topic = await user.topic(1)
  const kafkaTopic = `${user.ns}.${topic}`
  t.equal((await post(user, topic, record('before'))).statusCode, 200)

  await stopBroker(cfg)
  const single = await post(user, topic, record('retry-me'))
  t.equal(single.statusCode, 503, single.body)
  t.equal(single.json().error_code, 50302)
  const batch = await post(user, topic, JSON.stringify({ entries: [{ id: 'a', value: { type: 'JSON', data: 'batch' } }] }), 'records:batch')
  t.equal(batch.statusCode, 503, batch.body)
  t.equal(batch.json().error_code, 50302)

  await startBroker({ ...cfg, keepData: true })
  // The client's retry, as the SDK does on 503: until the restarted broker takes it.
  let status = 0
  await waitFor('the retried record to be accepted', async () => {
    const r = await post(user, topic, record('retry-me'))
    status = r.statusCode
    if (status !== 200 && status !== 503) throw new Error(`unexpected ${status}: ${r.body}`)
    return status === 200
  }, 90_000)
  const kafka = new Kafka({ clientId: 'produce-faults', brokers: [bootstrap], logLevel: logLevel.NOTHING })
  t.equal(await totalRecords(kafka, kafkaTopic), 2, 'the record before the stop and the retried record, once')
})
