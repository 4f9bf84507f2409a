/**
 * The positions ledger of one consumer instance: which partitions it holds, where each stands (the next offset
 * expected from Kafka, and the offset after the last record returned over HTTP), where the next session should
 * start, and what a commit-all commits. Pure bookkeeping: no Kafka, no timers; the instance applies the seeks
 * and buffer purges it returns. Plain module.
 */
import type { PartitionOffset, TopicPartition } from '../kafka/driver.js'
import { compositeKey, tpKey } from './keys.js'

interface Position {
  /** Next offset expected from Kafka (after the last buffered record). */
  next: number
  /** Offset after the last record returned over HTTP; what commit-all commits. */
  delivered?: number
}

export interface JoinPlan {
  /** Partitions no longer held: their buffered records go. */
  revoked: TopicPartition[]
  /** Where the session must start the partitions it keeps or resumes (seeks inside the join). */
  seeks: PartitionOffset[]
}

export class Positions {
  #assigned = new Map<string, TopicPartition>()
  #positions = new Map<string, Position>()
  /** Where the next session should start, for partitions it may get (retained across rebuilds). */
  #resumeAt = new Map<string, number>()
  /**
   * auto.offset.reset none: held partitions whose start is known not to come from the reset (the group has a
   * commit, or the client sought or committed); a read finding a held partition outside it checks the group.
   */
  #positioned = new Set<string>()
  /** The offsets of the last successful commit-all (see commitKey). */
  #lastCommitted: string | undefined

  /** The partitions held now. */
  assigned (): TopicPartition[] { return [...this.#assigned.values()] }
  holds (topic: string, partition: number): boolean { return this.#assigned.has(tpKey(topic, partition)) }

  /** Manual assignment: held at once (as Java's assign()), before any join. */
  assign (partitions: readonly TopicPartition[]): void {
    this.#assigned = new Map(partitions.map(tp => [tpKey(tp.topic, tp.partition), tp]))
  }

  /** Manual assignment again: partitions that stay keep their place; returns those that have none. */
  keepPlaces (wanted: readonly TopicPartition[]): TopicPartition[] {
    for (const tp of wanted) {
      const pos = this.#positions.get(tpKey(tp.topic, tp.partition))
      const keep = pos?.delivered ?? pos?.next
      if (keep !== undefined) this.#resumeAt.set(tpKey(tp.topic, tp.partition), keep)
    }
    return wanted.filter(tp => !this.#resumeAt.has(tpKey(tp.topic, tp.partition)))
  }

  /** Where partitions without a place start (the group's commit, or auto.offset.reset's edge). */
  resumeAt (starts: ReadonlyMap<string, number>): void {
    for (const [k, v] of starts) this.#resumeAt.set(k, v)
  }

  /**
   * A new session for a changed topic set: partitions delivered from resume there; the rest from the group's
   * commits.
   */
  keepDelivered (): void {
    for (const [k, pos] of this.#positions) {
      if (pos.delivered !== undefined) this.#resumeAt.set(k, pos.delivered)
    }
  }

  /** The session stopped: nothing is held or buffered (places to resume at are kept). */
  sessionStopped (): void {
    this.#assigned.clear()
  }

  /** A new session starts: positions are rebuilt from the places to resume at. */
  sessionStarting (): void {
    this.#positions.clear()
  }

  /** Unsubscribed or closed: forget everything. */
  forget (): void {
    this.#assigned.clear()
    this.#positions.clear()
    this.#resumeAt.clear()
    this.#positioned.clear()
  }

  /**
   * The group's assignment (a join): revoked partitions are forgotten; kept ones continue after what is
   * buffered (not from the last commit, where Kafka would restart them); resumed ones start at their place.
   */
  join (assignment: readonly TopicPartition[]): JoinPlan {
    const next = new Map(assignment.map(tp => [tpKey(tp.topic, tp.partition), tp]))
    const revoked: TopicPartition[] = []
    for (const [k, tp] of this.#assigned) {
      if (!next.has(k)) {
        revoked.push(tp)
        this.#positions.delete(k)
        this.#positioned.delete(k)
      }
    }
    const seeks: PartitionOffset[] = []
    for (const [k, tp] of next) {
      const pos = this.#positions.get(k)
      const resume = this.#resumeAt.get(k)
      if (pos) {
        seeks.push({ ...tp, offset: pos.next })
      } else if (resume !== undefined) {
        seeks.push({ ...tp, offset: resume })
        this.#positions.set(k, { next: resume, delivered: resume })
        this.#positioned.add(k)
      }
    }
    // Places kept for partitions that went to other members are stale from now on: should one come back in a
    // later rebalance, the group's commit (which that member may have advanced) is where to continue.
    this.#resumeAt.clear()
    // A new generation: the next auto-commit goes to Kafka even if the offsets did not change.
    this.#lastCommitted = undefined
    this.#assigned = next
    return { revoked, seeks }
  }

  /**
   * A fetched batch of a held partition (offsets ascending): the index of its first record not already buffered
   * (a re-fetch after a seek or rejoin repeats offsets), and the position moves past its last record.
   */
  fetched (topic: string, partition: number, records: ReadonlyArray<{ offset: number }>): number {
    const k = tpKey(topic, partition)
    const pos = this.#positions.get(k)
    let from = 0
    if (pos) while (from < records.length && (records[from] as { offset: number }).offset < pos.next) from++
    if (from === records.length) return from
    const next = (records[records.length - 1] as { offset: number }).offset + 1
    if (pos) pos.next = next
    else this.#positions.set(k, { next })
    return from
  }

  /** Records up to `next` were returned over HTTP (RecordBuffer.take's callback). */
  delivered = (topic: string, partition: number, next: number): void => {
    const pos = this.#positions.get(tpKey(topic, partition))
    if (pos) pos.delivered = next
  }

  /** The client moved the partition to `offset` (a seek, or a commit under reset none). */
  sought (topic: string, partition: number, offset: number): void {
    const k = tpKey(topic, partition)
    this.#positioned.add(k)
    this.#positions.set(k, { next: offset, delivered: offset })
  }

  /** What commit-all commits: the delivered offset of every held partition that has one. */
  toCommit (): PartitionOffset[] {
    const list: PartitionOffset[] = []
    for (const [k, tp] of this.#assigned) {
      const d = this.#positions.get(k)?.delivered
      if (d !== undefined) list.push({ ...tp, offset: d })
    }
    return list
  }

  /** Whether `list` is what the last successful commit-all committed (an idle auto-commit sends nothing). */
  alreadyCommitted (list: readonly PartitionOffset[]): boolean {
    return this.#lastCommitted !== undefined && commitKey(list) === this.#lastCommitted
  }

  committed (list: readonly PartitionOffset[]): void { this.#lastCommitted = commitKey(list) }

  /** The group's offsets may now differ from what this instance last committed. */
  commitUnknown (): void { this.#lastCommitted = undefined }

  // ---- auto.offset.reset none ---------------------------------------------------------------------------

  /** Held partitions whose start may come from the reset (to check against the group's commits). */
  unpositioned (): TopicPartition[] {
    return [...this.#assigned].filter(([k]) => !this.#positioned.has(k)).map(([, tp]) => tp)
  }

  isPositioned (topic: string, partition: number): boolean { return this.#positioned.has(tpKey(topic, partition)) }
  positioned (topic: string, partition: number): void { this.#positioned.add(tpKey(topic, partition)) }
}

function commitKey (list: readonly PartitionOffset[]): string {
  return list.map(o => compositeKey(o.topic, o.partition, o.offset)).join('\n')
}
