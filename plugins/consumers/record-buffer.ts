/**
 * Per-instance prefetch buffer: one FIFO per topic-partition, byte and record accounting, and a fair take
 * (round-robin across partitions) bounded by max_bytes that always yields at least one record.
 * Plain data structure; the instance decides when to pause and resume Kafka around it.
 */

import type { BufferedRecord } from '../kafka/driver.js'
import { tpKey } from './keys.js'

export type { BufferedRecord }

class PartitionQueue {
  items: BufferedRecord[] = []
  head = 0
  bytes = 0
  /** The take that last took from this queue, and the offset after its last record (see take's `delivered`). */
  takeId = 0
  next = 0
  constructor (readonly key: string, readonly topic: string, readonly partition: number) {}
  get length (): number { return this.items.length - this.head }
  peek (): BufferedRecord | undefined { return this.items[this.head] }
  shift (): void {
    const r = this.items[this.head]
    if (r === undefined) return
    this.items[this.head++] = undefined as unknown as BufferedRecord
    this.bytes -= r.size
    // Compact now and then instead of Array#shift on every record (O(n) each).
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}

/** Told, once per partition a take touched, the offset after the last record taken from it. */
export type DeliveredFn = (topic: string, partition: number, next: number) => void

export class RecordBuffer {
  #queues = new Map<string, PartitionQueue>()
  /** Round-robin order over partitions (the queues themselves: no lookup per record taken). */
  #order: PartitionQueue[] = []
  #cursor = 0
  #takes = 0
  bytes = 0
  records = 0

  #queue (topic: string, partition: number): PartitionQueue {
    const key = tpKey(topic, partition)
    let q = this.#queues.get(key)
    if (!q) {
      q = new PartitionQueue(key, topic, partition)
      this.#queues.set(key, q)
      this.#order.push(q)
    }
    return q
  }

  /** Append a fetched batch of one partition from index `from` on; returns the bytes added. */
  pushBatch (topic: string, partition: number, records: readonly BufferedRecord[], from = 0): number {
    if (from >= records.length) return 0
    const q = this.#queue(topic, partition)
    let added = 0
    for (let i = from; i < records.length; i++) {
      const r = records[i] as BufferedRecord
      q.items.push(r)
      added += r.size
    }
    q.bytes += added
    this.bytes += added
    this.records += records.length - from
    return added
  }

  /**
   * Take records round-robin across partitions, one at a time, while the total stays under maxBytes; the
   * first record is always taken so a record larger than max_bytes is still delivered. `accept` may refuse
   * a record (e.g. undecodable); taking then stops and the record stays at the head of its queue.
   * `delivered` hears, per partition taken from, the offset after its last record taken.
   */
  take (
    maxBytes: number, accept?: (r: BufferedRecord, first: boolean) => boolean, delivered?: DeliveredFn
  ): BufferedRecord[] {
    const out: BufferedRecord[] = []
    const order = this.#order
    let acc = 0
    let idle = 0
    const id = ++this.#takes
    const touched: PartitionQueue[] = []
    while (this.records > 0 && idle < order.length) {
      if (this.#cursor >= order.length) this.#cursor = 0
      const q = order[this.#cursor] as PartitionQueue
      const r = q.peek()
      if (r === undefined) { idle++; this.#cursor++; continue }
      if (out.length > 0 && acc + r.size > maxBytes) break
      if (accept && !accept(r, out.length === 0)) break
      q.shift()
      this.bytes -= r.size
      this.records--
      acc += r.size
      out.push(r)
      if (q.takeId !== id) { q.takeId = id; touched.push(q) }
      q.next = r.offset + 1
      idle = 0
      this.#cursor++
    }
    if (delivered) for (const q of touched) delivered(q.topic, q.partition, q.next)
    this.#dropEmpty()
    return out
  }

  /** Drop everything buffered for one partition (seek, revocation). Returns the bytes released. */
  purge (topic: string, partition: number): number {
    const key = tpKey(topic, partition)
    const q = this.#queues.get(key)
    if (!q) return 0
    const released = q.bytes
    this.bytes -= q.bytes
    this.records -= q.length
    this.#queues.delete(key)
    this.#order = this.#order.filter(x => x !== q)
    return released
  }

  clear (): number {
    const released = this.bytes
    this.#queues.clear()
    this.#order = []
    this.#cursor = 0
    this.bytes = 0
    this.records = 0
    return released
  }

  #dropEmpty (): void {
    if (this.#order.length < 64) return
    for (const [key, q] of this.#queues) if (q.length === 0) this.#queues.delete(key)
    this.#order = this.#order.filter(q => this.#queues.has(q.key))
  }
}

/** Process-wide prefetch budget shared by every instance. */
export class BufferBudget {
  used = 0
  readonly limit: number
  #waiters = new Set<() => void>()
  constructor (limit: number) { this.limit = limit }
  add (n: number): void { this.used += n }
  release (n: number): void {
    this.used -= n
    if (this.relieved && this.#waiters.size > 0) {
      const ws = [...this.#waiters]
      this.#waiters.clear()
      for (const w of ws) w()
    }
  }

  get exhausted (): boolean { return this.used >= this.limit }
  /** Below the resume mark (75 %): hysteresis, so instances do not flap around the limit. */
  get relieved (): boolean { return this.used < this.limit * 0.75 }
  /** Call `fn` once usage falls well below the limit. */
  onRelief (fn: () => void): void { this.#waiters.add(fn) }
  offRelief (fn: () => void): void { this.#waiters.delete(fn) }
}
