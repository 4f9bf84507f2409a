/**
 * Produce bodies: Confluent v3 records (one, a stream, or a batch) and Confluent v2 produce. The v3 bodies are
 * documented here and checked record by record in plugins/producer/records.ts, so that each record of a
 * batch or a stream fails on its own (the route does not let Ajv reject the request as a whole).
 */
import { Type } from '@sinclair/typebox'
import { NamespaceName, TopicName } from './common.js'

export const ProduceParams = Type.Object({ namespace: NamespaceName, topic: TopicName })

const Nullable = <T extends ReturnType<typeof Type.String>>(s: T) => Type.Union([s, Type.Null()])

const ProduceData = Type.Object({
  type: Type.String({ description: 'BINARY (data is padded base64), JSON (any JSON value, written compact) or STRING (UTF-8 text). AVRO, JSONSCHEMA and PROTOBUF need a schema registry: 422/42206', examples: ['JSON'] }),
  data: Type.Optional(Type.Unknown({ description: 'the key or value; null or absent writes a Kafka null' }))
}, { description: 'a key or value; absent or null writes a Kafka null' })

const Header = Type.Object({
  name: Type.String({ examples: ['trace-id'] }),
  value: Type.Optional(Nullable(Type.String({ description: 'padded base64; null gives a header with a null value', examples: ['YWJjMTIz'] })))
})

const recordFields = {
  partition_id: Type.Optional(Type.Union([Type.Integer({ description: 'partition to write to; absent: by key (murmur2, as the Java client) or spread when there is no key' }), Type.Null()])),
  headers: Type.Optional(Type.Union([Type.Array(Header, { description: 'order and repeated names are kept' }), Type.Null()])),
  key: Type.Optional(Type.Union([ProduceData, Type.Null()])),
  value: Type.Optional(Type.Union([ProduceData, Type.Null()])),
  timestamp: Type.Optional(Type.Union([
    Type.String({ description: 'ISO 8601 with a UTC offset (Z or ±hh:mm); without an offset: 400/40005. Absent: the time of sending' }),
    Type.Number({ description: 'epoch seconds (as Confluent)' }),
    Type.Null()
  ]))
}

export const ProduceRecord = Type.Object(recordFields, {
  description: 'One Confluent v3 record. A record needs a key or a value (422/42206).',
  examples: [
    { key: { type: 'STRING', data: 'job-42' }, value: { type: 'JSON', data: { status: 'done' } } },
    { partition_id: 0, value: { type: 'BINARY', data: 'aGVsbG8=' }, headers: [{ name: 'trace', value: 'dDE=' }], timestamp: '2026-10-26T15:04:05+00:00' }
  ]
})

const DataReport = Type.Object({
  type: Type.String(),
  size: Type.Integer({ description: 'bytes written; -1 for a null' })
})

const successFields = {
  topic_name: Type.String({ examples: ['events'] }),
  partition_id: Type.Integer({ examples: [0] }),
  offset: Type.Integer({ examples: [12] }),
  timestamp: Type.String({ description: 'the record\'s timestamp (ISO 8601, UTC)', examples: ['2026-10-26T15:04:05.123Z'] }),
  key: Type.Optional(DataReport),
  value: Type.Optional(DataReport)
}

export const ProduceResponse = Type.Object({
  error_code: Type.Integer({ description: 'always 200 (Confluent)', examples: [200] }),
  ...successFields
}, { description: 'The record is written and every in-sync replica has it (acks=all).' })

export const StreamResult = Type.Object({
  error_code: Type.Integer({ description: '200, or the error code of this record' }),
  message: Type.Optional(Type.String()),
  topic_name: Type.Optional(Type.String()),
  partition_id: Type.Optional(Type.Integer()),
  offset: Type.Optional(Type.Integer()),
  timestamp: Type.Optional(Type.String()),
  key: Type.Optional(DataReport),
  value: Type.Optional(DataReport)
}, { description: 'Streaming mode: one such object per record, each followed by CRLF' })

export const BATCH_ID_PATTERN = '^[A-Za-z0-9_-]{1,80}$'

export const BatchBody = Type.Object({
  entries: Type.Array(Type.Object({
    id: Type.String({ pattern: BATCH_ID_PATTERN, description: '1–80 of A-Z a-z 0-9 _ -, distinct within the batch', examples: ['0'] }),
    ...recordFields
  }), { description: 'at most PRODUCE_MAX_BATCH_ENTRIES (500) entries' })
}, {
  examples: [{
    entries: [
      { id: '0', key: { type: 'STRING', data: 'job-1' }, value: { type: 'JSON', data: { n: 1 } } },
      { id: '1', value: { type: 'BINARY', data: 'aGVsbG8=' } }
    ]
  }]
})

export const BatchResponse = Type.Object({
  successes: Type.Array(Type.Object({ id: Type.String(), ...successFields })),
  failures: Type.Array(Type.Object({
    id: Type.String(),
    error_code: Type.Integer({ description: '40005 timestamp without a UTC offset, 400 malformed, 40402 no such partition, 41302 record too large, 42206 schema type or empty record, 50003 outcome unknown, 50302 Kafka unreachable (nothing sent)', examples: [40005] }),
    message: Type.String()
  }))
}, { description: 'Each entry succeeded or failed on its own; both lists keep the request order.' })

export const V2ProduceBody = Type.Object({
  records: Type.Array(Type.Object({
    key: Type.Optional(Type.Unknown({ description: 'base64 (binary) or any JSON (json); null or absent: a null key' })),
    value: Type.Optional(Type.Unknown({ description: 'base64 (binary) or any JSON (json)' })),
    partition: Type.Optional(Type.Union([Type.Integer(), Type.Null()]))
  }, { additionalProperties: false }), { minItems: 1 }),
  key_schema: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  key_schema_id: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  value_schema: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  value_schema_id: Type.Optional(Type.Union([Type.Integer(), Type.Null()]))
}, {
  additionalProperties: false,
  examples: [{ records: [{ key: 'a2V5', value: 'aGVsbG8=' }, { value: 'd29ybGQ=', partition: 0 }] }]
})

export const V2ProduceResponse = Type.Object({
  key_schema_id: Type.Null(),
  value_schema_id: Type.Null(),
  offsets: Type.Array(Type.Object({
    partition: Type.Union([Type.Integer(), Type.Null()]),
    offset: Type.Union([Type.Integer(), Type.Null()]),
    error_code: Type.Union([Type.Integer(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()])
  }))
})
