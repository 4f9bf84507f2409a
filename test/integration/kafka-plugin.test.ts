/**
 * The Kafka plugin's clients, built from configuration exactly as the service builds them, round-trip a
 * record on every supported local mechanism; /ready reports a broker that does not answer.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { KafkaService } from '../../plugins/kafka/kafka-service.js'
import { loadConfig } from '../../plugins/config/config.js'
import { brokers, createTopic, saslBrokers, uniqueName, unsecuredJwt } from '../helpers/broker.js'
import { build } from '../helpers/app.js'

const variants: Array<[string, Record<string, string>]> = [
  ['PLAINTEXT', { DEFAULT_SERVERS: brokers().join(',') }],
  ['SASL PLAIN', { DEFAULT_SERVERS: saslBrokers().join(','), KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: 'alice-secret' }],
  ['SCRAM-SHA-512', { DEFAULT_SERVERS: saslBrokers().join(','), KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: 'alice-secret' }],
  ['OAUTHBEARER', { DEFAULT_SERVERS: saslBrokers().join(','), KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'OAUTHBEARER', KAFKA_SASL_OAUTHBEARER_TOKEN: unsecuredJwt('alice') }]
]

for (const [name, env] of variants) {
  t.test(`produce/consume round trip over ${name}`, async t => {
    const service = new KafkaService(loadConfig({ AUTH_MODE: 'dev', ...env }))
    t.teardown(() => service.close())
    const topic = await createTopic(t, uniqueName('plugin'), 1)
    t.ok(await service.ping(10000), 'the shared admin reaches the broker')
    const kafka = service.clients.createClient('plugin-test')
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic, messages: [{ key: 'k', value: `hello over ${name}` }] })
    await producer.disconnect()
    const consumer = kafka.consumer({ groupId: uniqueName('plugin-g'), maxWaitTimeInMs: 100, metadataMaxAge: 1000 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const got = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no record within 30 s')), 30000)
      consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer)
          resolve(String(message.value))
        }
      }).catch(reject)
    })
    await consumer.disconnect()
    t.equal(got, `hello over ${name}`)
  })
}

t.test('wrong SASL credentials: ping is false, not a hang or a throw', async t => {
  const service = new KafkaService(loadConfig({ AUTH_MODE: 'dev', DEFAULT_SERVERS: saslBrokers().join(','), KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: 'wrong' }))
  t.teardown(() => service.close())
  t.equal(await service.ping(3000), false)
})

t.test('SASL credentials reach no log line, whether the broker accepts them or not', async t => {
  const password = 'alice-secret' // the local broker's SCRAM and PLAIN user (scripts/broker.ts)
  const wrong = `wrong-${randomBytes(12).toString('hex')}`
  const token = unsecuredJwt('alice')
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['PLAIN', { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: password }, true],
    ['SCRAM-SHA-512, wrong password', { KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: wrong }, false],
    ['PLAIN, wrong password', { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: wrong }, false],
    ['OAUTHBEARER', { KAFKA_SASL_MECHANISM: 'OAUTHBEARER', KAFKA_SASL_OAUTHBEARER_TOKEN: token }, true]
  ]
  for (const [name, sasl, accepted] of cases) {
    const logLines: string[] = []
    const { app } = await build(t, {
      logLines,
      env: { DEFAULT_SERVERS: saslBrokers().join(','), KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_CONNECTION_TIMEOUT_MS: '1000', ...sasl }
    })
    const ready = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(ready.statusCode, accepted ? 200 : 503, `${name}: /ready`)
    if (!accepted) t.ok(logLines.some(l => /authentication failed|SASL/i.test(l)), `${name}: the failure is logged`)
    const log = logLines.join('\n')
    for (const secret of [password, wrong, token]) t.notOk(log.includes(secret), `${name}: no credential in the log`)
  }
})

t.test('/ready is 503 when no broker answers, /health stays 200', async t => {
  const { app } = await build(t, { env: { DEFAULT_SERVERS: '127.0.0.1:1', KAFKA_CONNECTION_TIMEOUT_MS: '200' } })
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'not ready', checks: { kafka: false, metadata_store: true } })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  const ok = await build(t)
  const live = await ok.app.inject({ method: 'GET', url: '/ready' })
  t.equal(live.statusCode, 200)
  t.same(live.json().checks, { kafka: true, metadata_store: true })
})

t.test('error shapes: unknown routes and bad JSON are JSON in the family shape', async t => {
  const { app, globus } = await build(t)
  const token = globus.userToken()
  const miss = await app.inject({ method: 'GET', url: '/no/such/route' })
  t.equal(miss.statusCode, 404)
  t.same(miss.json(), { error_code: 404, message: 'HTTP 404 Not Found: no route GET /no/such/route' })
  const mgmt = await app.inject({ method: 'POST', url: '/api/v3/ns-abc/topicx', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '{"num_partitions":' })
  t.equal(mgmt.statusCode, 400)
  t.equal(mgmt.json().status, 'failure')
  t.match(mgmt.json().message, /Malformed JSON/)
  t.notMatch(mgmt.body, /at .*\.ts/, 'no stack trace')
  const big = await app.inject({ method: 'POST', url: '/api/v3/ns-abc/consumers/g', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.kafka.v2+json' }, payload: JSON.stringify({ name: 'x'.repeat(2 * 1048576) }) })
  t.equal(big.statusCode, 413)
  t.equal(big.json().error_code, 413)
})
