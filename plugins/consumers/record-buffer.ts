/**
 * Per-instance prefetch buffer: one FIFO per topic-partition, byte and record accounting, and a fair take
 * (round-robin across partitions) bounded by max_bytes that always yields at least one record.
 * Plain data structure; the instance decides when to pause and resume Kafka around it.
 */

export interface BufferedRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Array<[string, Buffer | null]> | undefined
  /** key + value bytes, Confluent's max_bytes measure. */
  size: number
}

class PartitionQueue {
  items: BufferedRecord[] = []
  head = 0
  bytes = 0
  get length (): number { return this.items.length - this.head }
  peek (): BufferedRecord | undefined { return this.items[this.head] }
  shift (): BufferedRecord | undefined {
    const r = this.items[this.head]
    if (r === undefined) return undefined
    this.items[this.head++] = undefined as unknown as BufferedRecord
    this.bytes -= r.size
    // Compact now and then instead of Array#shift on every record (O(n) each).
    if (this.head > 1024 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0 }
    return r
  }
}

export function tpKey (topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

export class RecordBuffer {
  #queues = new Map<string, PartitionQueue>()
  /** Round-robin cursor over partitions with data. */
  #order: string[] = []
  #cursor = 0
  bytes = 0
  records = 0

  /** The queue of the last push: records arrive in batches of one partition, so most pushes skip the lookup. */
  #last: { topic: string, partition: number, q: PartitionQueue } | undefined

  push (r: BufferedRecord): void {
    const last = this.#last
    let q = last !== undefined && last.partition === r.partition && last.topic === r.topic ? last.q : undefined
    if (q === undefined) {
      const key = tpKey(r.topic, r.partition)
      q = this.#queues.get(key)
      if (!q) {
        q = new PartitionQueue()
        this.#queues.set(key, q)
        this.#order.push(key)
      }
      this.#last = { topic: r.topic, partition: r.partition, q }
    }
    q.items.push(r)
    q.bytes += r.size
    this.bytes += r.size
    this.records++
  }

  /**
   * Take records round-robin across partitions, one at a time, while the total stays under maxBytes; the
   * first record is always taken so a record larger than max_bytes is still delivered. `accept` may refuse
   * a record (e.g. undecodable); taking then stops and the record stays at the head of its queue.
   */
  take (maxBytes: number, accept?: (r: BufferedRecord, first: boolean) => boolean): BufferedRecord[] {
    const out: BufferedRecord[] = []
    let acc = 0
    let idle = 0
    while (this.records > 0 && this.#order.length > 0 && idle < this.#order.length) {
      if (this.#cursor >= this.#order.length) this.#cursor = 0
      const key = this.#order[this.#cursor] as string
      const q = this.#queues.get(key) as PartitionQueue
      const r = q.peek()
      if (r === undefined) { idle++; this.#cursor++; continue }
      if (out.length > 0 && acc + r.size > maxBytes) break
      if (accept && !accept(r, out.length === 0)) break
      q.shift()
      this.bytes -= r.size
      this.records--
      acc += r.size
      out.push(r)
      idle = 0
      this.#cursor++
    }
    this.#dropEmpty()
    return out
  }

  /** Drop everything buffered for one partition (seek, revocation). Returns the bytes released. */
  purge (topic: string, partition: number): number {
    const key = tpKey(topic, partition)
    const q = this.#queues.get(key)
    if (!q) return 0
    const released = q.bytes
    this.#last = undefined
    this.bytes -= q.bytes
    this.records -= q.length
    this.#queues.delete(key)
    this.#order = this.#order.filter(k => k !== key)
    return released
  }

  clear (): number {
    const released = this.bytes
    this.#last = undefined
    this.#queues.clear()
    this.#order = []
    this.#cursor = 0
    this.bytes = 0
    this.records = 0
    return released
  }

  partitionBytes (topic: string, partition: number): number {
    return this.#queues.get(tpKey(topic, partition))?.bytes ?? 0
  }

  #dropEmpty (): void {
    if (this.#order.length < 64) return
    this.#last = undefined
    for (const [key, q] of this.#queues) if (q.length === 0) this.#queues.delete(key)
    this.#order = this.#order.filter(k => this.#queues.has(k))
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
