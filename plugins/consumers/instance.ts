/**
 * One Confluent v2 consumer instance: the core that ties its parts together. Control operations (subscribe,
 * assign, commit, seek) run one at a time on a promise chain; reads (long polls) run beside them. It holds the
 * entry points, the start of a subscription's consumer (activation, reconcile) and close; its parts hold the rest:
 *   membership.ts    the running session and the instance's state (state.ts)
 *   subscription.ts  what it is asked to consume, and the topic refresh
 *   reader.ts        the read path: the long poll, what an empty read answers, taking records
 *   seeks.ts         seeks to offsets, edges and timestamps of held partitions
 *   positions.ts     the ledger: held partitions, next / delivered offsets, what to commit
 *   offsets.ts       look-ups over the Kafka driver port (edges, commits, timestamps, validation)
 *   flow.ts          holding the fetch while the buffer is full, parking it while nobody reads
 *   commits.ts       commits as a member (with the join wait) or detached, bounded in time
 * Kafka is reached only through the driver port (plugins/kafka/driver.ts), whose KafkaErrors the route's error
 * handler maps to HTTP answers. Plain module: no Fastify, no kafkajs.
 */
import { Errors } from '../errors/errors.js'
import type { ConsumerClient, PartitionOffset, TopicPartition } from '../kafka/driver.js'
import { raceTimeout } from '../kafka/waits.js'
import { RecordBuffer } from './record-buffer.js'
import { tpKey } from './keys.js'
import type { ConsumerFormat, Delivery } from './format.js'
import { FlowControl } from './flow.js'
import { Positions } from './positions.js'
import { checkAssign, parseSubscribe, Subscription, type SubscribeRequest } from './subscription.js'
import * as offsets from './offsets.js'
import { Commits } from './commits.js'
import type { InstanceDeps, InstanceOptions } from './instance-deps.js'
import type { StateName } from './state.js'
import { Membership } from './membership.js'
import { Reader } from './reader.js'
import { Seeks } from './seeks.js'
import { TopicNames } from './topic-names.js'

export type {
  InstanceDeps, InstanceObserver, InstanceOptions, InstanceSettings, NamespaceMapper
} from './instance-deps.js'
export type { PartitionOffset, TopicPartition }
export type { StateName }

/** A partition's committed offset (the next offset to read) and its metadata. */
type Committed = TopicPartition & { offset: number, metadata: string }

export class ConsumerInstance {
  readonly opts: InstanceOptions
  readonly kafkaGroup: string
  lastActive = Date.now()
  activeReads = 0

  #deps: InstanceDeps
  #client: ConsumerClient
  #m: Membership
  #buffer = new RecordBuffer()
  #sub = new Subscription()
  #positions = new Positions()
  #flow: FlowControl
  #commits: Commits
  #reader: Reader
  #seeks: Seeks
  /** Why the last start of the consumer failed: an empty read answers it (cleared by a start that works). */
  #startFailure: Error | undefined
  #chain: Promise<unknown> = Promise.resolve()
  #autoCommitTimer: NodeJS.Timeout | undefined
  #names: TopicNames
  #user: (kafkaTopic: string) => string

  constructor (opts: InstanceOptions, deps: InstanceDeps) {
    this.opts = opts
    this.#deps = deps
    this.kafkaGroup = deps.names.kafkaGroup(opts.namespace, opts.group)
    this.#names = new TopicNames(deps.names, opts.namespace)
    this.#user = this.#names.user
    this.#client = deps.kafka.connect(`diaspora-${opts.namespace}-${opts.name}`.slice(0, 200))
    this.#m = new Membership({
      client: this.#client,
      group: this.kafkaGroup,
      settings: deps.settings,
      fromBeginning: opts.autoOffsetReset === 'earliest',
      buffer: this.#buffer,
      budget: deps.budget,
      positions: this.#positions,
      flow: () => this.#flow,
      joined: () => {
        this.#commits.joined()
        // reset none: a waiting read checks the new partitions now rather than polling empty to its deadline.
        if (this.opts.autoOffsetReset === 'none') this.#reader.wake()
        this.#deps.observer?.join?.()
      },
      wakeReaders: () => this.#reader.wake(),
      idle: () => this.activeReads === 0,
      ...(deps.log ? { log: deps.log } : {})
    })
    this.#flow = new FlowControl(() => this.#m.session, this.#buffer, deps.budget, deps.settings,
      () => this.activeReads === 0 && !this.closed)
    const parts = { kafka: deps.kafka, buffer: this.#buffer, budget: deps.budget, positions: this.#positions }
    const live = { flow: () => this.#flow, session: () => this.#m.session }
    this.#reader = new Reader({
      ...parts,
      ...live,
      group: this.kafkaGroup,
      settings: deps.settings,
      fetchMinBytes: opts.fetchMinBytes,
      resetNone: opts.autoOffsetReset === 'none',
      user: this.#user,
      state: () => this.#m.state,
      startFailure: () => this.#startFailure,
      active: () => { this.lastActive = Date.now() },
      observer: () => deps.observer
    })
    this.#seeks = new Seeks({ ...parts, ...live, names: this.#names })
    this.#commits = new Commits({
      group: this.kafkaGroup,
      groupName: opts.group,
      client: this.#client,
      positions: this.#positions,
      joinWaitMs: deps.settings.joinWaitMs,
      session: () => this.#m.session,
      asMember: () => this.#sub.subscribed,
      joined: () => this.#m.state.name === 'joined',
      outage: () => this.#m.state.name === 'outage' ? this.#m.state.error : undefined,
      closed: () => this.closed,
      rejoining: () => { if (this.#m.state.name === 'joined') this.#m.to({ name: 'joining' }) },
      observer: () => deps.observer
    })
    if (opts.autoCommit) {
      this.#autoCommitTimer = setInterval(() => {
        this.#serial(() => this.#commits.delivered(false, true))
          .catch(err => this.#deps.log?.debug({ err }, 'auto-commit failed'))
      }, deps.settings.autoCommitIntervalMs).unref()
    }
  }

  get state (): StateName { return this.#m.state.name }
  /** The state in the four phases of the group membership (bench/server.ts reports them). */
  get phase (): 'stopped' | 'joining' | 'joined' | 'failed' {
    const n = this.#m.state.name
    return n === 'joined' || n === 'failed' || n === 'joining' ? n : n === 'outage' ? 'joining' : 'stopped'
  }

  get closed (): boolean { return this.#m.state.name === 'closed' }
  get bufferedBytes (): number { return this.#buffer.bytes }
  get bufferedRecords (): number { return this.#buffer.records }
  /** Whether the consumer has started (not idle, not waiting for its first read), and whether it is parked. */
  get started (): boolean { return !['idle', 'lazy', 'closed'].includes(this.#m.state.name) }
  get parked (): boolean { return this.#flow.parked }

  // ---- subscription -------------------------------------------------------------------------------------

  subscribe (req: SubscribeRequest): Promise<void> {
    return this.#serial(async () => {
      const next = parseSubscribe(req, this.#sub.desired, this.#deps.names, this.opts.namespace)
      if (next === undefined) return this.#unsubscribe()
      // A subscription Kafka could not apply (broker unreachable) changes nothing: the client retries it.
      const previous = { desired: this.#sub.desired, state: this.#m.state }
      this.#sub.set(next)
      this.#startFailure = undefined
      if (this.#m.state.name === 'idle') this.#m.to({ name: 'lazy' })
      try {
        await this.#reconcile()
      } catch (err) {
        this.#sub.desired = previous.desired
        if (this.#m.state.name === 'lazy') this.#m.to(previous.state)
        throw err
      }
      this.#sub.startRefresh(this.#deps.settings.refreshIntervalMs, (maxAgeMs) => this.#listTopics(maxAgeMs),
        (listed, generation) => this.#serial(async () => {
          if (generation === this.#sub.generation) await this.#reconcile(listed)
        }),
        err => this.#deps.log?.debug({ err }, 'subscription refresh failed'))
    })
  }

  /** Start the subscription's consumer now instead of at the first read (assign() starts at once anyway). */
  start (): Promise<void> { return this.#serial(() => this.#activate()) }

  unsubscribe (): Promise<void> { return this.#serial(() => this.#unsubscribe()) }

  async #unsubscribe (): Promise<void> {
    this.#sub.clear()
    this.#startFailure = undefined
    await this.#m.stop()
    this.#m.to({ name: 'idle' })
    this.#positions.forget()
  }

  /** User topic names of the subscription (for a pattern: the topics it currently matches). */
  subscription (): string[] {
    return this.#names.users(this.#sub.kafkaTopics())
  }

  /**
   * Start the subscription's consumer in the background, if it has not started (GET assignments: asking for the
   * assignment of a subscription is asking to take part in the group; the answer fills in after the join).
   */
  startSoon (): void {
    if (this.#m.state.name === 'lazy') this.#inBackground(this.start())
  }

  /** A start nobody waits for: its failure is kept for the next read (#startFailure) and logged. */
  #inBackground (starting: Promise<void>): void {
    starting.catch(err => this.#deps.log?.debug({ err }, 'starting the consumer failed'))
  }

  assignment (): TopicPartition[] {
    return this.#positions.assigned().map(tp => ({ topic: this.#user(tp.topic), partition: tp.partition }))
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
  }

  assign (partitions: TopicPartition[]): Promise<void> {
    return this.#serial(async () => {
      checkAssign(this.#sub.desired)
      const wanted = this.#names.kafkaPartitions(partitions)
      if (wanted.length === 0) return this.#unsubscribe()
      await offsets.validatePartitions(this.#deps.kafka, wanted, this.#user)
      // Keep our place on partitions that stay; the rest start at the group's commit or auto.offset.reset.
      const fresh = this.#positions.keepPlaces(wanted)
      const reset = this.opts.autoOffsetReset
      this.#positions.resumeAt(await offsets.startOffsets(this.#deps.kafka, this.kafkaGroup, fresh, reset))
      const previous = this.#sub.desired
      this.#sub.set({ kind: 'assign', partitions: wanted })
      try {
        await this.#m.restart([...new Set(wanted.map(tp => tp.topic))].sort(), fixedOf(wanted))
      } catch (err) {
        this.#sub.desired = previous
        if (previous.kind === 'none') this.#m.to({ name: 'idle' })
        throw err
      }
      // Manual assignment takes effect at once (as Java's assign()): seeks and reads may follow immediately.
      this.#positions.assign(wanted)
    })
  }

  // ---- reading (reader.ts) ------------------------------------------------------------------------------

  /**
   * Long poll: returns as soon as fetch.min.bytes are buffered, otherwise when the timeout ends (possibly
   * with nothing). Takes records round-robin across partitions up to maxBytes (at least one).
   */
  async read (timeoutMs: number, maxBytes: number, format: ConsumerFormat): Promise<Delivery> {
    if (this.#sub.desired.kind === 'none') {
      throw Errors.illegalState('Consumer is not subscribed to any topics or assigned any partitions')
    }
    this.activeReads++
    const started = Date.now()
    this.#flow.unpark()
    try {
      const deadline = started + timeoutMs
      if (this.#m.state.name === 'lazy') await this.#startWithin(deadline)
      await this.#reader.wait(deadline)
      return this.#reader.take(maxBytes, format, started)
    } finally {
      this.activeReads--
      this.lastActive = Date.now()
      if (this.activeReads === 0 && !this.closed) this.#flow.armPark()
    }
  }

  /** Shutdown, first step: reads return what is buffered now and stop waiting (reader.ts). close() follows. */
  drain (): void { this.#reader.drain() }

  // ---- offsets ------------------------------------------------------------------------------------------

  /** Commit: explicit offsets use Confluent's +1 rule; no offsets commits exactly what was delivered. */
  commit (list?: PartitionOffset[]): Promise<void> {
    // The deadline counts from the request, so time queued behind other control operations is included.
    return this.#commits.withinJoinWait(this.#serial(async () => {
      if (list !== undefined && list.length > 0 && this.#m.state.name === 'lazy') {
        // As the Diaspora 0.7 API (its SDK relies on it after re-creating an instance): a subscription gets its
        // partitions at its first read, so offsets committed before it would be committed outside the group.
        const why = 'a subscribed instance gets its partitions at its first read; read first, then commit offsets'
        throw Errors.illegalState(`No current assignment: ${why}`)
      }
      await this.#activate()
      if (list === undefined) return this.#commits.delivered(true)
      const kafkaList = list.map(o => ({ ...this.#names.kafka(o), offset: o.offset + 1 }))
      await offsets.validatePartitions(this.#deps.kafka, kafkaList, this.#user)
      await this.#commits.explicit(kafkaList)
      if (this.opts.autoOffsetReset === 'none') this.#seeks.unpositionedTo(kafkaList)
    }))
  }

  /** The group's committed offsets (next offset to read), omitting partitions never committed. */
  async committed (partitions: TopicPartition[]): Promise<Committed[]> {
    const want = this.#names.kafkaPartitions(partitions)
    const topics = [...new Set(want.map(p => p.topic))]
    const found = await offsets.committedOfExisting(this.#deps.kafka, this.kafkaGroup, topics)
    const out: Committed[] = []
    for (const tp of want) {
      const c = found.get(tpKey(tp.topic, tp.partition))
      if (c) out.push({ topic: this.#user(tp.topic), partition: tp.partition, ...c })
    }
    return out
  }

  // ---- seeking (seeks.ts) ----------------------------------------------------------------------------

  seek (list: PartitionOffset[]): Promise<void> { return this.#serial(() => this.#seeks.to(list)) }

  /** No partitions (or an empty list): every partition held now, as the Diaspora SDK documents. */
  seekToEdge (partitions: TopicPartition[] | undefined, edge: 'beginning' | 'end'): Promise<void> {
    return this.#serial(() => this.#seeks.toEdge(partitions, edge))
  }

  /** The last entry of a partition wins, as consecutive seeks would. */
  seekToTimestamps (entries: Array<TopicPartition & { timestamp: number }>): Promise<void> {
    return this.#serial(() => this.#seeks.toTimestamps(entries))
  }

  // ---- sessions -----------------------------------------------------------------------------------------

  /**
   * Bring the running session in line with the desired topics (list or pattern); rebuild when they differ.
   * `listed`: a topic list fetched beforehand (the periodic refresh), else it is fetched now.
   */
  async #reconcile (listed?: string[]): Promise<void> {
    if (!this.#sub.subscribed) return
    const topics = this.#sub.resolve(listed ?? await this.#listTopics())
    if (this.#m.state.name === 'lazy') { this.#sub.topics = topics; return }
    const same = topics.join('\n') === this.#sub.topics.join('\n')
    if (same && (this.#m.session !== undefined || topics.length === 0)) return
    // Keep our place on partitions we have delivered from; the rest restart from the group's commits.
    this.#positions.keepDelivered()
    await this.#m.restart(topics)
    this.#sub.topics = topics
  }

  /** Start the subscription's session if it has not started yet (first read, commit or assignments request). */
  async #activate (): Promise<void> {
    if (this.#m.state.name !== 'lazy') return
    this.#m.to({ name: 'waiting' })
    if (this.#sub.topics.length === 0) return // no subscribed topic exists yet: the refresh starts it when one does
    try {
      await this.#m.restart(this.#sub.topics)
      this.#startFailure = undefined
    } catch (err) {
      this.#m.to({ name: 'lazy' })
      this.#startFailure = err as Error
      throw err
    }
  }

  /**
   * The first read starts the consumer, waiting for that at most until its own deadline (the start queues behind
   * control operations and connects to Kafka): a failure in time is its answer; past the deadline the start goes
   * on in the background, and a later read that finds nothing answers its failure, if it failed.
   */
  async #startWithin (deadline: number): Promise<void> {
    const starting = this.start()
    if (await raceTimeout(starting.then(() => false), deadline - Date.now(), () => true)) this.#inBackground(starting)
  }

  #listTopics (maxAgeMs = 0): Promise<string[]> {
    return this.#deps.listTopics ? this.#deps.listTopics(maxAgeMs) : this.#deps.kafka.listTopics()
  }

  // ---- helpers ------------------------------------------------------------------------------------------

  /** Run control operations one at a time, in arrival order. */
  #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(() => {
      if (this.closed) throw Errors.instanceNotFound()
      return fn()
    })
    this.#chain = run.catch(() => {})
    return run
  }

  /** Leave the group and free everything; waiting reads return what is buffered. */
  async close (): Promise<void> {
    if (this.closed) return
    // A final commit that fails is logged: the next owner of the partitions re-reads from the last commit.
    if (this.opts.autoCommit) {
      await this.#serial(() => this.#commits.delivered(true))
        .catch(err => this.#deps.log?.warn({ err, group: this.kafkaGroup }, 'the final auto-commit on close failed'))
    }
    if (this.closed) return
    this.#m.to({ name: 'closed' })
    clearInterval(this.#autoCommitTimer)
    this.#sub.stopRefresh()
    this.#flow.close()
    this.#reader.wake()
    this.#commits.close()
    await this.#chain.catch(() => {})
    await this.#m.stop()
    this.#positions.forget()
    await this.#client.close()
  }
}

/** The fixed partitions of a manual assignment, by topic (the driver runs them in a private group of its own). */
function fixedOf (partitions: readonly TopicPartition[]): Record<string, number[]> {
  const fixed: Record<string, number[]> = {}
  for (const tp of partitions) (fixed[tp.topic] ??= []).push(tp.partition)
  return fixed
}
