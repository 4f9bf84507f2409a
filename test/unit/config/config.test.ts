import t from 'tap'
import { ConfigError, loadConfig } from '../../../plugins/config/config.js'

t.test('defaults and aliases', async t => {
  const c = loadConfig({ AUTH_MODE: 'dev', KAFKA_BOOTSTRAP_SERVERS: 'a:1,b:2', AWS_REGION: 'eu-west-1' })
  t.equal(c.PORT, 8000)
  t.equal(c.HOST, '0.0.0.0')
  t.equal(c.DEFAULT_SERVERS, 'a:1,b:2')
  t.equal(c.AWS_ACCOUNT_REGION, 'eu-west-1')
  t.equal(c.CONSUMER_INSTANCE_TIMEOUT_MS, 300000)
  t.equal(c.GLOBUS_AUTH_URL, 'https://auth.globus.org')
})

t.test('every offending variable is named', async t => {
  try {
    loadConfig({ PORT: 'abc', KAFKA_SECURITY_PROTOCOL: 'FOO', CONSUMER_INSTANCE_TIMEOUT_MS: '-1', LOG_LEVEL: 'loud' })
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    const msg = (err as Error).message
    for (const name of ['PORT', 'KAFKA_SECURITY_PROTOCOL', 'CONSUMER_INSTANCE_TIMEOUT_MS', 'LOG_LEVEL']) t.match(msg, name)
    t.match(msg, /PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/)
  }
})

t.test('cross-variable rules', async t => {
  t.throws(() => loadConfig({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', AUTH_MODE: 'dev' }), /KAFKA_SASL_MECHANISM: required/)
  t.throws(() => loadConfig({ KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'PLAIN', AUTH_MODE: 'dev' }), /KAFKA_SASL_USERNAME/)
  t.throws(() => loadConfig({ KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'AWS_MSK_IAM', AUTH_MODE: 'dev' }), /needs SASL_SSL/)
  t.throws(() => loadConfig({}), /SERVER_CLIENT_ID: required when AUTH_MODE=globus/)
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', PUBLIC_URL: 'not a url' }), /PUBLIC_URL/)
})
