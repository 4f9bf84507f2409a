/**
 * Management bodies (user, namespace, topic), compatible with the existing Diaspora service: success bodies
 * are `{status: 'success', message, …data}`; failures use ManagementError from schemas/common.ts.
 */
import { Type, type Static } from '@sinclair/typebox'
import { NamespaceName, TopicName } from './common.js'

const Success = Type.Literal('success')
const Message = Type.String({ description: 'human-readable outcome' })
const Names = (description: string) => Type.Array(Type.String(), { description })

export const NamespaceParams = Type.Object({ namespace: NamespaceName })
export const TopicParams = Type.Object({ namespace: NamespaceName, topic: TopicName })

/** Values are sent to Kafka as strings; numbers are accepted for convenience. */
export const TopicConfigs = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]), {
  description: 'Kafka topic configs from the allow-list: retention.ms (≤ TOPIC_MAX_RETENTION_MS), retention.bytes, ' +
    'cleanup.policy (delete or compact,delete), max.message.bytes, min.insync.replicas, compression.type, ' +
    'message.timestamp.type, delete.retention.ms, min.compaction.lag.ms',
  examples: [{ 'retention.ms': '86400000', 'cleanup.policy': 'delete' }]
})

export const CreateTopicBody = Type.Object({
  num_partitions: Type.Optional(Type.Integer({ minimum: 1, description: 'default TOPIC_DEFAULT_PARTITIONS, at most TOPIC_MAX_PARTITIONS' })),
  replication_factor: Type.Optional(Type.Integer({ minimum: 1, description: 'default TOPIC_DEFAULT_REPLICATION_FACTOR capped by the broker count; never above the broker count' })),
  configs: Type.Optional(TopicConfigs)
}, {
  additionalProperties: false,
  description: 'Optional. Without a body the operator defaults apply.',
  examples: [{ num_partitions: 3, replication_factor: 1, configs: { 'retention.ms': '86400000' } }]
})
export type CreateTopicBodyT = Static<typeof CreateTopicBody>

/** Legacy form of namespace claims (an earlier version of the existing service took the name in the body). */
export const NamespaceBody = Type.Object({ namespace: NamespaceName }, {
  additionalProperties: false,
  examples: [{ namespace: 'my-project' }]
})

export const TopicSettings = Type.Object({
  num_partitions: Type.Integer(),
  replication_factor: Type.Integer(),
  configs: Type.Record(Type.String(), Type.String())
}, { description: 'settings the topic was created with (reused by recreate)' })

export const UserCreated = Type.Object({
  status: Success,
  message: Message,
  subject: Type.String(),
  namespace: Type.String({ description: 'the default namespace: ns- + the last 12 characters of the subject without dashes' })
}, { examples: [{ status: 'success', message: 'User 7f2c…-0123456789ab created with namespace ns-0123456789ab', subject: '7f2c…', namespace: 'ns-0123456789ab' }] })

export const UserDeleted = Type.Object({
  status: Success,
  message: Message,
  subject: Type.String(),
  namespace: Type.String(),
  topics: Names('topics deleted with the default namespace')
})

export const NamespaceList = Type.Object({
  status: Success,
  message: Message,
  namespaces: Type.Record(Type.String(), Type.Array(Type.String()), { description: 'namespace → its topics' })
}, { examples: [{ status: 'success', message: 'Found 1 namespaces for 7f2c…', namespaces: { 'ns-0123456789ab': ['events'] } }] })

export const NamespaceChanged = Type.Object({
  status: Success,
  message: Message,
  namespace: Type.String(),
  namespaces: Names('namespaces the caller owns afterwards')
})

export const TopicCreated = Type.Object({
  status: Success,
  message: Message,
  topic: Type.String(),
  settings: TopicSettings,
  topics: Names('topics of the namespace afterwards')
}, { examples: [{ status: 'success', message: 'Topic events created in ns-0123456789ab', topic: 'events', settings: { num_partitions: 1, replication_factor: 1, configs: { 'retention.ms': '604800000' } }, topics: ['events'] }] })

export const TopicDeleted = Type.Object({
  status: Success,
  message: Message,
  topic: Type.String(),
  topics: Names('topics of the namespace afterwards')
})

export const TopicRecreated = Type.Object({
  status: Success,
  message: Message,
  topic: Type.String(),
  settings: TopicSettings
})

export const KeyIssued = Type.Object({
  status: Success,
  message: Message,
  access_key: Type.String({ description: 'iam: the IAM access key id; scram: the SCRAM user name' }),
  secret_key: Type.String({ description: 'iam: the IAM secret access key; scram: the SCRAM password. Only ever sent to its owner' }),
  create_date: Type.String({ description: 'when the key was created (ISO 8601)' }),
  endpoint: Type.String({ description: 'bootstrap servers for Kafka clients using this key, comma separated' }),
  fresh: Type.Boolean({ description: 'true when the key was created by this request (IAM: allow a few seconds to propagate); false for the stored key' }),
  mechanism: Type.String({ description: 'SASL mechanism: AWS_MSK_IAM (OAUTHBEARER with MSK IAM tokens, over SASL_SSL) or SCRAM-SHA-512' })
}, { examples: [{ status: 'success', message: 'Created a new key for 7f2c…', access_key: '7f2c…', secret_key: '…', create_date: '2026-01-01T00:00:00.000Z', endpoint: 'kafka.example.org:9096', fresh: true, mechanism: 'SCRAM-SHA-512' }] })

export const KeyDeleted = Type.Object({
  status: Success,
  message: Message
})
