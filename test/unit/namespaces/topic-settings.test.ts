import t, { type Test } from 'tap'
import { ApiError } from '../../../plugins/errors/errors.js'
import { CONFIG_RULES, MAX_MESSAGE_BYTES, resolveSettings, settingsConflicts, type TopicRequest } from '../../../plugins/namespaces/topic-settings.js'

const limits = {
  TOPIC_DEFAULT_PARTITIONS: 2,
  TOPIC_MAX_PARTITIONS: 8,
  TOPIC_DEFAULT_REPLICATION_FACTOR: 3,
  TOPIC_MAX_RETENTION_MS: 86_400_000
}

function refused (t: Test, req: TopicRequest, brokers: number, why: RegExp): void {
  try {
    resolveSettings(req, limits, brokers)
    t.fail(`accepted ${JSON.stringify(req)}`)
  } catch (err) {
    t.equal((err as ApiError).statusCode, 422)
    t.equal((err as ApiError).code, 'INVALID_TOPIC_SETTINGS')
    t.match((err as Error).message, why, JSON.stringify(req))
  }
}

t.test('defaults: operator partitions, replication capped by the brokers, retention at the maximum', async t => {
  t.same(resolveSettings(undefined, limits, 5), { num_partitions: 2, replication_factor: 3, configs: { 'retention.ms': '86400000' } })
  t.equal(resolveSettings({}, limits, 1).replication_factor, 1, 'one broker: factor 1')
  t.equal(resolveSettings({}, limits, 2).replication_factor, 2)
})

t.test('explicit values within the limits are kept, normalized to Kafka strings', async t => {
  const s = resolveSettings({
    num_partitions: 8,
    replication_factor: 2,
    configs: { 'retention.ms': 1000, 'cleanup.policy': 'delete, compact', 'min.insync.replicas': '2', 'compression.type': 'zstd', 'retention.bytes': -1 }
  }, limits, 3)
  t.same(s, {
    num_partitions: 8,
    replication_factor: 2,
    configs: { 'cleanup.policy': 'compact,delete', 'compression.type': 'zstd', 'min.insync.replicas': '2', 'retention.bytes': '-1', 'retention.ms': '1000' }
  })
})

t.test('values outside the limits are refused with 422', async t => {
  refused(t, { num_partitions: 0 }, 3, /num_partitions must be between 1 and 8/)
  refused(t, { num_partitions: 9 }, 3, /num_partitions must be between 1 and 8/)
  refused(t, { num_partitions: 1.5 }, 3, /num_partitions/)
  refused(t, { replication_factor: 4 }, 3, /replication_factor 4 exceeds the number of brokers in the cluster \(3\)/)
  refused(t, { replication_factor: 2 }, 1, /exceeds the number of brokers/)
  refused(t, { replication_factor: 0 }, 3, /positive integer/)
  refused(t, { configs: { 'retention.ms': 86_400_001 } }, 3, /retention.ms must be between 1 and 86400000/)
  refused(t, { configs: { 'retention.ms': -1 } }, 3, /retention.ms must be between/)
  refused(t, { configs: { 'retention.ms': '1e3' } }, 3, /retention.ms must be an integer/)
  refused(t, { configs: { 'cleanup.policy': 'compact' } }, 3, /cleanup.policy must be delete or compact,delete/)
  refused(t, { configs: { 'max.message.bytes': MAX_MESSAGE_BYTES + 1 } }, 3, /max.message.bytes/)
  refused(t, { replication_factor: 2, configs: { 'min.insync.replicas': 3 } }, 3, /min.insync.replicas must be between 1 and 2/)
  refused(t, { configs: { 'compression.type': 'brotli' } }, 3, /compression.type must be one of/)
  refused(t, { configs: { 'segment.bytes': 1024 } }, 3, /config "segment.bytes" is not allowed/)
  refused(t, { configs: { 'unclean.leader.election.enable': 'true' } }, 3, /not allowed/)
  refused(t, { configs: { constructor: 'x' } }, 3, /not allowed/)
  refused(t, { configs: { 'retention.ms': true as unknown as string } }, 3, /must be a string or a number/)
})

t.test('every allow-listed config has a rule', async t => {
  t.ok(Object.keys(CONFIG_RULES).length >= 5)
  t.ok(Object.keys(CONFIG_RULES).includes('retention.ms'))
})

t.test('conflicts: only what the request explicitly asks for is compared', async t => {
  const existing = resolveSettings({ num_partitions: 3, configs: { 'retention.ms': 1000 } }, limits, 1)
  t.same(settingsConflicts(undefined, existing, existing), [])
  t.same(settingsConflicts({}, resolveSettings({}, limits, 1), existing), [], 'defaults that differ do not count')
  const req = { num_partitions: 4, configs: { 'retention.ms': 1000, 'compression.type': 'lz4' } }
  t.same(settingsConflicts(req, resolveSettings(req, limits, 1), existing), ['num_partitions is 3', 'compression.type is not set'])
  const same = { num_partitions: 3, configs: { 'retention.ms': '1000' } }
  t.same(settingsConflicts(same, resolveSettings(same, limits, 1), existing), [])
})
