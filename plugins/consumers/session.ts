/**
 * The kafkajs adapter: one running kafkajs consumer ("session") for a fixed topic set, either as a member of
 * the real group (subscribe) or alone in a private shadow group whose assigner hands it exactly the requested
 * partitions (manual assignment; kafkajs has no assign(), see docs/consumer-engine.md). kafkajs subscriptions
 * cannot change once running, so the instance replaces the whole session when its topics change.
 * This is the only consumer-side module that imports kafkajs.
 */
import { createRequire } from 'node:module'
import { FetchedRecord, type BufferedRecord } from './record-buffer.js'
import { FetchDecoder, type Codec, type DecodeHelpers } from './fetch-decoder.js'
import { AssignerProtocol, PartitionAssigners, type Consumer, type EachBatchPayload, type Kafka, type PartitionAssigner } from 'kafkajs'

/** kafkajs' internal modules, which the patches below reach (kafkajs is CommonJS). */
const require = createRequire(import.meta.url)

interface RequestQueueLike { pending: unknown[], scheduleCheckPendingRequests (): void }

/**
 * kafkajs 2.2.4 bug (tulios/kafkajs#1556, #1704): after every response, a connection's RequestQueue re-arms
 * its "check pending requests" timer even when nothing is pending and nothing is throttled, with a negative
 * delay, so every connection spins a 1 ms setTimeout loop for ever. A consumer instance holds two
 * connections, and idle instances spent most of their CPU there (BENCHMARKS.md, many instances). With no
 * pending request there is nothing to check: a request queued later (throttled or over the in-flight limit)
 * schedules its own check in push(). Process-wide and idempotent; returns whether the patch is in place.
 */
export function patchKafkajsRequestQueue (): boolean {
  let proto: RequestQueueLike & { diasporaPatched?: boolean }
  try {
    proto = (require('kafkajs/src/network/requestQueue/index.js') as { prototype: typeof proto }).prototype
  } catch {
    return false // another kafkajs layout: leave it alone
  }
  if (proto.diasporaPatched) return true
  const original = proto.scheduleCheckPendingRequests
  if (typeof original !== 'function') return false
  proto.scheduleCheckPendingRequests = function (this: RequestQueueLike) {
    if (this.pending.length > 0) original.call(this)
  }
  proto.diasporaPatched = true
  return true
}
patchKafkajsRequestQueue()

interface ConsumerGroupLike { cluster: object, fetch (nodeId: number): Promise<unknown[]> }

/**
 * When a session's fetch loop may fetch. Closed while parked (nobody reads) or held (the instance's buffer is
 * full): the loop then waits here, up to one heartbeat interval (its runner heartbeats when the wait returns no
 * batches, so the membership holds) or until opened or stopped, and fetches nothing.
 */
class FetchGate {
  parked = false
  held = false
  #waiters = new Set<() => void>()
  constructor (readonly ms: number) {}
  get closed (): boolean { return this.parked || this.held }
  wait (): Promise<void> {
    return new Promise(resolve => {
      const done = (): void => { clearTimeout(timer); this.#waiters.delete(done); resolve() }
      const timer = setTimeout(done, this.ms)
      this.#waiters.add(done)
    })
  }

  /** End every wait now (opened, or stopping: kafkajs' disconnect waits for the fetch loop). */
  release (): void { for (const w of [...this.#waiters]) w() }
}

/** The gate of each session, by the kafkajs Cluster its consumer owns (the handle its ConsumerGroup carries). */
const gates = new WeakMap<object, FetchGate>()

/**
 * Fetches under way (their start times), by the Cluster of the consumer that sent them. A broker that stops
 * answering without closing its sockets (frozen, partitioned away) shows as a fetch outstanding far beyond
 * maxWaitTimeInMs, long before kafkajs gives up on it at its request timeout.
 */
const fetchesInFlight = new WeakMap<object, Set<{ since: number }>>()

/**
 * Parking and back-pressure at the fetch, through ConsumerGroup#fetch (process-wide and idempotent; returns
 * whether the patch is in place):
 * - not kafkajs' pause(): with every partition paused, kafkajs 2.2.4 still runs its fetch loop every
 *   maxWaitTimeInMs (metadata check, offsets, a sleep it cannot cut short), 2 turns a second per consumer, and a
 *   resume waits for the sleep to end;
 * - not holding the batch being delivered in eachBatch either: kafkajs' fetcher keeps the whole fetch response
 *   (its buffer and a decoded message object per record) until every batch of it is handled, so a held batch
 *   kept megabytes alive long enough to be promoted to V8's old space, and a consumer whose reader fell behind
 *   made the garbage collector run mark-compacts back to back (BENCHMARKS.md, fetch throughput). Waiting before
 *   the next fetch instead lets each response die young, right after its records are copied out.
 */
export function patchKafkajsFetchGate (): boolean {
  let proto: ConsumerGroupLike & { diasporaGate?: boolean }
  try {
    proto = (require('kafkajs/src/consumer/consumerGroup.js') as { prototype: typeof proto }).prototype
  } catch {
    return false
  }
  if (proto.diasporaGate) return true
  const original = proto.fetch
  if (typeof original !== 'function') return false
  proto.fetch = async function (this: ConsumerGroupLike, nodeId: number) {
    const gate = gates.get(this.cluster)
    if (gate?.closed) {
      await gate.wait()
      return []
    }
    let fetches = fetchesInFlight.get(this.cluster)
    if (!fetches) fetchesInFlight.set(this.cluster, (fetches = new Set()))
    const fetch = { since: Date.now() }
    fetches.add(fetch)
    try {
      return await original.call(this, nodeId)
    } finally {
      fetches.delete(fetch)
    }
  }
  proto.diasporaGate = true
  return true
}
const gatePatched = patchKafkajsFetchGate()

/** Marks the kafkajs Brokers of our sessions' clusters, whose fetches patchKafkajsFetchDecoder decodes. */
const OURS = Symbol('diaspora.session')

interface BrokerLike {
  [OURS]?: boolean
  lookupRequest: (apiKey: number, definition: unknown) => (...args: unknown[]) => { response: unknown }
  fetch (args: unknown): Promise<unknown>
}

/**
 * Our decoder of Fetch v11 responses (fetch-decoder.ts) for the fetches of our sessions' consumers: kafkajs'
 * Broker#fetch looks up the request's encoder and decoder first thing; for a broker of ours, that one lookup
 * hands back our decoder in place of kafkajs' v11 response decoder (the only version we replace: another
 * negotiated version keeps kafkajs' own, and the session converts its messages as before). Other kafkajs users in
 * the process are left alone. Process-wide and idempotent; returns whether the patch is in place.
 */
export function patchKafkajsFetchDecoder (): boolean {
  let proto: BrokerLike & { diasporaDecoder?: boolean }
  let v11: { parse: unknown }
  let helpers: DecodeHelpers
  try {
    proto = (require('kafkajs/src/broker/index.js') as { prototype: typeof proto }).prototype
    v11 = require('kafkajs/src/protocol/requests/fetch/v11/response.js') as typeof v11
    helpers = kafkajsDecodeHelpers()
  } catch {
    return false
  }
  if (proto.diasporaDecoder) return true
  const original = proto.fetch
  if (typeof original !== 'function' || typeof v11.parse !== 'function') return false
  const decoder = new FetchDecoder(helpers)
  const response = { decode: (raw: Buffer) => decoder.decode(raw), parse: v11.parse }
  proto.fetch = function (this: BrokerLike, args: unknown) {
    if (this[OURS] !== true) return original.call(this, args)
    const lookup = this.lookupRequest
    this.lookupRequest = (apiKey, definition) => {
      const make = lookup(apiKey, definition)
      return (...a) => {
        const request = make(...a)
        return request.response === v11 ? { ...request, response } : request
      }
    }
    try {
      return original.call(this, args) // looks the request up before its first await
    } finally {
      this.lookupRequest = lookup
    }
  }
  proto.diasporaDecoder = true
  return true
}

/** What the fetch decoder takes from kafkajs: its codec registry (codecs registered by the kafka plugin) and its own decoding. */
export function kafkajsDecodeHelpers (): DecodeHelpers {
  const codecs = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodecByAttributes (attributes: number): Codec | null }
  const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (decoder: unknown) => Promise<unknown[]>
  const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown
  return {
    codec: (attributes) => codecs.lookupCodecByAttributes(attributes),
    kafkajsMessages: async (recordSet) => decodeMessages(new Decoder(recordSet))
  }
}
/** Whether the fetch decoder is in place (the consumers plugin warns when it is not: everything works, slower). */
export const fetchDecoderPatched = patchKafkajsFetchDecoder()

/** Mark the brokers a session's cluster hands out (its consumer's own: kafkajs makes a Cluster per consumer). */
function markBrokers (cluster: object): void {
  const c = cluster as { findBroker?: (...args: unknown[]) => Promise<BrokerLike | undefined>, [OURS]?: boolean }
  const find = c.findBroker
  if (c[OURS] === true || typeof find !== 'function') return
  c[OURS] = true
  c.findBroker = async function (this: unknown, ...args: unknown[]) {
    const broker = await find.apply(this, args)
    if (broker) broker[OURS] = true
    return broker
  }
}

/** A fetched record as the instance buffers it (key and value copied out of kafkajs' fetch response). */
export type SessionRecord = BufferedRecord

export interface SessionHandlers {
  /** Called synchronously inside kafkajs' join, before the first fetch: seeks issued here apply at once. */
  onJoin (assignment: Array<{ topic: string, partition: number }>): void
  /** A fetched batch; return quickly. */
  onRecords (topic: string, partition: number, records: SessionRecord[]): void
  onRebalancing (): void
  onCrash (err: Error, willRestart: boolean): void
}

export interface SessionOptions {
  kafka: Kafka
  groupId: string
  topics: string[]
  fromBeginning: boolean
  /** Manual assignment: exactly these partitions, in a private group. */
  fixed?: Record<string, number[]>
  sessionTimeout: number
  heartbeatInterval: number
  maxWaitTimeInMs: number
  maxBytes: number
  handlers: SessionHandlers
}

function fixedAssigner (assignment: Record<string, number[]>): PartitionAssigner {
  return () => ({
    name: 'DiasporaFixedAssigner',
    version: 0,
    async assign ({ members }) {
      // The shadow group has one member; any stray member gets nothing.
      return members.map((m, i) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: i === 0 ? assignment : {}, userData: Buffer.alloc(0) })
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
function headersOf (h: Record<string, unknown> | undefined): SessionRecord['headers'] {
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
export function toSessionRecords (topic: string, partition: number, messages: readonly FetchedMessage[]): SessionRecord[] {
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
  const records: SessionRecord[] = new Array(messages.length)
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

export class Session {
  readonly consumer: Consumer
  readonly topics: string[]
  readonly fixed: Record<string, number[]> | undefined
  #stopped = false
  #running = false
  /** Parked and held (paused), kept here and enforced at the fetch (patchKafkajsFetchGate) when #gated. */
  readonly #gate: FetchGate
  /** The kafkajs Cluster of this consumer, handed to the assigner factory (the key of gates). */
  #cluster: object | undefined

  constructor (private readonly opts: SessionOptions) {
    this.topics = opts.topics
    this.fixed = opts.fixed
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
        gates.set(config.cluster, this.#gate)
        markBrokers(config.cluster)
        return (opts.fixed ? fixedAssigner(opts.fixed) : PartitionAssigners.roundRobin)(config)
      }],
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000, restartOnFailure: async () => !this.#stopped }
    })
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
      if (!this.#stopped) opts.handlers.onCrash(e.payload.error, e.payload.restart)
    })
  }

  /** Connect, subscribe and start fetching. Resolves once running (not once joined: see onJoin). */
  async start (): Promise<void> {
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: this.opts.fromBeginning })
    if (this.#stopped) return
    this.#running = true
    // run() resolves after the first join or on a crash; membership is tracked through events instead.
    this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async (payload: EachBatchPayload) => this.#onBatch(payload)
    }).catch(err => { if (!this.#stopped) this.opts.handlers.onCrash(err as Error, false) })
  }

  async #onBatch ({ batch, isStale, heartbeat }: EachBatchPayload): Promise<void> {
    if (this.#stopped || isStale()) return
    // Our decoder's records as they are; kafkajs' messages (a partition it decoded) converted.
    const messages: readonly unknown[] = batch.messages
    const records = messages[0] instanceof FetchedRecord ? messages as FetchedRecord[] : toSessionRecords(batch.topic, batch.partition, batch.messages)
    if (records.length > 0) this.opts.handlers.onRecords(batch.topic, batch.partition, records)
    if (this.#gated) return // paused or not, the next fetch waits at the gate while it is closed
    // No gate (another kafkajs layout) and paused, typically by onRecords just now: hold this batch until resume()
    // or stop(). kafkajs does not fetch while a batch is in progress, and we stay in the group by heartbeating; a
    // rebalance makes heartbeat() throw, which hands the consumer back to kafkajs to rejoin (the instance
    // re-pauses on the join).
    while (this.#gate.held && !this.#stopped) {
      await this.#gate.wait() // the same timed wait as at the gate: resume() and stop() release it
      if (this.#gate.held && !this.#stopped) await heartbeat()
    }
  }

  get running (): boolean { return this.#running && !this.#stopped }

  /** Fetching is gated at ConsumerGroup#fetch (patchKafkajsFetchGate), not by the fallbacks. */
  get #gated (): boolean { return gatePatched && this.#cluster !== undefined }

  /** Parked at the gate (its fetch loop waits instead of fetching), not through kafkajs' pause(). */
  get parkedWait (): boolean { return this.#gated && this.#gate.parked }

  /** Held at the gate (paused: its fetch loop waits; no batch is held in eachBatch). */
  get heldAtGate (): boolean { return this.#gated && this.#gate.held }

  get fetchingSince (): number | undefined {
    const fetches = this.#cluster && fetchesInFlight.get(this.#cluster)
    if (!fetches) return undefined
    let oldest: number | undefined
    for (const { since } of fetches) if (oldest === undefined || since < oldest) oldest = since
    return oldest
  }

  seek (topic: string, partition: number, offset: number): void {
    this.consumer.seek({ topic, partition, offset: String(offset) })
  }

  /**
   * Stop taking records (the instance always pauses all of a session's topics together): the next fetch waits at
   * the gate, and resume() lets it go at once. Not kafkajs' pause(): with every partition paused kafkajs sleeps
   * maxWaitTimeInMs between checks, so each resume stalled a draining consumer for up to
   * CONSUMER_FETCH_MAX_WAIT_MS. Without the gate, the batch being delivered is held in eachBatch instead.
   */
  pause (topics: string[]): void {
    if (topics.length > 0) this.#gate.held = true
  }

  resume (topics: string[]): void {
    if (topics.length === 0) return
    this.#gate.held = false
    this.#gate.release()
  }

  /**
   * Parked (no reads for a while): no Fetch, only heartbeats (the gate); membership and partitions stay, and
   * unpark takes effect at once. Without the gate (another kafkajs layout), kafkajs' pause() of every topic,
   * which unpark undoes within maxWaitTimeInMs.
   */
  park (): void {
    if (this.#gated) {
      this.#gate.parked = true
      return
    }
    try {
      this.consumer.pause(this.topics.map(topic => ({ topic })))
    } catch {
      // not running yet: nothing is fetching
    }
  }

  unpark (): void {
    if (this.#gated) {
      this.#gate.parked = false
      this.#gate.release()
      return
    }
    try {
      this.consumer.resume(this.topics.map(topic => ({ topic })))
    } catch {
      // not running yet
    }
  }

  async commit (offsets: Array<{ topic: string, partition: number, offset: number, metadata?: string | null }>): Promise<void> {
    await this.consumer.commitOffsets(offsets.map(o => ({ topic: o.topic, partition: o.partition, offset: String(o.offset), metadata: o.metadata ?? null })))
  }

  /** Leave the group and close sockets. */
  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    // kafkajs' disconnect waits for the fetch loop, which must not sit out a wait at the gate or in eachBatch.
    this.#gate.parked = false
    this.#gate.held = false
    this.#gate.release()
    await this.consumer.disconnect().catch(() => {})
  }
}

interface CapturedBroker {
  offsetCommit (req: {
    groupId: string
    groupGenerationId: number
    memberId: string
    retentionTime?: number
    topics: Array<{ topic: string, partitions: Array<{ partition: number, offset: string, metadata?: string | null }> }>
  }): Promise<unknown>
}
interface CapturedCluster { findGroupCoordinator (req: { groupId: string }): Promise<CapturedBroker> }

/**
 * Commits without group membership (generation -1, empty member id), as Java's assign() does: accepted by the
 * broker only while the group has no active members. Uses the Cluster handle kafkajs passes to assigner
 * factories (typed in kafkajs' own d.ts, undocumented), from a consumer that connects but never runs.
 */
export class GroupCommitter {
  #consumer: Consumer
  #cluster: CapturedCluster | undefined
  #connected: Promise<void> | undefined

  constructor (kafka: Kafka, groupId: string) {
    const capture: PartitionAssigner = (config) => {
      this.#cluster = config.cluster as unknown as CapturedCluster
      return PartitionAssigners.roundRobin(config)
    }
    this.#consumer = kafka.consumer({ groupId, partitionAssigners: [capture], allowAutoTopicCreation: false, retry: { retries: 2, initialRetryTime: 100 } })
  }

  async commit (groupId: string, offsets: Array<{ topic: string, partition: number, offset: number, metadata?: string | null }>): Promise<void> {
    this.#connected ??= this.#consumer.connect().catch((err: unknown) => { this.#connected = undefined; throw err })
    await this.#connected
    const cluster = this.#cluster
    if (!cluster) throw new Error('kafkajs did not hand over its cluster')
    const byTopic = new Map<string, Array<{ partition: number, offset: string, metadata?: string | null }>>()
    for (const o of offsets) {
      const list = byTopic.get(o.topic) ?? []
      list.push({ partition: o.partition, offset: String(o.offset), metadata: o.metadata ?? null })
      byTopic.set(o.topic, list)
    }
    const coordinator = await cluster.findGroupCoordinator({ groupId })
    await coordinator.offsetCommit({
      groupId,
      groupGenerationId: -1,
      memberId: '',
      retentionTime: -1,
      topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
    })
  }

  async close (): Promise<void> {
    if (this.#connected) await this.#consumer.disconnect().catch(() => {})
  }
}

/** What the instance needs of one running consumer; the kafkajs Session implements it, tests fake it. */
export interface SessionPort {
  readonly topics: string[]
  readonly running: boolean
  /**
   * When the oldest fetch still waiting for the broker began (Date.now() ms); undefined when none is under way
   * or it cannot be known. Parked waits do not count.
   */
  readonly fetchingSince: number | undefined
  start (): Promise<void>
  seek (topic: string, partition: number, offset: number): void
  pause (topics: string[]): void
  resume (topics: string[]): void
  /** Stop fetching while nobody reads (group membership and heartbeats go on); unpark undoes it. */
  park (): void
  unpark (): void
  commit (offsets: Array<{ topic: string, partition: number, offset: number, metadata?: string | null }>): Promise<void>
  stop (): Promise<void>
}

export type SessionSpec = Omit<SessionOptions, 'kafka'>

/** The instance's whole view of Kafka consumption: sessions, membership-less commits, teardown. */
export interface KafkaPort {
  openSession (spec: SessionSpec): SessionPort
  commitWithoutMembership (groupId: string, offsets: Array<{ topic: string, partition: number, offset: number, metadata?: string | null }>): Promise<void>
  close (): Promise<void>
}

/** The kafkajs implementation of the port, over one Kafka client per instance. */
export function kafkajsPort (kafka: Kafka): KafkaPort {
  let committer: GroupCommitter | undefined
  return {
    openSession: (spec) => new Session({ ...spec, kafka }),
    commitWithoutMembership: (groupId, offsets) => (committer ??= new GroupCommitter(kafka, groupId)).commit(groupId, offsets),
    close: async () => { await committer?.close() }
  }
}
