/**
 * The service configuration: one TypeBox schema, read from the environment and validated at boot.
 * A bad or missing value stops the start with a message naming every offending variable.
 * Plain module (no Fastify) so scripts, tests and benchmarks can load it directly.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/** DEV_TOKEN: shortest length, and lowest estimated entropy (estimateTokenBits) in bits. */
export const DEV_TOKEN_MIN_LENGTH = 32
export const DEV_TOKEN_MIN_BITS = 128
/** How to make a DEV_TOKEN that passes, for error messages and docs. */
export const DEV_TOKEN_RECIPE = "openssl rand -base64 32  (or: node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64url'))\")"

/**
 * Variables that hold secrets: a bad value is never echoed in an error message (only its length is).
 * Anything that prints or logs configuration must go through this list.
 */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  'SERVER_SECRET', 'DEV_TOKEN', 'METRICS_TOKEN', 'KAFKA_SASL_PASSWORD', 'KAFKA_SASL_OAUTHBEARER_TOKEN', 'KEYS_ENCRYPTION_KEY',
  'NODE_SECRET'
])

/** NODE_ID: letters, digits and inner hyphens (no dots: `..` separates it from the name in an instance id). */
export const NODE_ID_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$'
/** NODE_SECRET: shortest length (shared by every node, signs the hop between them). */
export const NODE_SECRET_MIN_LENGTH = 32

const Int = (def: number, min: number, max = Number.MAX_SAFE_INTEGER, description?: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })

export const ConfigSchema = Type.Object({
  PORT: Int(8000, 0, 65535, 'HTTP port'),
  HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'address to listen on (AUTH_MODE=dev: 127.0.0.1 unless set)' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { default: 'info' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/]+(/[^\\s]*)?$', description: 'absolute base URL clients reach the service at (several nodes: the load balancer), used for base_uri' })),
  BODY_LIMIT: Int(1048576, 1024, 64 * 1048576, 'largest accepted request body in bytes'),
  REQUEST_BODY_TIMEOUT_MS: Int(60000, 100, 3600000, 'a request body (other than a produce stream) not received this long after the request began: 408'),
  CLOSE_GRACE_MS: Int(10000, 100, 600000),

  // Metrics (Prometheus): off unless METRICS_PORT or METRICS_TOKEN is set
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'separate listener for GET /metrics' })),
  METRICS_HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'address of the metrics listener' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, pattern: '^[A-Za-z0-9._~+/-]+=*$', description: 'bearer token for GET /metrics' })),

  // Kafka connectivity
  DEFAULT_SERVERS: Type.String({ default: '127.0.0.1:9092', pattern: '^[^\\s,]+(,[^\\s,]+)*$', description: 'bootstrap servers, comma separated' }),
  KAFKA_SECURITY_PROTOCOL: Type.Union([Type.Literal('PLAINTEXT'), Type.Literal('SSL'), Type.Literal('SASL_PLAINTEXT'), Type.Literal('SASL_SSL')], { default: 'PLAINTEXT' }),
  KAFKA_SASL_MECHANISM: Type.Optional(Type.Union([Type.Literal('PLAIN'), Type.Literal('SCRAM-SHA-256'), Type.Literal('SCRAM-SHA-512'), Type.Literal('OAUTHBEARER'), Type.Literal('AWS_MSK_IAM')])),
  KAFKA_SASL_USERNAME: Type.Optional(Type.String()),
  KAFKA_SASL_PASSWORD: Type.Optional(Type.String()),
  KAFKA_SASL_OAUTHBEARER_TOKEN: Type.Optional(Type.String({ description: 'static OAUTHBEARER token (plumbing/testing); AWS_MSK_IAM mints its own' })),
  KAFKA_SSL_CA_FILE: Type.Optional(Type.String()),
  KAFKA_SSL_CERT_FILE: Type.Optional(Type.String()),
  KAFKA_SSL_KEY_FILE: Type.Optional(Type.String()),
  KAFKA_CLIENT_ID: Type.String({ default: 'diaspora-service' }),
  KAFKA_CONNECTION_TIMEOUT_MS: Int(3000, 100, 120000),
  KAFKA_REQUEST_TIMEOUT_MS: Int(30000, 100, 600000),
  AWS_ACCOUNT_REGION: Type.Optional(Type.String({ minLength: 1 })),

  // Kafka credentials for native clients (/api/v3/key)
  KAFKA_CREDENTIALS: Type.Union([Type.Literal('off'), Type.Literal('iam'), Type.Literal('scram')], { default: 'off', description: 'off: /api/v3/key answers 403 CREDENTIALS_DISABLED; iam: IAM users and keys for AWS MSK IAM; scram: SCRAM-SHA-512 users and ACLs through the Kafka admin API' }),
  KAFKA_CREDENTIALS_ENDPOINT: Type.Optional(Type.String({ pattern: '^[^\\s,]+(,[^\\s,]+)*$', description: 'bootstrap servers handed to clients with a key (default DEFAULT_SERVERS)' })),
  KEYS_ENCRYPTION_KEY: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$', description: '32 bytes in base64: AES-256-GCM key sealing the stored secrets (required unless KAFKA_CREDENTIALS=off)' })),
  AWS_ACCOUNT_ID: Type.Optional(Type.String({ pattern: '^[0-9]{12}$', description: 'KAFKA_CREDENTIALS=iam: the account of the MSK cluster and the IAM users' })),
  MSK_CLUSTER_NAME: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9-]+$', description: 'KAFKA_CREDENTIALS=iam: the MSK cluster the policies name' })),

  // Globus auth
  AUTH_MODE: Type.Union([Type.Literal('globus'), Type.Literal('dev')], { default: 'globus' }),
  SERVER_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  SERVER_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  GLOBUS_AUTH_URL: Type.String({ default: 'https://auth.globus.org', pattern: '^https?://[^\\s]+$' }),
  AUTH_REQUIRED_SCOPE: Type.Optional(Type.String({ minLength: 1, description: 'default https://auth.globus.org/scopes/{SERVER_CLIENT_ID}/action_all' })),
  AUTH_CACHE_TTL_MS: Int(60000, 0, 3600000),
  AUTH_CACHE_MAX_ENTRIES: Int(10000, 1, 10000000),
  AUTH_INTROSPECTION_TIMEOUT_MS: Int(5000, 50, 60000),
  DEV_SUBJECT: Type.String({ default: '00000000-0000-4000-8000-00000000de70', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
  DEV_TOKEN: Type.Optional(Type.String({ minLength: DEV_TOKEN_MIN_LENGTH, pattern: '^[A-Za-z0-9._~+/-]+=*$', description: 'fixed dev token (default: random at start)' })),
  DEV_ALLOW_REMOTE: Type.Boolean({ default: false, description: 'AUTH_MODE=dev: allow a HOST other than loopback (the dev token is then accepted from the network)' }),

  // Several nodes behind one address (on when NODE_URL is set; plugins/cluster)
  NODE_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+/?$', description: 'this node\'s own address as the other nodes reach it (scheme, host, port); setting it turns several-node mode on' })),
  NODE_ID: Type.Optional(Type.String({ pattern: NODE_ID_PATTERN, description: 'stable id of this node, named in its consumer instance ids (default: derived from the host name)' })),
  NODE_SECRET: Type.Optional(Type.String({ minLength: NODE_SECRET_MIN_LENGTH, description: 'shared by every node: signs the requests one node forwards to another' })),
  NODES_TABLE_NAME: Type.String({ default: 'diaspora-nodes-table', minLength: 3, maxLength: 255, pattern: '^[A-Za-z0-9_.-]+$', description: 'DynamoDB table of live nodes (hash key node_id; created with METADATA_CREATE_TABLES)' }),
  INSTANCES_TABLE_NAME: Type.String({ default: 'diaspora-instances-table', minLength: 3, maxLength: 255, pattern: '^[A-Za-z0-9_.-]+$', description: 'DynamoDB table of consumer instance name claims, one per named instance (hash key instance_key; created with METADATA_CREATE_TABLES)' }),
  NODE_HEARTBEAT_INTERVAL_MS: Int(2000, 100, 600000, 'how often a node renews its entry and re-reads the others'),
  NODE_EXPIRY_MS: Int(10000, 300, 3600000, 'a node whose entry is older than this is gone: its instances answer 40403'),
  NODE_FORWARD_CONNECT_TIMEOUT_MS: Int(2000, 50, 60000, 'a node that does not accept a forwarded request\'s connection this fast is taken as gone'),

  // Namespaces and topics
  METADATA_STORE: Type.String({ default: './data/metadata.json', minLength: 1, description: '"dynamodb" for the DynamoDB store; anything else is the path of the file store' }),
  USERS_TABLE_NAME: Type.String({ default: 'diaspora-users-table', minLength: 3, maxLength: 255, pattern: '^[A-Za-z0-9_.-]+$', description: 'DynamoDB store: the users table (subject → namespaces)' }),
  NAMESPACE_TABLE_NAME: Type.String({ default: 'diaspora-namespace-table', minLength: 3, maxLength: 255, pattern: '^[A-Za-z0-9_.-]+$', description: 'DynamoDB store: the namespace table (namespace → topics)' }),
  KEYS_TABLE_NAME: Type.String({ default: 'diaspora-keys-table', minLength: 3, maxLength: 255, pattern: '^[A-Za-z0-9_.-]+$', description: 'DynamoDB store: the keys table (created with the others by METADATA_CREATE_TABLES)' }),
  METADATA_CREATE_TABLES: Type.Boolean({ default: false, description: 'DynamoDB store: create missing tables at start (never by default)' }),
  TOPIC_DEFAULT_PARTITIONS: Int(1, 1, 10000),
  TOPIC_MAX_PARTITIONS: Int(64, 1, 10000),
  TOPIC_DEFAULT_REPLICATION_FACTOR: Int(3, 1, 32, 'capped by the number of brokers in the cluster'),
  TOPIC_MAX_RETENTION_MS: Int(7 * 24 * 3600 * 1000, 1000),
  TOPIC_RECREATE_TIMEOUT_MS: Int(30000, 1000, 600000),
  NAMESPACE_OWNER_CACHE_MS: Int(1000, 0, 60000, 'DynamoDB store: how long produce and consumer requests trust a confirmed namespace owner (0: ask on every request)'),

  // Consumers
  CONSUMER_INSTANCE_TIMEOUT_MS: Int(300000, 1000, 86400000),
  CONSUMER_MAX_INSTANCES_PER_SUBJECT: Int(100, 1, 100000),
  CONSUMER_REQUEST_TIMEOUT_MS: Int(1000, 0, 600000, 'default wait of GET records'),
  CONSUMER_REQUEST_TIMEOUT_MAX_MS: Int(30000, 0, 600000, 'largest ?timeout honoured'),
  CONSUMER_REQUEST_MAX_BYTES: Int(64 * 1048576, 1, 1024 * 1048576, 'cap on max_bytes of one read'),
  CONSUMER_DEFAULT_MAX_BYTES: Int(8 * 1048576, 1, 1024 * 1048576),
  CONSUMER_BUFFER_BYTES: Int(8 * 1048576, 1024, 1024 * 1048576, 'per-instance prefetch high-water mark'),
  CONSUMER_BUFFER_RECORDS: Int(10000, 1, 10000000),
  CONSUMER_TOTAL_BUFFER_BYTES: Int(512 * 1048576, 1048576, 64 * 1024 * 1048576, 'process-wide prefetch budget'),
  CONSUMER_FETCH_MAX_BYTES: Int(2 * 1048576, 1024, 256 * 1048576),
  CONSUMER_FETCH_MAX_WAIT_MS: Int(500, 10, 30000),
  CONSUMER_FETCH_STALL_MS: Int(5000, 100, 600000, 'a fetch unanswered this long past CONSUMER_FETCH_MAX_WAIT_MS: empty reads answer 503'),
  CONSUMER_SESSION_TIMEOUT_MS: Int(30000, 1000, 3600000),
  CONSUMER_HEARTBEAT_INTERVAL_MS: Int(3000, 100, 600000),
  CONSUMER_AUTO_COMMIT_INTERVAL_MS: Int(5000, 100, 3600000),
  CONSUMER_PATTERN_REFRESH_MS: Int(10000, 100, 3600000),
  CONSUMER_JOIN_WAIT_MS: Int(15000, 100, 600000, 'longest a commit waits, for a group join and for Kafka together'),
  CONSUMER_PARK_AFTER_MS: Int(10000, 0, 86400000, 'stop fetching for an instance after this long without a read (0 = never)'),

  // Producing
  PRODUCE_MAX_BATCH_ENTRIES: Int(500, 1, 100000, 'most entries of one records:batch request'),
  PRODUCE_MAX_RECORD_BYTES: Int(1000000, 1, 64 * 1048576, 'largest key + value + headers of one record (keep below the brokers\' message.max.bytes)'),
  PRODUCE_MAX_IN_FLIGHT_BYTES: Int(64 * 1048576, 1, 16 * 1024 * 1048576, 'process-wide bytes of records accepted and not yet acknowledged (beyond: 429)'),
  PRODUCE_COMPRESSION: Type.Union(['none', 'gzip', 'snappy', 'lz4', 'zstd'].map(c => Type.Literal(c)), { default: 'none' }),
  PRODUCE_LINGER_MS: Int(0, 0, 1000, 'wait before sending queued records (0: the next tick)'),
  PRODUCE_REQUEST_TIMEOUT_MS: Int(30000, 100, 600000, 'how long the brokers may take to acknowledge a produce request (acks=all)'),
  PRODUCE_METADATA_MAX_AGE_MS: Int(30000, 0, 3600000, 'how long a topic\'s partition count is cached'),
  PRODUCE_STREAM_MAX_IN_FLIGHT: Int(2000, 1, 1000000, 'records of one streaming request sent and not yet answered (beyond: the body is read no further)'),
  PRODUCE_STREAM_IDLE_TIMEOUT_MS: Int(30000, 100, 3600000, 'a streaming produce request whose client sends nothing this long is ended with a 408 result'),
  PRODUCE_RETRY_AFTER_SECONDS: Int(1, 1, 3600, 'Retry-After of a 429 (not admitted)')
}, { additionalProperties: false })

export type Config = Static<typeof ConfigSchema>

/** Variables read under another name too (the first name wins). */
const ALIASES: Record<string, string[]> = {
  DEFAULT_SERVERS: ['KAFKA_BOOTSTRAP_SERVERS'],
  AWS_ACCOUNT_REGION: ['AWS_REGION']
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration:\n${problems.map(p => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** Build and validate the configuration from an environment record (process.env by default). */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {}
  const props = ConfigSchema.properties as Record<string, TSchema>
  for (const key of Object.keys(props)) {
    const names = [key, ...(ALIASES[key] ?? [])]
    for (const name of names) {
      const v = env[name]
      if (v !== undefined && v !== '') { raw[key] = v; break }
    }
  }
  // Dev login listens on loopback only, unless HOST is set (and DEV_ALLOW_REMOTE too: crossChecks).
  if (raw.HOST === undefined && raw.AUTH_MODE === 'dev') raw.HOST = '127.0.0.1'
  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw)) as Record<string, unknown>
  const problems: string[] = []
  const seen = new Set<string>()
  for (const err of Value.Errors(ConfigSchema, withDefaults)) {
    const key = err.path.replace(/^\//, '').split('/')[0] || '(root)'
    if (seen.has(key)) continue
    seen.add(key)
    const shown = raw[key] === undefined
      ? 'missing'
      : SECRET_VARIABLES.has(key) ? `got ${String(raw[key]).length} characters, value not shown` : `got ${JSON.stringify(raw[key])}`
    const choices = (props[key]?.anyOf as TSchema[] | undefined)?.map(s => s.const as string)
    let message = choices ? `must be one of ${choices.join(', ')}` : err.message
    if (key === 'DEV_TOKEN') message = `must be ${DEV_TOKEN_MIN_LENGTH}+ characters of A-Za-z0-9._~+/- (optionally ending in =); make one with: ${DEV_TOKEN_RECIPE}`
    problems.push(`${key}: ${message} (${shown})`)
  }
  if (problems.length === 0) problems.push(...crossChecks(withDefaults as Config))
  if (problems.length > 0) throw new ConfigError(problems)
  return withDefaults as Config
}

/** Rules that involve several variables. */
function crossChecks (c: Config): string[] {
  const p: string[] = []
  const sasl = c.KAFKA_SECURITY_PROTOCOL.startsWith('SASL_')
  if (sasl && !c.KAFKA_SASL_MECHANISM) p.push('KAFKA_SASL_MECHANISM: required when KAFKA_SECURITY_PROTOCOL is SASL_*')
  if (!sasl && c.KAFKA_SASL_MECHANISM) p.push(`KAFKA_SASL_MECHANISM: set, but KAFKA_SECURITY_PROTOCOL is ${c.KAFKA_SECURITY_PROTOCOL} (use SASL_PLAINTEXT or SASL_SSL)`)
  const m = c.KAFKA_SASL_MECHANISM
  if (sasl && (m === 'PLAIN' || m === 'SCRAM-SHA-256' || m === 'SCRAM-SHA-512')) {
    if (!c.KAFKA_SASL_USERNAME) p.push(`KAFKA_SASL_USERNAME: required for SASL ${m}`)
    if (!c.KAFKA_SASL_PASSWORD) p.push(`KAFKA_SASL_PASSWORD: required for SASL ${m}`)
  }
  if (m === 'AWS_MSK_IAM') {
    if (c.KAFKA_SECURITY_PROTOCOL !== 'SASL_SSL') p.push('KAFKA_SECURITY_PROTOCOL: AWS_MSK_IAM needs SASL_SSL')
    if (!c.AWS_ACCOUNT_REGION) p.push('AWS_ACCOUNT_REGION: required for AWS_MSK_IAM (alias AWS_REGION)')
  }
  if (m === 'OAUTHBEARER' && !c.KAFKA_SASL_OAUTHBEARER_TOKEN) p.push('KAFKA_SASL_OAUTHBEARER_TOKEN: required for SASL OAUTHBEARER')
  if ((c.KAFKA_SSL_CERT_FILE === undefined) !== (c.KAFKA_SSL_KEY_FILE === undefined)) {
    p.push('KAFKA_SSL_CERT_FILE / KAFKA_SSL_KEY_FILE: set both or neither')
  }
  if (c.KAFKA_CREDENTIALS !== 'off' && !c.KEYS_ENCRYPTION_KEY) {
    p.push(`KEYS_ENCRYPTION_KEY: required when KAFKA_CREDENTIALS=${c.KAFKA_CREDENTIALS} (32 random bytes in base64: openssl rand -base64 32)`)
  }
  if (c.KAFKA_CREDENTIALS === 'iam') {
    if (!c.AWS_ACCOUNT_ID) p.push('AWS_ACCOUNT_ID: required when KAFKA_CREDENTIALS=iam')
    if (!c.MSK_CLUSTER_NAME) p.push('MSK_CLUSTER_NAME: required when KAFKA_CREDENTIALS=iam')
    if (!c.AWS_ACCOUNT_REGION) p.push('AWS_ACCOUNT_REGION: required when KAFKA_CREDENTIALS=iam (alias AWS_REGION)')
  }
  if (c.AUTH_MODE === 'globus') {
    if (!c.SERVER_CLIENT_ID) p.push('SERVER_CLIENT_ID: required when AUTH_MODE=globus')
    if (!c.SERVER_SECRET) p.push('SERVER_SECRET: required when AUTH_MODE=globus')
  }
  if (c.AUTH_MODE === 'dev' && c.DEV_TOKEN !== undefined) {
    const bits = estimateTokenBits(c.DEV_TOKEN)
    if (bits < DEV_TOKEN_MIN_BITS) {
      p.push(`DEV_TOKEN: too guessable (about ${Math.floor(bits)} bits estimated, ${DEV_TOKEN_MIN_BITS} needed: ` +
        `repeats, sequences and few distinct characters count little); make one with: ${DEV_TOKEN_RECIPE}`)
    }
  }
  if (c.AUTH_MODE === 'dev' && !isLoopback(c.HOST) && !c.DEV_ALLOW_REMOTE) {
    p.push(`HOST: AUTH_MODE=dev listens on loopback only (got ${JSON.stringify(c.HOST)}): anyone who can reach the port ` +
      'could use the dev token. Unset HOST, or set DEV_ALLOW_REMOTE=true to accept the risk (in a container, say)')
  }
  if (c.CONSUMER_REQUEST_TIMEOUT_MS > c.CONSUMER_REQUEST_TIMEOUT_MAX_MS) {
    p.push('CONSUMER_REQUEST_TIMEOUT_MS: must not exceed CONSUMER_REQUEST_TIMEOUT_MAX_MS')
  }
  if (c.CONSUMER_DEFAULT_MAX_BYTES > c.CONSUMER_REQUEST_MAX_BYTES) {
    p.push('CONSUMER_DEFAULT_MAX_BYTES: must not exceed CONSUMER_REQUEST_MAX_BYTES')
  }
  if (c.TOPIC_DEFAULT_PARTITIONS > c.TOPIC_MAX_PARTITIONS) p.push('TOPIC_DEFAULT_PARTITIONS: must not exceed TOPIC_MAX_PARTITIONS')
  if (c.METRICS_PORT !== undefined && c.METRICS_PORT !== 0 && c.METRICS_PORT === c.PORT) p.push('METRICS_PORT: must differ from PORT (the metrics listener is separate from the API)')
  if (c.PRODUCE_MAX_IN_FLIGHT_BYTES < c.PRODUCE_MAX_RECORD_BYTES) p.push('PRODUCE_MAX_IN_FLIGHT_BYTES: must be at least PRODUCE_MAX_RECORD_BYTES')
  if (c.CONSUMER_HEARTBEAT_INTERVAL_MS >= c.CONSUMER_SESSION_TIMEOUT_MS) p.push('CONSUMER_HEARTBEAT_INTERVAL_MS: must be below CONSUMER_SESSION_TIMEOUT_MS')
  p.push(...clusterChecks(c))
  return p
}

/**
 * Several-node mode (NODE_URL set): refuse what cannot work across nodes, saying why, rather than a service
 * that answers half of its requests wrongly behind a load balancer.
 */
function clusterChecks (c: Config): string[] {
  const p: string[] = []
  if (c.NODE_URL === undefined) {
    for (const v of ['NODE_ID', 'NODE_SECRET'] as const) {
      if (c[v] !== undefined) p.push(`${v}: set, but NODE_URL is not (NODE_URL, this node's own address, turns several-node mode on)`)
    }
    return p
  }
  if (c.METADATA_STORE !== 'dynamodb') {
    p.push('METADATA_STORE: NODE_URL is set (several nodes), but the file store is one process\'s file that no other node sees: ' +
      'set METADATA_STORE=dynamodb, or unset NODE_URL for a single node')
  }
  if (c.NODE_SECRET === undefined) {
    p.push(`NODE_SECRET: required when NODE_URL is set: ${NODE_SECRET_MIN_LENGTH}+ characters shared by every node, which sign the requests they forward to each other (make one with: openssl rand -base64 32)`)
  }
  if (c.NODE_EXPIRY_MS < 2 * c.NODE_HEARTBEAT_INTERVAL_MS) {
    p.push('NODE_EXPIRY_MS: must be at least twice NODE_HEARTBEAT_INTERVAL_MS (one late heartbeat must not drop a live node)')
  }
  if (c.PUBLIC_URL !== undefined && sameOrigin(c.PUBLIC_URL, c.NODE_URL)) {
    p.push('PUBLIC_URL: names this node (the same origin as NODE_URL); with several nodes it must be the shared address of the load ' +
      'balancer, since the SDK only follows a base_uri on its own base URL\'s origin')
  }
  if (c.AUTH_MODE === 'dev' && c.DEV_TOKEN === undefined) {
    p.push('DEV_TOKEN: AUTH_MODE=dev with several nodes needs the same DEV_TOKEN on every node (each would otherwise mint its own, and a request forwarded to another node would be refused)')
  }
  return p
}

function sameOrigin (a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin
  } catch {
    return false
  }
}

/** The scope a token must carry unless configured otherwise. */
export function requiredScope (c: Config): string {
  return c.AUTH_REQUIRED_SCOPE ?? `https://auth.globus.org/scopes/${c.SERVER_CLIENT_ID ?? ''}/action_all`
}

export function bootstrapServers (c: Config): string[] {
  return c.DEFAULT_SERVERS.split(',').map(s => s.trim()).filter(Boolean)
}

/** True for an address that only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopback (host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h)
  return v4 !== null && v4[1] === '127' && v4.slice(2).every(part => Number(part) <= 255)
}

/** Empirical Shannon entropy, in bits per symbol, of a sequence. */
function shannon (symbols: readonly (string | number)[]): number {
  const counts = new Map<string | number, number>()
  for (const s of symbols) counts.set(s, (counts.get(s) ?? 0) + 1)
  let bits = 0
  for (const n of counts.values()) {
    const p = n / symbols.length
    bits -= p * Math.log2(p)
  }
  return bits
}

/**
 * A conservative estimate of a token's entropy in bits, to refuse guessable fixed tokens (it cannot tell a
 * random string from a long unusual phrase; it does catch the usual weak ones). The lower of two per-symbol
 * Shannon estimates, over the characters and over the steps between neighbours (so `abcdef…` and `0123…`
 * count as little as `aaaa…`), times the number of characters that start a new three-character sequence
 * (so a repeated chunk counts once). 32 random bytes in base64 score about 190, `openssl rand -hex 32` about
 * 210; `my-local-dev-token-0001` scores 85.
 */
export function estimateTokenBits (token: string): number {
  const chars = [...token]
  if (chars.length < 2) return 0
  const codes = chars.map(ch => ch.codePointAt(0) as number)
  const steps = codes.slice(1).map((code, i) => code - (codes[i] as number))
  const trigrams = new Set<string>()
  for (let i = 0; i + 3 <= chars.length; i++) trigrams.add(chars.slice(i, i + 3).join(''))
  const effective = Math.min(chars.length, trigrams.size + 2)
  return effective * Math.min(shannon(chars), shannon(steps))
}
