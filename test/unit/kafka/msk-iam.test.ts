import t from 'tap'
import { createCachedTokenProvider } from '../../../plugins/kafka/msk-iam.js'
import { kafkaClientConfig } from '../../../plugins/kafka/kafkajs/client-options.js'
import { loadConfig } from '../../../plugins/config/config.js'

t.test('returns the signer token, caches it, refreshes before expiry, single flight', async t => {
  let now = 1_000_000
  let calls = 0
  const provider = createCachedTokenProvider(async () => {
    calls++
    return { token: `tok-${calls}`, expiryTime: now + 900_000 }
  }, { now: () => now, refreshMarginMs: 60_000 })
  const [a, b, c] = await Promise.all([provider(), provider(), provider()])
  t.same([a, b, c].map(x => x.value), ['tok-1', 'tok-1', 'tok-1'])
  t.equal(calls, 1, 'concurrent callers share one signing')
  now += 800_000
  t.equal((await provider()).value, 'tok-1', 'still valid well before expiry')
  now += 50_000 // inside the refresh margin
  t.equal((await provider()).value, 'tok-2')
  t.equal(calls, 2)
})

t.test('a failed signing is not cached', async t => {
  let fail = true
  const provider = createCachedTokenProvider(async () => {
    if (fail) throw new Error('no credentials')
    return { token: 'ok', expiryTime: Date.now() + 900_000 }
  })
  await t.rejects(provider(), /no credentials/)
  fail = false
  t.equal((await provider()).value, 'ok')
})

t.test('AWS_MSK_IAM config builds SASL_SSL + OAUTHBEARER with the provider', async t => {
  const config = loadConfig({ AUTH_MODE: 'dev', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'AWS_MSK_IAM', AWS_REGION: 'us-east-1', DEFAULT_SERVERS: 'b-1.example:9098' })
  const provider = async () => ({ value: 'signed' })
  const k = kafkaClientConfig(config, { tokenProvider: provider })
  t.equal(k.ssl, true)
  t.equal(k.sasl?.mechanism, 'oauthbearer')
  t.equal((k.sasl as { oauthBearerProvider: unknown }).oauthBearerProvider, provider)
  t.same(k.brokers, ['b-1.example:9098'])
})
