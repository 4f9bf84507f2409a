import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { ConfigError, estimateTokenBits, isLoopback, loadConfig } from '../../../plugins/config/config.js'

t.test('defaults and aliases', async t => {
  const c = loadConfig({ AUTH_MODE: 'dev', KAFKA_BOOTSTRAP_SERVERS: 'a:1,b:2', AWS_REGION: 'eu-west-1' })
  t.equal(c.PORT, 8000)
  t.equal(c.HOST, '127.0.0.1', 'dev login: loopback unless HOST is set')
  t.equal(c.DEFAULT_SERVERS, 'a:1,b:2')
  t.equal(c.AWS_ACCOUNT_REGION, 'eu-west-1')
  t.equal(c.CONSUMER_INSTANCE_TIMEOUT_MS, 300000)
  t.equal(c.GLOBUS_AUTH_URL, 'https://auth.globus.org')
})

t.test('metadata store: a file path, or dynamodb over the existing tables', async t => {
  const file = loadConfig({ AUTH_MODE: 'dev' })
  t.equal(file.METADATA_STORE, './data/metadata.json')
  t.equal(file.USERS_TABLE_NAME, 'diaspora-users-table', 'the existing service\'s default names')
  t.equal(file.NAMESPACE_TABLE_NAME, 'diaspora-namespace-table')
  t.equal(file.KEYS_TABLE_NAME, 'diaspora-keys-table')
  t.equal(file.METADATA_CREATE_TABLES, false, 'tables are never created by default')
  const dynamo = loadConfig({ AUTH_MODE: 'dev', METADATA_STORE: 'dynamodb', USERS_TABLE_NAME: 'u-prod', METADATA_CREATE_TABLES: 'true' })
  t.equal(dynamo.METADATA_STORE, 'dynamodb')
  t.equal(dynamo.USERS_TABLE_NAME, 'u-prod')
  t.equal(dynamo.METADATA_CREATE_TABLES, true)
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', NAMESPACE_TABLE_NAME: 'bad name!' }), /NAMESPACE_TABLE_NAME/)
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', METADATA_CREATE_TABLES: 'maybe' }), /METADATA_CREATE_TABLES/)
})

t.test('METADATA_STORE: file: URLs are read as paths, and what cannot be used is refused', async t => {
  const store = (value: string) => loadConfig({ AUTH_MODE: 'dev', METADATA_STORE: value }).METADATA_STORE
  t.equal(store('/var/lib/diaspora/metadata.json'), '/var/lib/diaspora/metadata.json', 'a plain absolute path')
  t.equal(store('data/meta.json'), 'data/meta.json', 'a plain relative path')
  t.equal(store('./meta:2024.json'), './meta:2024.json', 'a colon after ./ is part of a path')
  t.equal(store('file:///var/lib/diaspora/metadata.json'), '/var/lib/diaspora/metadata.json', 'file:///absolute')
  t.equal(store('file://localhost/srv/m.json'), '/srv/m.json', 'file://localhost/absolute')
  t.equal(store('FILE:///srv/m.json'), '/srv/m.json', 'the scheme in any case')
  t.equal(store('file:/srv/m.json'), '/srv/m.json', 'file:/absolute')
  t.equal(store('file:data/metadata.json'), 'data/metadata.json', 'file:relative stays relative (as in SQLite), not /data/…')
  t.equal(store('file:./data/metadata.json'), './data/metadata.json')
  t.equal(store('file:///srv/my%20store%23.json'), '/srv/my store#.json', 'percent-escapes are decoded')
  t.equal(store('dynamodb'), 'dynamodb')

  const refused: Array<[string, RegExp]> = [
    ['s3://bucket/metadata.json', /METADATA_STORE: a s3: URL is no store this service can use/],
    ['dynamodb:users', /a dynamodb: URL is no store/],
    ['https://user:hunter2@example.org/m.json', /a https: URL is no store/],
    ['file://other-host/srv/m.json', /must name a file of this machine/],
    ['file:///srv/m.json?mode=ro', /no query or fragment/],
    ['file:///srv/m.json#x', /no query or fragment/],
    ['file:///srv/m%zz.json', /malformed percent-escape/],
    ['file://', /names no file/],
    ['file:', /names no file/],
    ['file:///srv/data/', /names a directory/],
    ['./data/', /names a directory/],
    ['file:///srv/a%00b', /NUL/],
    ['DynamoDB', /write dynamodb in lower case/],
    [' ./data/metadata.json', /leading or trailing whitespace/]
  ]
  for (const [value, message] of refused) {
    const err = (() => { try { loadConfig({ AUTH_MODE: 'dev', METADATA_STORE: value }) } catch (e) { return e } })()
    t.ok(err instanceof ConfigError, `refused: ${value}`)
    t.match((err as Error).message, message, value)
  }
  const withPassword = (() => { try { loadConfig({ AUTH_MODE: 'dev', METADATA_STORE: 'https://user:hunter2@example.org/m.json' }) } catch (e) { return e } })()
  t.notMatch((withPassword as Error).message, /hunter2|user:/, 'a URL\'s user and password are not echoed')
  t.match((withPassword as Error).message, /"https:\/\/…@example\.org\/m\.json"/)
  t.throws(() => loadConfig({ SERVER_CLIENT_ID: 'c', SERVER_SECRET: 's', NODE_URL: 'http://10.0.0.5:8000', NODE_SECRET: 'x'.repeat(40), METADATA_STORE: 'file:///srv/m.json' }),
    /METADATA_STORE: NODE_URL is set \(several nodes\), but the file store/, 'a file: URL is the file store too')
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

t.test('HOST: every interface by default in globus mode, loopback only in dev mode unless asked for', async t => {
  t.equal(loadConfig({ SERVER_CLIENT_ID: 'c', SERVER_SECRET: 's' }).HOST, '0.0.0.0')
  t.equal(loadConfig({ AUTH_MODE: 'dev' }).HOST, '127.0.0.1')
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
    t.equal(loadConfig({ AUTH_MODE: 'dev', HOST: host }).HOST, host, `${host} is loopback`)
  }
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.org', '128.0.0.1', '127.0.0.256']) {
    t.throws(() => loadConfig({ AUTH_MODE: 'dev', HOST: host }), /HOST: AUTH_MODE=dev listens on loopback only.*DEV_ALLOW_REMOTE=true/, `${host} refused`)
    t.equal(loadConfig({ AUTH_MODE: 'dev', HOST: host, DEV_ALLOW_REMOTE: 'true' }).HOST, host, `${host} with DEV_ALLOW_REMOTE=true`)
  }
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', HOST: '0.0.0.0', DEV_ALLOW_REMOTE: 'false' }), /HOST: AUTH_MODE=dev/)
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', DEV_ALLOW_REMOTE: 'maybe' }), /DEV_ALLOW_REMOTE/)
  t.notOk(isLoopback('0.0.0.0'))
  t.ok(isLoopback(' LOCALHOST '))
})

t.test('DEV_TOKEN: weak fixed tokens are refused with a recipe, strong ones accepted', async t => {
  const weak = [
    'my-local-dev-token-0001', // the README's old example: too short
    'abcdefghijklmnopqrstuvwxyz0123456789', // a sequence
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', // one character
    'abababababababababababababababababab',
    'my-local-dev-token-0001-my-local-dev', // a repeated chunk
    'local-dev-token-local-dev-token-local-dev-token',
    randomBytes(16).toString('hex') // 128 random bits, but as hex its estimate falls short: 32 bytes are asked for
  ]
  for (const token of weak) {
    try {
      loadConfig({ AUTH_MODE: 'dev', DEV_TOKEN: token })
      t.fail(`${token} should be refused`)
    } catch (err) {
      const msg = (err as Error).message
      t.match(msg, /DEV_TOKEN: /, token)
      t.match(msg, 'openssl rand -base64 32', 'says how to make one')
      t.match(msg, "randomBytes(32).toString('base64url')", 'and without openssl')
      t.notMatch(msg, token, 'never echoes the token')
    }
  }
  for (let i = 0; i < 200; i++) {
    for (const token of [randomBytes(32).toString('base64'), randomBytes(32).toString('base64url'), randomBytes(32).toString('hex')]) {
      if (loadConfig({ AUTH_MODE: 'dev', DEV_TOKEN: token }).DEV_TOKEN !== token) t.fail(`${token} should be accepted`)
    }
  }
  t.ok(estimateTokenBits(randomBytes(32).toString('base64')) > 150)
  t.equal(estimateTokenBits(''), 0)
  // Only dev mode uses DEV_TOKEN: a leftover one does not stop a Globus-mode start on strength grounds.
  t.equal(loadConfig({ SERVER_CLIENT_ID: 'c', SERVER_SECRET: 's', DEV_TOKEN: 'a'.repeat(40) }).AUTH_MODE, 'globus')
})

t.test('secrets are never echoed in configuration errors', async t => {
  const secret = `Zq${randomUUID()}!`
  const env = {
    AUTH_MODE: 'dev',
    METRICS_TOKEN: `${secret}`,
    DEV_TOKEN: `${secret}`,
    KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT',
    KAFKA_SASL_MECHANISM: 'PLAIN',
    KAFKA_SASL_PASSWORD: secret,
    KAFKA_SASL_OAUTHBEARER_TOKEN: secret,
    SERVER_SECRET: secret
  }
  try {
    loadConfig(env)
    t.fail('should throw')
  } catch (err) {
    const msg = (err as Error).message
    t.match(msg, /METRICS_TOKEN: .*got \d+ characters, value not shown/)
    t.match(msg, /DEV_TOKEN: .*value not shown/)
    t.notMatch(msg, secret)
  }
})

t.test('Kafka credentials: off by default; iam and scram need what they use', async t => {
  t.equal(loadConfig({ AUTH_MODE: 'dev' }).KAFKA_CREDENTIALS, 'off')
  const key = randomBytes(32).toString('base64')
  t.equal(loadConfig({ AUTH_MODE: 'dev', KAFKA_CREDENTIALS: 'scram', KEYS_ENCRYPTION_KEY: key }).KAFKA_CREDENTIALS, 'scram')
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', KAFKA_CREDENTIALS: 'scram' }), /KEYS_ENCRYPTION_KEY: required/)
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', KAFKA_CREDENTIALS: 'ldap' }), /KAFKA_CREDENTIALS: must be one of off, iam, scram/)
  const short = randomBytes(16).toString('base64')
  try {
    loadConfig({ AUTH_MODE: 'dev', KAFKA_CREDENTIALS: 'scram', KEYS_ENCRYPTION_KEY: short })
    t.fail('should throw')
  } catch (err) {
    t.match((err as Error).message, /KEYS_ENCRYPTION_KEY: .*value not shown/)
    t.notOk((err as Error).message.includes(short), 'the key is never echoed')
  }
  try {
    loadConfig({ AUTH_MODE: 'dev', KAFKA_CREDENTIALS: 'iam', KEYS_ENCRYPTION_KEY: key })
    t.fail('should throw')
  } catch (err) {
    for (const name of ['AWS_ACCOUNT_ID', 'MSK_CLUSTER_NAME', 'AWS_ACCOUNT_REGION']) t.match((err as Error).message, name)
  }
  const iam = loadConfig({ AUTH_MODE: 'dev', KAFKA_CREDENTIALS: 'iam', KEYS_ENCRYPTION_KEY: key, AWS_ACCOUNT_ID: '123456789012', MSK_CLUSTER_NAME: 'prod-1', AWS_REGION: 'us-east-1' })
  t.equal(iam.MSK_CLUSTER_NAME, 'prod-1')
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', AWS_ACCOUNT_ID: '12' }), /AWS_ACCOUNT_ID/)
})

t.test('several nodes: what cannot work across nodes is refused at start, saying why', async t => {
  const secret = randomBytes(32).toString('base64url')
  const base = { SERVER_CLIENT_ID: 'c', SERVER_SECRET: 's', NODE_URL: 'http://10.0.0.5:8000', NODE_SECRET: secret, METADATA_STORE: 'dynamodb', PUBLIC_URL: 'https://diaspora.example.org' }
  const c = loadConfig(base)
  t.equal(c.NODE_URL, 'http://10.0.0.5:8000')
  t.equal(c.NODES_TABLE_NAME, 'diaspora-nodes-table')
  t.equal(c.INSTANCES_TABLE_NAME, 'diaspora-instances-table')
  t.equal(c.NODE_HEARTBEAT_INTERVAL_MS, 2000)
  t.equal(c.NODE_EXPIRY_MS, 10000)
  t.throws(() => loadConfig({ ...base, METADATA_STORE: './data/metadata.json' }), /METADATA_STORE: NODE_URL is set \(several nodes\), but the file store is one process's file/)
  t.throws(() => loadConfig({ ...base, NODE_SECRET: undefined }), /NODE_SECRET: required when NODE_URL is set/)
  const short = 'x'.repeat(20)
  t.throws(() => loadConfig({ ...base, NODE_SECRET: short }), /NODE_SECRET: .*got 20 characters, value not shown/)
  t.throws(() => loadConfig({ ...base, PUBLIC_URL: 'http://10.0.0.5:8000/' }), /PUBLIC_URL: names this node/)
  t.throws(() => loadConfig({ ...base, NODE_EXPIRY_MS: '3000' }), /NODE_EXPIRY_MS: must be at least twice/)
  t.throws(() => loadConfig({ ...base, NODE_ID: 'a.b' }), /NODE_ID/)
  t.throws(() => loadConfig({ ...base, SERVER_CLIENT_ID: undefined, SERVER_SECRET: undefined, AUTH_MODE: 'dev' }), /DEV_TOKEN: AUTH_MODE=dev with several nodes/)
  t.throws(() => loadConfig({ AUTH_MODE: 'dev', NODE_SECRET: secret }), /NODE_SECRET: set, but NODE_URL is not/)
  try {
    loadConfig({ ...base, METADATA_STORE: 'x', NODE_SECRET: short })
  } catch (err) {
    t.notMatch(String(err), short, 'the secret is never echoed')
  }
})
