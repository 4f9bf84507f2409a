/** Confluent REST Proxy v2 consumer bodies, with the exact wire names (dot notation). */
import { Type, type Static } from '@sinclair/typebox'
import { GroupName, InstanceName, NamespaceName, TopicName } from './common.js'

const Offset = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'int64 offset' })
const Partition = Type.Integer({ minimum: 0, maximum: 2147483647 })

export const GroupParams = Type.Object({ namespace: NamespaceName, group: GroupName })
export const InstanceParams = Type.Object({ namespace: NamespaceName, group: GroupName, instance: InstanceName })
/** /api/v2/consumers: the caller's default namespace, so none in the path. */
export const V2GroupParams = Type.Object({ group: GroupName })
export const V2InstanceParams = Type.Object({ group: GroupName, instance: InstanceName })

export const CreateConsumerBody = Type.Object({
  name: Type.Optional(InstanceName),
  id: Type.Optional(InstanceName),
  format: Type.Optional(Type.String({ description: 'binary (default) or json; avro, jsonschema and protobuf need a schema registry and are refused', examples: ['binary'] })),
  'auto.offset.reset': Type.Optional(Type.String({ description: 'earliest, latest (default) or none (a read of a partition the group never committed fails with 409/40905 until the client seeks or commits)', examples: ['earliest'] })),
  'auto.commit.enable': Type.Optional(Type.String({ description: '"true" or "false" (default)', examples: ['false'] })),
  'fetch.min.bytes': Type.Optional(Type.Integer({ description: 'bytes buffered before a read returns early; -1 waits the whole timeout (default 1)' })),
  'consumer.request.timeout.ms': Type.Optional(Type.Integer({ minimum: 0, description: 'default wait of GET records for this instance' })),
  responseMinBytes: Type.Optional(Type.Integer({ description: 'alias of fetch.min.bytes' })),
  requestWaitMs: Type.Optional(Type.Integer({ minimum: 0, description: 'alias of consumer.request.timeout.ms' }))
}, {
  additionalProperties: false,
  examples: [{ name: 'worker-1', format: 'binary', 'auto.offset.reset': 'earliest', 'auto.commit.enable': 'false' }]
})
export type CreateConsumerBodyT = Static<typeof CreateConsumerBody>

export const CreateConsumerResponse = Type.Object({
  instance_id: Type.String(),
  base_uri: Type.String({ examples: ['https://diaspora.example.org/api/v3/ns-0123456789ab/consumers/analysis/instances/worker-1'] })
})

export const SubscriptionBody = Type.Object({
  topics: Type.Optional(Type.Array(TopicName, { maxItems: 1000 })),
  topic_pattern: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'regular expression matched in full against topic names of this namespace' }))
}, { additionalProperties: false, examples: [{ topics: ['events'] }, { topic_pattern: 'events-.*' }] })

export const SubscriptionResponse = Type.Object({ topics: Type.Array(Type.String()) })

export const RecordsQuery = Type.Object({
  timeout: Type.Optional(Type.Integer({ description: 'longest wait in ms (capped by the server maximum)' })),
  max_bytes: Type.Optional(Type.Integer({ description: 'largest key+value bytes to return (at least one record is returned)' }))
}, { additionalProperties: false })

export const ConsumerRecord = Type.Object({
  topic: Type.String(),
  key: Type.Unknown({ description: 'base64 (binary); json: the JSON value the bytes hold, else their UTF-8 text as a string; null when absent' }),
  value: Type.Unknown({ description: 'base64 (binary); json: the JSON value the bytes hold, else their UTF-8 text as a string; null when absent' }),
  partition: Type.Integer(),
  offset: Type.Integer(),
  timestamp: Type.Integer({ description: 'record timestamp, ms since the epoch' }),
  headers: Type.Array(Type.Object({
    name: Type.String(),
    value: Type.Union([Type.String(), Type.Null()], { description: 'base64 in both formats; null for a null value' })
  }), { description: 'the record\'s headers in order, repeats kept; [] when none' })
}, {
  examples: [{ topic: 'events', key: 'am9iLTQy', value: 'eyJuIjoxfQ==', partition: 0, offset: 12, timestamp: 1795000000000, headers: [{ name: 'trace', value: 'YWJj' }, { name: 'empty', value: null }] }]
})
export const RecordsResponse = Type.Array(ConsumerRecord)

const TopicPartitionEntry = Type.Object({ topic: TopicName, partition: Partition }, { additionalProperties: false })
const OffsetEntry = Type.Object({
  topic: TopicName,
  partition: Partition,
  offset: Offset,
  metadata: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()]))
}, { additionalProperties: false })

export const CommitBody = Type.Object({
  offsets: Type.Optional(Type.Array(OffsetEntry, { maxItems: 10000 }))
}, { additionalProperties: false, examples: [{ offsets: [{ topic: 'events', partition: 0, offset: 41 }] }] })

export const PartitionsBody = Type.Object({
  partitions: Type.Array(TopicPartitionEntry, { maxItems: 10000 })
}, { additionalProperties: false, examples: [{ partitions: [{ topic: 'events', partition: 0 }] }] })
export type PartitionsBodyT = Static<typeof PartitionsBody>

/** positions/beginning and positions/end: no partitions, an empty list or no body mean every held partition. */
export const SeekEdgeBody = Type.Object({
  partitions: Type.Optional(Type.Array(TopicPartitionEntry, { maxItems: 10000 }))
}, { additionalProperties: false, examples: [{ partitions: [{ topic: 'events', partition: 0 }] }, { partitions: [] }] })

export const CommittedResponse = Type.Object({
  offsets: Type.Array(Type.Object({
    topic: Type.String(),
    partition: Type.Integer(),
    offset: Type.Integer(),
    metadata: Type.String()
  }))
})

export const AssignmentsResponse = Type.Object({
  partitions: Type.Array(Type.Object({ topic: Type.String(), partition: Type.Integer() }))
})

export const SeekBody = Type.Object({
  offsets: Type.Optional(Type.Array(OffsetEntry, { maxItems: 10000 })),
  timestamps: Type.Optional(Type.Array(Type.Object({
    topic: TopicName,
    partition: Partition,
    timestamp: Type.String({ format: 'date-time', description: 'ISO-8601 instant' }),
    metadata: Type.Optional(Type.Union([Type.String(), Type.Null()]))
  }, { additionalProperties: false }), { maxItems: 10000 }))
}, { additionalProperties: false, examples: [{ offsets: [{ topic: 'events', partition: 0, offset: 42 }] }] })

export const Empty = Type.Null({ description: 'no content' })
export const EmptyArray = Type.Array(Type.Never(), { maxItems: 0, description: 'always an empty list (Confluent)' })
