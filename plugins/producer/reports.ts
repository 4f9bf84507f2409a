/** Confluent's success reports for produced records. Plain module. */
import type { Delivery } from './engine.js'
import { isoTimestamp, type EncodedRecord } from './records.js'

export function successReport (userTopic: string, record: EncodedRecord, d: Delivery): Record<string, unknown> {
  const out: Record<string, unknown> = {
    topic_name: userTopic,
    partition_id: d.partition,
    offset: d.offset,
    timestamp: isoTimestamp(d.timestamp)
  }
  if (record.keyType) out.key = { type: record.keyType, size: record.key?.length ?? -1 }
  if (record.valueType) out.value = { type: record.valueType, size: record.value?.length ?? -1 }
  return out
}
