/**
 * Offset look-ups of the consumer engine, over the Kafka driver port: partitions that must exist, the start
 * of newly assigned partitions, log edges, the group's commits and timestamp offsets. Stateless; numbers in
 * and out, keyed by tpKey. Kafka's failures pass through as the port's KafkaError. Plain module.
 */
import { Errors } from '../errors/errors.js'
import { isKafkaError, type KafkaDriver, type PartitionOffset, type TopicPartition } from '../kafka/driver.js'
import type { Positions } from './positions.js'
import { compositeKey, tpKey } from './keys.js'

export interface Edges { low: number, high: number }

const topicsOf = (list: readonly TopicPartition[]): string[] => [...new Set(list.map(tp => tp.topic))]

/** Partitions must exist: unknown topic 40401, unknown partition 40402 (named by `user`, the user's topic name). */
export async function validatePartitions (
  kafka: KafkaDriver, list: readonly TopicPartition[], user: (kafkaTopic: string) => string
): Promise<void> {
  const topics = topicsOf(list)
  let counts: Map<string, number>
  try {
    counts = await kafka.partitionCounts(topics)
  } catch (err) {
    if (isKafkaError(err) && err.unknownTopic) {
      const existing = new Set(await kafka.listTopics().catch(() => [] as string[]))
      const missing = topics.find(t => !existing.has(t)) ?? topics[0] as string
      throw Errors.topicNotFound(user(missing))
    }
    throw err
  }
  for (const tp of list) {
    const n = counts.get(tp.topic)
    if (n === undefined) throw Errors.topicNotFound(user(tp.topic))
    if (tp.partition < 0 || tp.partition >= n) throw Errors.partitionNotFound(user(tp.topic), tp.partition)
  }
}

/** Log start (low) and end (high) per partition of the listed topics: one look-up per topic. */
export async function edges (kafka: KafkaDriver, list: readonly TopicPartition[]): Promise<Map<string, Edges>> {
  const out = new Map<string, Edges>()
  for (const topic of topicsOf(list)) {
    for (const p of await kafka.edges(topic)) out.set(tpKey(topic, p.partition), { low: p.low, high: p.high })
  }
  return out
}

/** The group's committed offset per partition of the listed topics (partitions never committed left out). */
export async function committed (
  kafka: KafkaDriver, group: string, topics: readonly string[]
): Promise<Map<string, { offset: number, metadata: string }>> {
  const found = new Map<string, { offset: number, metadata: string }>()
  for (const c of await kafka.committedOffsets(group, [...topics])) found.set(tpKey(c.topic, c.partition), { offset: c.offset, metadata: c.metadata ?? '' })
  return found
}

/**
 * committed(), leaving unknown topics out: one unknown topic fails the whole call, so the topics that exist are
 * asked again (one listing, not one call per topic).
 */
export async function committedOfExisting (
  kafka: KafkaDriver, group: string, topics: readonly string[]
): Promise<Map<string, { offset: number, metadata: string }>> {
  try {
    return await committed(kafka, group, topics)
  } catch (err) {
    if (!(isKafkaError(err) && err.unknownTopic)) throw err
    const existing = new Set(await kafka.listTopics())
    const known = topics.filter(t => existing.has(t))
    return known.length > 0 && known.length < topics.length ? committedOfExisting(kafka, group, known) : new Map()
  }
}

/** Where newly assigned partitions start: the group's commit, else auto.offset.reset's edge (none: no start). */
export async function startOffsets (kafka: KafkaDriver, group: string, list: readonly TopicPartition[], reset: 'earliest' | 'latest' | 'none'): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  if (list.length === 0) return out
  for (const [k, c] of await committed(kafka, group, topicsOf(list))) out.set(k, c.offset)
  const missing = list.filter(tp => !out.has(tpKey(tp.topic, tp.partition)))
  // reset none: no start at all; the read names the partition (Reader#requireStartOffsets, reader.ts).
  if (missing.length > 0 && reset !== 'none') {
    const e = await edges(kafka, missing)
    for (const tp of missing) {
      const edge = e.get(tpKey(tp.topic, tp.partition))
      if (edge) out.set(tpKey(tp.topic, tp.partition), reset === 'earliest' ? edge.low : edge.high)
    }
  }
  return out
}

// ---- seeks: where each partition goes --------------------------------------------------------------------

/**
 * Requested offsets clamped into the log: past the end, the driver would reset the position behind the
 * instance's back and the ledger's duplicate guard would then drop every record below the requested offset.
 */
export async function clampedSeeks (kafka: KafkaDriver, list: readonly PartitionOffset[]): Promise<PartitionOffset[]> {
  const e = await edges(kafka, list)
  return list.map(o => {
    const edge = e.get(tpKey(o.topic, o.partition))
    return {
      topic: o.topic,
      partition: o.partition,
      offset: edge ? Math.min(Math.max(o.offset, edge.low), edge.high) : o.offset
    }
  })
}

/** The beginning or end of each partition (a partition without edges: 404/40402). */
export async function edgeSeeks (kafka: KafkaDriver, list: readonly TopicPartition[], edge: 'beginning' | 'end', user: (kafkaTopic: string) => string): Promise<PartitionOffset[]> {
  const e = await edges(kafka, list)
  return list.map(tp => {
    const found = e.get(tpKey(tp.topic, tp.partition))
    if (!found) throw Errors.partitionNotFound(user(tp.topic), tp.partition)
    return { ...tp, offset: edge === 'beginning' ? found.low : found.high }
  })
}

/**
 * The offset of each partition's instant, the last entry of a partition winning, with one broker call per topic
 * and instant (10,000 entries naming one partition took 14 s when each was looked up); no record at or after the
 * instant: the end (Confluent fails with a 500 there).
 */
export async function timestampSeeks (
  kafka: KafkaDriver, entries: ReadonlyArray<TopicPartition & { timestamp: number }>
): Promise<PartitionOffset[]> {
  const last = new Map<string, TopicPartition & { timestamp: number }>()
  for (const e of entries) last.set(tpKey(e.topic, e.partition), e)
  const lookups = new Map<string, Promise<Map<number, number>>>()
  // End offsets, fetched once per topic and only if some partition has no record at or after its instant.
  const ends = new Map<string, Promise<Map<string, Edges>>>()
  const out: PartitionOffset[] = []
  for (const e of last.values()) {
    const k = compositeKey(e.topic, e.timestamp)
    let lookup = lookups.get(k)
    if (!lookup) lookups.set(k, lookup = kafka.offsetsForTimestamp(e.topic, e.timestamp))
    let offset = (await lookup).get(e.partition)
    if (offset === undefined) {
      let end = ends.get(e.topic)
      if (!end) ends.set(e.topic, end = edges(kafka, [e]))
      offset = (await end).get(tpKey(e.topic, e.partition))?.high ?? 0
    }
    out.push({ topic: e.topic, partition: e.partition, offset })
  }
  return out
}

/**
 * auto.offset.reset none: the held partitions that the group never committed and the client never sought (each
 * found positioned is marked so). Asks Kafka only while some held partition is unchecked, and again while a join
 * during the look-up brought partitions not yet checked, so none slips into a read.
 */
export async function withoutStart (
  kafka: KafkaDriver, group: string, positions: Positions
): Promise<TopicPartition[]> {
  for (;;) {
    const unchecked = positions.unpositioned()
    if (unchecked.length === 0) return []
    const found = await committed(kafka, group, topicsOf(unchecked))
    const missing: TopicPartition[] = []
    for (const tp of unchecked) {
      // Held still (a rebalance may have moved it while Kafka was asked), and not sought meanwhile.
      if (!positions.holds(tp.topic, tp.partition) || positions.isPositioned(tp.topic, tp.partition)) continue
      if (found.has(tpKey(tp.topic, tp.partition))) positions.positioned(tp.topic, tp.partition)
      else missing.push(tp)
    }
    if (missing.length > 0) return missing
  }
}
