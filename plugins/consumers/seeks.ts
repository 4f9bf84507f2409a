/**
 * Seeks of one consumer instance: to offsets (clamped to the log), to the log's edges, to timestamps. Each checks
 * that the instance holds the partitions now, finds the targets over the driver port (offsets.ts) and moves there:
 * the partition's buffer purged, the ledger and the session's fetch pointed at the offset; and, under
 * auto.offset.reset none, a commit's move of partitions that had no position. The instance runs them on its
 * control chain. Plain module.
 */
import { Errors } from '../errors/errors.js'
import type { ConsumerSession, KafkaDriver, PartitionOffset, TopicPartition } from '../kafka/driver.js'
import type { FlowControl } from './flow.js'
import * as offsets from './offsets.js'
import type { Positions } from './positions.js'
import type { BufferBudget, RecordBuffer } from './record-buffer.js'
import type { TopicNames } from './topic-names.js'

export interface SeeksDeps {
  kafka: KafkaDriver
  names: TopicNames
  buffer: RecordBuffer
  budget: BufferBudget
  positions: Positions
  flow (): FlowControl
  session (): ConsumerSession | undefined
}

export class Seeks {
  constructor (private readonly deps: SeeksDeps) {}

  /** The user's offsets, each clamped to its partition's log (offsets.clampedSeeks). */
  async to (list: readonly PartitionOffset[]): Promise<void> {
    const kafkaList = list.map(o => this.deps.names.kafka(o))
    this.#requireHeld(kafkaList)
    this.#all(await offsets.clampedSeeks(this.deps.kafka, kafkaList))
  }

  /** No partitions (or an empty list): every partition held now, as the Diaspora SDK documents. */
  async toEdge (partitions: readonly TopicPartition[] | undefined, edge: 'beginning' | 'end'): Promise<void> {
    const { names, positions } = this.deps
    const list = partitions === undefined || partitions.length === 0
      ? positions.assigned()
      : names.kafkaPartitions(partitions)
    if (list.length === 0) return
    this.#requireHeld(list)
    this.#all(await offsets.edgeSeeks(this.deps.kafka, list, edge, names.user))
  }

  /** The last entry of a partition wins, as consecutive seeks would (offsets.timestampSeeks). */
  async toTimestamps (entries: ReadonlyArray<TopicPartition & { timestamp: number }>): Promise<void> {
    const list = entries.map(e => this.deps.names.kafka(e))
    this.#requireHeld(list)
    this.#all(await offsets.timestampSeeks(this.deps.kafka, list))
  }

  /**
   * auto.offset.reset none, after a commit of `list` (Kafka names): Java's next poll starts a held partition without
   * a position at its commit; the session here had to start somewhere already, so it moves there.
   */
  unpositionedTo (list: readonly PartitionOffset[]): void {
    const { positions } = this.deps
    for (const o of list) {
      if (positions.holds(o.topic, o.partition) && !positions.isPositioned(o.topic, o.partition)) {
        this.now(o.topic, o.partition, o.offset)
      }
    }
  }

  /** Purge the partition's buffer and point both the ledger and the session's fetch at `offset` (Kafka names). */
  now (topic: string, partition: number, offset: number): void {
    const { buffer, budget, positions } = this.deps
    budget.release(buffer.purge(topic, partition))
    positions.sought(topic, partition, offset)
    this.deps.session()?.seek(topic, partition, offset)
    this.deps.flow().maybeRelease()
  }

  #all (list: readonly PartitionOffset[]): void {
    for (const o of list) this.now(o.topic, o.partition, o.offset)
  }

  #requireHeld (list: readonly TopicPartition[]): void {
    for (const tp of list) {
      if (!this.deps.positions.holds(tp.topic, tp.partition)) {
        const name = `${this.deps.names.user(tp.topic)}-${tp.partition}`
        throw Errors.illegalState(`No current assignment for partition ${name}`)
      }
    }
  }
}
