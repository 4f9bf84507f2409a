/**
 * Topic settings a user may ask for (`{num_partitions, replication_factor, configs}`), checked against the
 * operator's limits and an allow-list of Kafka topic configs. Plain module: no Fastify import.
 */
import { ApiError } from '../errors/errors.js'
import type { TopicSettings } from './store.js'

export interface TopicLimits {
  TOPIC_DEFAULT_PARTITIONS: number
  TOPIC_MAX_PARTITIONS: number
  TOPIC_DEFAULT_REPLICATION_FACTOR: number
  TOPIC_MAX_RETENTION_MS: number
}

/** The optional body of `POST /{namespace}/{topic}`. */
export interface TopicRequest {
  num_partitions?: number
  replication_factor?: number
  configs?: Record<string, string | number>
}

/** Largest max.message.bytes a user may set (10 MiB): bigger records belong in object storage. */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024

interface Ctx { limits: TopicLimits, replicationFactor: number }
/** Returns the value as Kafka wants it, or throws a message. */
type Rule = (value: string, ctx: Ctx) => string

function int (value: string, name: string, min: number, max: number, hint = ''): string {
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Error(`${name} must be an integer`)
  const n = Number(value)
  if (n < min || n > max) throw new Error(`${name} must be between ${min} and ${max}${hint}`)
  return String(n)
}

function oneOf (value: string, name: string, allowed: readonly string[]): string {
  if (!allowed.includes(value)) throw new Error(`${name} must be one of ${allowed.join(', ')}`)
  return value
}

/**
 * Topic configs a user may set, with their bounds. Anything else is refused: broker-affecting settings
 * (segment sizes, unclean leader election, …) stay with the operator. cleanup.policy=compact alone is
 * refused because a compacted topic keeps the latest record of every key forever, past the retention limit.
 */
export const CONFIG_RULES: Readonly<Record<string, Rule>> = {
  'retention.ms': (v, { limits }) => int(v, 'retention.ms', 1, limits.TOPIC_MAX_RETENTION_MS, ' (TOPIC_MAX_RETENTION_MS)'),
  'retention.bytes': (v) => {
    if (v === '-1') return v
    return int(v, 'retention.bytes', 1, Number.MAX_SAFE_INTEGER, ', or -1 for no size limit')
  },
  'cleanup.policy': (v) => {
    const parts = v.split(',').map(s => s.trim()).filter(Boolean).sort()
    const joined = parts.join(',')
    if (joined === 'delete') return 'delete'
    if (joined === 'compact,delete') return 'compact,delete'
    throw new Error('cleanup.policy must be delete or compact,delete (compact alone would keep data past the retention limit)')
  },
  'max.message.bytes': (v) => int(v, 'max.message.bytes', 1024, MAX_MESSAGE_BYTES),
  'min.insync.replicas': (v, { replicationFactor }) => int(v, 'min.insync.replicas', 1, replicationFactor, ' (at most replication_factor)'),
  'compression.type': (v) => oneOf(v, 'compression.type', ['producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd']),
  'message.timestamp.type': (v) => oneOf(v, 'message.timestamp.type', ['CreateTime', 'LogAppendTime']),
  'delete.retention.ms': (v, { limits }) => int(v, 'delete.retention.ms', 0, limits.TOPIC_MAX_RETENTION_MS),
  'min.compaction.lag.ms': (v, { limits }) => int(v, 'min.compaction.lag.ms', 0, limits.TOPIC_MAX_RETENTION_MS)
}

export function invalidSettings (message: string): ApiError {
  return new ApiError(422, 42204, `Invalid topic settings: ${message}`, { code: 'INVALID_TOPIC_SETTINGS' })
}

function configValue (value: unknown, key: string): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'string') return value.trim()
  throw invalidSettings(`configs.${key} must be a string or a number`)
}

/**
 * The settings to create a topic with: defaults filled in, every value within the limits. The replication
 * factor defaults to TOPIC_DEFAULT_REPLICATION_FACTOR capped by the brokers in the cluster, and may never
 * exceed that count. retention.ms defaults to TOPIC_MAX_RETENTION_MS so the limit holds whatever the broker's
 * own default is.
 */
export function resolveSettings (
  request: TopicRequest | undefined,
  limits: TopicLimits,
  brokerCount: number
): TopicSettings {
  const req = request ?? {}
  const partitions = req.num_partitions ?? limits.TOPIC_DEFAULT_PARTITIONS
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > limits.TOPIC_MAX_PARTITIONS) {
    throw invalidSettings(`num_partitions must be between 1 and ${limits.TOPIC_MAX_PARTITIONS}`)
  }
  const brokers = Math.max(1, brokerCount)
  const rf = req.replication_factor ?? Math.min(limits.TOPIC_DEFAULT_REPLICATION_FACTOR, brokers)
  if (!Number.isInteger(rf) || rf < 1) throw invalidSettings('replication_factor must be a positive integer')
  if (rf > brokers) {
    throw invalidSettings(`replication_factor ${rf} exceeds the number of brokers in the cluster (${brokers})`)
  }
  const configs: Record<string, string> = {}
  const ctx: Ctx = { limits, replicationFactor: rf }
  for (const [key, raw] of Object.entries(req.configs ?? {})) {
    if (!Object.hasOwn(CONFIG_RULES, key)) {
      throw invalidSettings(`config ${JSON.stringify(key)} is not allowed (allowed: ${Object.keys(CONFIG_RULES).join(', ')})`)
    }
    const rule = CONFIG_RULES[key] as Rule
    try {
      configs[key] = rule(configValue(raw, key), ctx)
    } catch (err) {
      if (err instanceof ApiError) throw err
      throw invalidSettings((err as Error).message)
    }
  }
  configs['retention.ms'] ??= String(limits.TOPIC_MAX_RETENTION_MS)
  return { num_partitions: partitions, replication_factor: rf, configs: sortKeys(configs) }
}

/**
 * What an explicit request asks for that an existing topic does not have (an idempotent create with the
 * same or no settings is fine; asking for different ones is a conflict). Empty when compatible.
 */
export function settingsConflicts (
  request: TopicRequest | undefined,
  requested: TopicSettings,
  existing: TopicSettings
): string[] {
  if (!request) return []
  const out: string[] = []
  if (request.num_partitions !== undefined && requested.num_partitions !== existing.num_partitions) {
    out.push(`num_partitions is ${existing.num_partitions}`)
  }
  if (request.replication_factor !== undefined && requested.replication_factor !== existing.replication_factor) {
    out.push(`replication_factor is ${existing.replication_factor}`)
  }
  for (const key of Object.keys(request.configs ?? {})) {
    const have = existing.configs[key]
    if (requested.configs[key] !== have) out.push(have === undefined ? `${key} is not set` : `${key} is ${have}`)
  }
  return out
}

function sortKeys (o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
