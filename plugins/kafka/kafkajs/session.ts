/**
 * One running kafkajs consumer ("session") for a fixed topic set, either as a member of the real group
 * (subscribe) or alone in a private shadow group whose assigner hands it exactly the requested partitions
 * (manual assignment; kafkajs has no assign(), see docs/consumer-engine.md). kafkajs subscriptions cannot change
 * once running, so the engine opens a new session when its topics change. Implements the port's
 * ConsumerSession (driver.ts); parking and holding are enforced at the fetch gate (patches.ts).
 */
import { AssignerProtocol, PartitionAssigners, type Consumer, type EachBatchPayload, type Kafka, type PartitionAssigner } from 'kafkajs'
import { FetchedRecord, type BufferedRecord, type ConsumerSession, type PartitionOffset, type SessionSpec } from '../driver.js'
import { toKafkaError } from './errors.js'
import { attachSession, consumerPatchesApplied, fetchingSince, FetchGate } from './patches.js'

export interface SessionOptions extends SessionSpec {
  kafka: Kafka
}

function fixedAssigner (assignment: Record<string, number[]>): PartitionAssigner {
  return () => ({
    name: 'DiasporaFixedAssigner',
    version: 0,
    async assign ({ members }) {
      // The shadow group has one member; any stray member gets nothing.
      return members.map((m, i) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: i === 0 ? assignment : {},
          userData: Buffer.alloc(0)
        })
      }))
    },
    protocol ({ topics }) {
      return { name: 'DiasporaFixedAssigner', metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) }
    }
  })
}

/**
 * Headers of a message kafkajs decoded (the fallback path): its object keeps each value's bytes, but groups a
 * repeated name's values into an array at the name's first place, and puts integer-like names first (JavaScript
 * key order). The fetch decoder keeps the wire order; this path keeps the bytes.
 */
function headersOf (h: Record<string, unknown> | undefined): BufferedRecord['headers'] {
  if (!h) return undefined
  const keys = Object.keys(h)
  if (keys.length === 0) return undefined
  const out: Array<[string, Buffer | null]> = []
  for (const k of keys) {
    const v = h[k]
    const vals = Array.isArray(v) ? v : [v]
    for (const x of vals) out.push([k, x == null ? null : Buffer.isBuffer(x) ? Buffer.from(x) : Buffer.from(String(x))])
  }
  return out
}

type FetchedMessage = EachBatchPayload['batch']['messages'][number]

/** Size of the blocks fetched keys and values are copied into (a record larger than this gets its own). */
const BLOCK_BYTES = 64 * 1024

/**
 * kafkajs hands out keys and values as slices of the whole fetch response; copying lets that response be
 * freed. They are copied into blocks of up to 64 KiB (a few allocations per batch instead of two per record);
 * a block lives until its last record leaves the buffer, and records leave a partition's queue in order, so a
 * partly read partition keeps at most one block beyond the bytes the buffer budget counts.
 */
export function toSessionRecords (
  topic: string,
  partition: number,
  messages: readonly FetchedMessage[]
): BufferedRecord[] {
  let left = 0
  for (const m of messages) left += (m.key?.length ?? 0) + (m.value?.length ?? 0)
  let block = Buffer.allocUnsafe(0)
  let at = 0
  const slice = (b: Buffer | null | undefined): Buffer | null => {
    if (b == null) return null
    block.set(b, at) // TypedArray#set: a plain memmove, without Buffer#copy's argument handling and view
    const out = block.subarray(at, at + b.length)
    at += b.length
    left -= b.length
    return out
  }
  const records: BufferedRecord[] = new Array(messages.length)
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as FetchedMessage
    const need = (m.key?.length ?? 0) + (m.value?.length ?? 0)
    if (at + need > block.length) {
      block = Buffer.allocUnsafe(Math.min(left, Math.max(BLOCK_BYTES, need)))
      at = 0
    }
    const key = slice(m.key)
    const value = slice(m.value)
    records[i] = {
      topic,
      partition,
      offset: Number(m.offset),
      timestamp: Number(m.timestamp),
      key,
      value,
      headers: headersOf(m.headers as Record<string, unknown> | undefined),
      size: need
    }
  }
  return records
}

export class Session implements ConsumerSession {
  readonly consumer: Consumer
  readonly topics: string[]
  #stopped = false
  #running = false
  /** Parked and held, enforced at the fetch (patches.ts, the fetch gate). */
  readonly #gate: FetchGate
  /** The kafkajs Cluster of this consumer, handed to the assigner factory (the patches' key for it). */
  #cluster: object | undefined

  constructor (private readonly opts: SessionOptions) {
    if (!consumerPatchesApplied()) throw new Error('kafkajs is not patched: call applyKafkajsPatches() (plugins/kafka/kafkajs/patches.ts) first')
    this.topics = opts.topics
    this.#gate = new FetchGate(opts.heartbeatInterval)
    this.consumer = opts.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeout,
      heartbeatInterval: opts.heartbeatInterval,
      rebalanceTimeout: Math.max(opts.sessionTimeout, 10000),
      maxWaitTimeInMs: opts.maxWaitTimeInMs,
      maxBytes: opts.maxBytes,
      maxBytesPerPartition: Math.min(opts.maxBytes, 1048576),
      allowAutoTopicCreation: false,
      readUncommitted: true, // Confluent parity: the Java consumer defaults to read_uncommitted
      partitionAssigners: [(config) => {
        this.#cluster = config.cluster
        attachSession(config.cluster, this.#gate)
        return (opts.fixed ? fixedAssigner(opts.fixed) : PartitionAssigners.roundRobin)(config)
      }],
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000, restartOnFailure: async () => !this.#stopped }
    })
    // kafkajs runs assigner factories inside consumer() (src/consumer/index.js): the gate is always attached.
    if (this.#cluster === undefined) throw new Error('kafkajs did not hand its Cluster to the assigner factory: not the kafkajs 2.2.4 the session was written for')
    const { events } = this.consumer
    this.consumer.on(events.GROUP_JOIN, e => {
      const assignment: Array<{ topic: string, partition: number }> = []
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
        for (const partition of partitions) assignment.push({ topic, partition })
      }
      opts.handlers.onJoin(assignment)
    })
    this.consumer.on(events.REBALANCING, () => opts.handlers.onRebalancing())
    this.consumer.on(events.CRASH, e => {
      if (!this.#stopped) opts.handlers.onCrash(toKafkaError(e.payload.error), e.payload.restart)
    })
  }

  /** Connect, subscribe and start fetching. Resolves once running (not once joined: see onJoin). */
  async start (): Promise<void> {
    try {
      await this.consumer.connect()
      await this.consumer.subscribe({ topics: this.topics, fromBeginning: this.opts.fromBeginning })
    } catch (err) {
      throw toKafkaError(err)
    }
    if (this.#stopped) return
    this.#running = true
    // run() resolves after the first join or on a crash; membership is tracked through events instead.
    this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async (payload: EachBatchPayload) => this.#onBatch(payload)
    }).catch(err => { if (!this.#stopped) this.opts.handlers.onCrash(toKafkaError(err), false) })
  }

  /** Records go to the engine at once; a held or parked session's next fetch waits at the gate, not here. */
  async #onBatch ({ batch, isStale }: EachBatchPayload): Promise<void> {
    if (this.#stopped || isStale()) return
    // Our decoder's records as they are; kafkajs' messages (a partition it decoded) converted.
    const messages: readonly unknown[] = batch.messages
    const records = messages[0] instanceof FetchedRecord
      ? messages as FetchedRecord[]
      : toSessionRecords(batch.topic, batch.partition, batch.messages)
    if (records.length > 0) this.opts.handlers.onRecords(batch.topic, batch.partition, records)
  }

  get running (): boolean { return this.#running && !this.#stopped }

  get fetchingSince (): number | undefined {
    return this.#cluster === undefined ? undefined : fetchingSince(this.#cluster)
  }

  seek (topic: string, partition: number, offset: number): void {
    this.consumer.seek({ topic, partition, offset: String(offset) })
  }

  /**
   * Stop taking records: the next fetch waits at the gate, and release() lets it go at once. Not kafkajs'
   * pause(): with every partition paused kafkajs sleeps maxWaitTimeInMs between checks, so each resume stalled a
   * draining consumer for up to CONSUMER_FETCH_MAX_WAIT_MS.
   */
  hold (): void { this.#gate.held = true }

  release (): void {
    this.#gate.held = false
    this.#gate.release()
  }

  /**
   * Parked (no reads for a while): no Fetch, only heartbeats; membership and partitions stay, and unpark is
   * immediate.
   */
  park (): void { this.#gate.parked = true }

  unpark (): void {
    this.#gate.parked = false
    this.#gate.release()
  }

  async commit (offsets: PartitionOffset[]): Promise<void> {
    try {
      await this.consumer.commitOffsets(offsets.map(o => ({
        topic: o.topic,
        partition: o.partition,
        offset: String(o.offset),
        metadata: o.metadata ?? null
      })))
    } catch (err) {
      throw toKafkaError(err)
    }
  }

  /** Leave the group and close sockets. */
  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    // kafkajs' disconnect waits for the fetch loop, which must not sit out a wait at the gate.
    this.#gate.parked = false
    this.#gate.held = false
    this.#gate.release()
    await this.consumer.disconnect().catch(() => {})
  }
}
