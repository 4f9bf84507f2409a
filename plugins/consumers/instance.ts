/**
 * One Confluent v2 consumer instance over kafkajs: subscription or manual assignment, a bounded prefetch
 * buffer fed by a running session, long-poll reads, commits of exactly what was delivered, and seeks to
 * concrete offsets. Control operations run one at a time (a promise chain); reads run beside them.
 * Plain module: no Fastify. Kafka is reached through `InstanceDeps`, so tests can drive it directly.
 */
import { Errors } from '../errors/errors.js'
import { isKafkaError, type BufferedRecord, type ConsumerClient, type ConsumerSession, type KafkaDriver, type PartitionOffset, type TopicPartition } from '../kafka/driver.js'
import { RecordBuffer, type BufferBudget } from './record-buffer.js'
import { tpKey } from './keys.js'
import { Delivery, jsonText, undecodableError, UNDECODABLE, type ConsumerFormat, type JsonText } from './format.js'

export type { PartitionOffset, TopicPartition }

export interface NamespaceMapper {
  kafkaTopic (ns: string, topic: string): string
  kafkaGroup (ns: string, group: string): string
  userTopic (ns: string, kafkaTopic: string): string | undefined
  scopePattern (ns: string, pattern: string): { source: string, matches (kafkaTopic: string): boolean }
}

export interface InstanceSettings {
  sessionTimeout: number
  heartbeatInterval: number
  fetchMaxWaitMs: number
  fetchMaxBytes: number
  bufferBytes: number
  bufferRecords: number
  autoCommitIntervalMs: number
  refreshIntervalMs: number
  joinWaitMs: number
  /** Park the session (no fetching, membership kept) after this long without a read; 0 = never. */
  parkAfterMs: number
  /**
   * A fetch still unanswered this long beyond fetchMaxWaitMs means the broker has stopped answering (frozen,
   * partitioned away): a read that then ends empty answers 503/50302 instead of an empty 200.
   */
  fetchStallMs: number
}

/**
 * Optional instrumentation (the metrics plugin implements it). Called synchronously on the engine's paths, so
 * it must be cheap and must not throw; the engine never imports a metrics library.
 */
export interface InstanceObserver {
  /** A read (long poll) answered: how long it waited, and the records and key + value bytes it returned. */
  read? (ms: number, records: number, bytes: number): void
  /** A commit reached Kafka (explicit, commit-all, auto or final): whether it succeeded. */
  commit? (ok: boolean): void
  /** The instance's kafkajs consumer joined its group (GROUP_JOIN): a new assignment after a rebalance. */
  join? (): void
}

export interface InstanceDeps {
  /** Kafka, through the driver port (kafkajsDriver in production, a fake in unit tests). */
  kafka: KafkaDriver
  /**
   * The cluster's topic names from a listing at most `maxAgeMs` old (0: a new one), shared by the instances of
   * the process (TopicList); without it each instance asks the driver.
   */
  listTopics? (maxAgeMs: number): Promise<string[]>
  names: NamespaceMapper
  budget: BufferBudget
  settings: InstanceSettings
  log?: { warn (obj: object, msg: string): void, debug (obj: object, msg: string): void }
  /** Read at each event, so it may be set after instances exist (ConsumerRegistry.observe). */
  observer?: InstanceObserver
}

export interface InstanceOptions {
  namespace: string
  group: string
  name: string
  subject: string
  format: ConsumerFormat
  /** none: a partition the group never committed fails the read (409/40905) until the client seeks or commits. */
  autoOffsetReset: 'earliest' | 'latest' | 'none'
  autoCommit: boolean
  /** Bytes buffered before a read returns early; -1 = wait the whole timeout. */
  fetchMinBytes: number
  requestTimeoutMs: number
}

type Desired =
  | { kind: 'none' }
  | { kind: 'topics', topics: string[] }
  | { kind: 'pattern', source: string, matches (t: string): boolean }
  | { kind: 'assign', partitions: TopicPartition[] }

type Phase = 'stopped' | 'joining' | 'joined' | 'failed'

interface Position {
  /** Next offset expected from Kafka (after the last buffered record). */
  next: number
  /** Offset after the last record returned over HTTP; what commit-all commits. */
  delivered?: number
}

export class ConsumerInstance {
  readonly opts: InstanceOptions
  readonly kafkaGroup: string
  lastActive = Date.now()
  activeReads = 0
  closed = false

  #deps: InstanceDeps
  #port: ConsumerClient
  #buffer = new RecordBuffer()
  #desired: Desired = { kind: 'none' }
  #session: ConsumerSession | undefined
  /**
   * The subscribed topics that exist (a pattern: those it matches now): what the session runs, or will run.
   * Subscribing starts no session; the first read, commit or assignments request does (`#active`), as Java's
   * subscribe() joins nothing until the first poll(). Never-read instances cost no connection, timer or fetch.
   */
  #topics: string[] = []
  #active = false
  /** Why the last start of the subscription's consumer failed (cleared by a successful start). */
  #startFailure: Error | undefined
  /** No read for parkAfterMs: the session fetches nothing until the next read (heartbeats go on). */
  #parked = false
  #parkTimer: NodeJS.Timeout | undefined
  #phase: Phase = 'stopped'
  #failure: Error | undefined
  /**
   * The session crashed and kafkajs is restarting it (the broker is unreachable, typically): set until it joins
   * again or records arrive. A read that gets nothing by its deadline then answers 5xx instead of an empty 200,
   * so clients see the outage.
   */
  #outage: Error | undefined
  #assigned = new Map<string, TopicPartition>()
  #positions = new Map<string, Position>()
  /** Where the next session should start, for partitions it may get (retained across rebuilds). */
  #resumeAt = new Map<string, number>()
  /**
   * auto.offset.reset none: held partitions whose start is known not to come from the reset (the group has a
   * commit, or the client sought or committed); a read finding a held partition outside it checks the group.
   */
  #positioned = new Set<string>()
  #paused = false
  /** Shutting down: reads return what is buffered at once instead of waiting. */
  #draining = false
  #chain: Promise<unknown> = Promise.resolve()
  #dataWaiters = new Set<() => void>()
  #joinWaiters = new Set<() => void>()
  #refreshTimer: NodeJS.Timeout | undefined
  #autoCommitTimer: NodeJS.Timeout | undefined
  #userNames = new Map<string, string>()
  #relief = (): void => { this.#maybeResume() }
  /** The offsets of this instance's last successful commit-all (see #commitDelivered). */
  #lastCommitted: string | undefined
  /** Bumped by every subscribe and unsubscribe (see #startRefresh). */
  #generation = 0

  constructor (opts: InstanceOptions, deps: InstanceDeps) {
    this.opts = opts
    this.#deps = deps
    this.kafkaGroup = deps.names.kafkaGroup(opts.namespace, opts.group)
    this.#port = deps.kafka.connect(`diaspora-${opts.namespace}-${opts.name}`.slice(0, 200))
    if (opts.autoCommit) {
      this.#autoCommitTimer = setInterval(() => {
        this.#serial(() => this.#commitDelivered(false, true)).catch(err => this.#deps.log?.debug({ err }, 'auto-commit failed'))
      }, deps.settings.autoCommitIntervalMs).unref()
    }
  }

  get phase (): Phase { return this.#phase }
  get bufferedBytes (): number { return this.#buffer.bytes }
  get bufferedRecords (): number { return this.#buffer.records }

  // ---- subscription -------------------------------------------------------------------------------------

  subscribe (req: { topics?: string[], topic_pattern?: string }): Promise<void> {
    return this.#serial(async () => {
      if (req.topics !== undefined && req.topic_pattern !== undefined) {
        throw Errors.illegalState('Subscription to topics and to a topic pattern are mutually exclusive; send one of them')
      }
      if (req.topics === undefined && req.topic_pattern === undefined) {
        throw Errors.unprocessable('A subscription needs either topics or topic_pattern', 42204)
      }
      if (this.#desired.kind === 'assign') throw Errors.illegalState('Subscription to topics, partitions and pattern are mutually exclusive')
      let next: Desired
      if (req.topics !== undefined) {
        if (req.topics.length === 0) return this.#unsubscribe()
        next = { kind: 'topics', topics: [...new Set(req.topics.map(t => this.#deps.names.kafkaTopic(this.opts.namespace, t)))] }
      } else {
        const scoped = this.#deps.names.scopePattern(this.opts.namespace, req.topic_pattern as string)
        next = { kind: 'pattern', source: scoped.source, matches: scoped.matches }
      }
      const current = this.#desired.kind
      if ((current === 'topics' && next.kind === 'pattern') || (current === 'pattern' && next.kind === 'topics')) {
        throw Errors.illegalState('Subscription to topics, partitions and pattern are mutually exclusive; unsubscribe first')
      }
      // A subscription Kafka could not apply (broker unreachable) changes nothing: the client retries it.
      const previous = this.#desired
      this.#desired = next
      this.#generation++
      this.#startFailure = undefined
      try {
        await this.#reconcile()
      } catch (err) {
        this.#desired = previous
        throw err
      }
      this.#startRefresh()
    })
  }

  /** Start the subscription's consumer now instead of at the first read (assign() starts at once anyway). */
  start (): Promise<void> {
    return this.#serial(() => this.#activate())
  }

  unsubscribe (): Promise<void> {
    return this.#serial(() => this.#unsubscribe())
  }

  async #unsubscribe (): Promise<void> {
    this.#desired = { kind: 'none' }
    this.#generation++
    this.#startFailure = undefined
    this.#active = false
    this.#topics = []
    this.#stopRefresh()
    await this.#stopSession()
    this.#forgetPositions()
  }

  /** User topic names of the subscription (for a pattern: the topics it currently matches). */
  subscription (): string[] {
    const d = this.#desired
    if (d.kind === 'topics' || d.kind === 'pattern') {
      const topics = d.kind === 'topics' ? d.topics : this.#topics
      return topics.map(t => this.#deps.names.userTopic(this.opts.namespace, t)).filter((t): t is string => t !== undefined).sort()
    }
    return []
  }

  /** Whether the subscription's consumer has started (see #topics), and whether it is parked. */
  get started (): boolean { return this.#active || this.#desired.kind === 'assign' }
  get parked (): boolean { return this.#parked }

  /**
   * Start the subscription's consumer in the background, if it has not started (GET assignments: asking for the
   * assignment of a subscription is asking to take part in the group; the answer fills in after the join).
   */
  startSoon (): void {
    if (this.#awaitingStart()) this.#inBackground(this.start())
  }

  /** A start nobody waits for: its failure is kept for the next read (#startFailure) and logged. */
  #inBackground (starting: Promise<void>): void {
    starting.catch(err => this.#deps.log?.debug({ err }, 'starting the consumer failed'))
  }

  assignment (): TopicPartition[] {
    return [...this.#assigned.values()].map(tp => ({ topic: this.#user(tp.topic), partition: tp.partition }))
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
  }

  assign (partitions: TopicPartition[]): Promise<void> {
    return this.#serial(async () => {
      if (this.#desired.kind === 'topics' || this.#desired.kind === 'pattern') {
        throw Errors.illegalState('Subscription to topics, partitions and pattern are mutually exclusive')
      }
      const wanted = this.#dedupe(partitions.map(p => ({ topic: this.#deps.names.kafkaTopic(this.opts.namespace, p.topic), partition: p.partition })))
      if (wanted.length === 0) return this.#unsubscribe()
      await this.#validatePartitions(wanted)
      // Keep our place on partitions that stay; the rest start at the group's commit or auto.offset.reset.
      for (const tp of wanted) {
        const pos = this.#positions.get(tpKey(tp.topic, tp.partition))
        const keep = pos?.delivered ?? pos?.next
        if (keep !== undefined) this.#resumeAt.set(tpKey(tp.topic, tp.partition), keep)
      }
      const starts = await this.#startOffsets(wanted.filter(tp => !this.#resumeAt.has(tpKey(tp.topic, tp.partition))))
      for (const [k, v] of starts) this.#resumeAt.set(k, v)
      const previous = this.#desired
      this.#desired = { kind: 'assign', partitions: wanted }
      try {
        await this.#restart([...new Set(wanted.map(tp => tp.topic))].sort())
      } catch (err) {
        this.#desired = previous
        throw err
      }
      // Manual assignment takes effect at once (as Java's assign()): seeks and reads may follow immediately.
      this.#assigned = new Map(wanted.map(tp => [tpKey(tp.topic, tp.partition), tp]))
    })
  }

  // ---- reading ------------------------------------------------------------------------------------------

  /**
   * Long poll: returns as soon as fetch.min.bytes are buffered, otherwise when the timeout ends (possibly
   * with nothing). Takes records round-robin across partitions up to maxBytes (at least one).
   */
  async read (timeoutMs: number, maxBytes: number, format: ConsumerFormat): Promise<Delivery> {
    if (this.#desired.kind === 'none') {
      throw Errors.illegalState('Consumer is not subscribed to any topics or assigned any partitions')
    }
    this.activeReads++
    const started = Date.now()
    this.#unpark()
    try {
      const deadline = started + timeoutMs
      if (this.#awaitingStart()) await this.#startWithin(deadline)
      const min = this.opts.fetchMinBytes
      while (!this.closed && !this.#draining) {
        if (this.#phase === 'failed' && this.#buffer.records === 0) throw this.#failure ?? Errors.kafka('the consumer failed')
        if (this.opts.autoOffsetReset === 'none') await this.#requireStartOffsets()
        if (this.#buffer.records > 0 && min >= 0 && this.#buffer.bytes >= min) break
        const left = deadline - Date.now()
        if (left <= 0) break
        await this.#waitForData(left)
        this.lastActive = Date.now()
      }
      if (this.#buffer.records === 0 && !this.closed && !this.#draining) {
        if (this.#outage) throw this.#outage
        const stalled = this.#fetchStalledFor()
        if (stalled !== undefined) throw Errors.brokerUnavailable(`Kafka has not answered a fetch for ${Math.round(stalled / 1000)} s`)
        // Not started yet (a retry may be under way): the last start's failure is the best answer there is.
        if (this.#startFailure) throw this.#startFailure
      }
      return this.#take(maxBytes, format, started)
    } finally {
      this.activeReads--
      this.lastActive = Date.now()
      if (this.activeReads === 0) this.#armPark()
    }
  }

  /**
   * auto.offset.reset none, Kafka's NoOffsetForPartitionException: a held partition that the group never
   * committed and the client never sought fails the read with 409/40905 naming it, rather than the read polling
   * empty forever. Asks Kafka only while some held partition is unchecked (once per assignment, typically).
   */
  async #requireStartOffsets (): Promise<void> {
    // Again while a join (during the lookup) brought partitions not yet checked, so none slips into the take.
    for (;;) {
      const unchecked = [...this.#assigned].filter(([k]) => !this.#positioned.has(k))
      if (unchecked.length === 0) return
      const committed = new Set<string>()
      for (const c of await this.#deps.kafka.committedOffsets(this.kafkaGroup, [...new Set(unchecked.map(([, tp]) => tp.topic))])) {
        committed.add(tpKey(c.topic, c.partition))
      }
      const missing: string[] = []
      for (const [k, tp] of unchecked) {
        // Held still (a rebalance may have moved it while Kafka was asked), and not sought meanwhile.
        if (!this.#assigned.has(k) || this.#positioned.has(k)) continue
        if (committed.has(k)) this.#positioned.add(k)
        else missing.push(`${this.#user(tp.topic)}-${tp.partition}`)
      }
      if (missing.length > 0) throw Errors.noCommittedOffset(missing.sort())
    }
  }

  /** How long the session's oldest fetch has gone unanswered, once that is past the stall bound. */
  #fetchStalledFor (): number | undefined {
    const since = this.#session?.fetchingSince
    if (since === undefined) return undefined
    const waited = Date.now() - since
    const { fetchMaxWaitMs, fetchStallMs } = this.#deps.settings
    return waited > fetchMaxWaitMs + fetchStallMs ? waited : undefined
  }

  #take (maxBytes: number, format: ConsumerFormat, started: number): Delivery {
    let bad: BufferedRecord | undefined
    let texts: Array<JsonText | null> | undefined
    let accept: ((r: BufferedRecord) => boolean) | undefined
    if (format === 'json') {
      const t: Array<JsonText | null> = texts = []
      accept = (r) => {
        const k = jsonText(r.key)
        const v = k === UNDECODABLE ? k : jsonText(r.value)
        if (k === UNDECODABLE || v === UNDECODABLE) { bad = r; return false }
        t.push(k, v)
        return true
      }
    }
    const taken = this.#buffer.take(maxBytes, accept, this.#delivered)
    let released = 0
    for (let i = 0; i < taken.length; i++) released += (taken[i] as BufferedRecord).size
    this.#deps.budget.release(released)
    this.#maybeResume()
    // An undecodable record at the head fails the read (it stays buffered so the client can seek past it).
    if (taken.length === 0 && bad) throw undecodableError(bad, format, this.#user(bad.topic))
    this.#deps.observer?.read?.(Date.now() - started, taken.length, released)
    return new Delivery(taken, format, this.#userTopic, texts)
  }

  #delivered = (topic: string, partition: number, next: number): void => {
    const pos = this.#positions.get(tpKey(topic, partition))
    if (pos) pos.delivered = next
  }

  #userTopic = (kafkaTopic: string): string => this.#user(kafkaTopic)

  /**
   * Shutdown, first step: waiting reads return what is buffered now, and later reads do not wait, so the
   * HTTP server can finish its in-flight requests quickly. close() follows.
   */
  drain (): void {
    this.#draining = true
    this.#wakeReaders()
  }

  #waitForData (ms: number): Promise<void> {
    return new Promise(resolve => {
      const done = (): void => { clearTimeout(timer); this.#dataWaiters.delete(done); resolve() }
      const timer = setTimeout(done, ms)
      this.#dataWaiters.add(done)
    })
  }

  #wakeReaders (): void {
    if (this.#dataWaiters.size === 0) return
    for (const w of [...this.#dataWaiters]) w()
  }

  // ---- offsets ------------------------------------------------------------------------------------------

  /** Commit: explicit offsets use Confluent's +1 rule; no offsets commits exactly what was delivered. */
  commit (offsets?: PartitionOffset[]): Promise<void> {
    // The deadline counts from the request, so time queued behind other control operations is included.
    return this.#withinJoinWait(this.#serial(async () => {
      if (offsets !== undefined && offsets.length > 0 && this.#awaitingStart()) {
        // As the Diaspora 0.7 API (its SDK relies on it after re-creating an instance): a subscription gets its
        // partitions at its first read, so offsets committed before it would be committed outside the group.
        throw Errors.illegalState('No current assignment: a subscribed instance gets its partitions at its first read; read first, then commit offsets')
      }
      await this.#activate()
      if (offsets === undefined) return this.#commitDelivered(true)
      const list = offsets.map(o => ({ ...o, topic: this.#deps.names.kafkaTopic(this.opts.namespace, o.topic), offset: o.offset + 1 }))
      await this.#validatePartitions(list)
      this.#lastCommitted = undefined // the group's offsets may differ from what was delivered now
      await this.#commitKafka(list)
      if (this.opts.autoOffsetReset === 'none') {
        // Java's next poll starts a partition without a position at its commit; the session here had to start
        // somewhere already, so it moves there.
        for (const o of list) {
          const k = tpKey(o.topic, o.partition)
          if (this.#assigned.has(k) && !this.#positioned.has(k)) this.#seekNow(o.topic, o.partition, o.offset)
        }
      }
    }))
  }

  /**
   * Commit what was delivered. `skipUnchanged` (the auto-commit timer): not when this very set of offsets is
   * already committed by this instance, so idle auto-committing instances send no OffsetCommit every interval.
   */
  async #commitDelivered (strict = false, skipUnchanged = false): Promise<void> {
    const list: PartitionOffset[] = []
    for (const [k, tp] of this.#assigned) {
      const d = this.#positions.get(k)?.delivered
      if (d !== undefined) list.push({ ...tp, offset: d })
    }
    if (list.length === 0) return
    const key = list.map(o => `${o.topic}\u0000${o.partition}\u0000${o.offset}`).join('\n')
    if (skipUnchanged && key === this.#lastCommitted) return
    try {
      await this.#commitKafka(list)
      this.#lastCommitted = key
    } catch (err) {
      if (strict) throw err
    }
  }

  async #commitKafka (list: PartitionOffset[]): Promise<void> {
    if (list.length === 0) return
    try {
      await this.#withinJoinWait(this.#sendCommit(list))
    } catch (err) {
      this.#deps.observer?.commit?.(false)
      throw err
    }
    this.#deps.observer?.commit?.(true)
  }

  /**
   * A commit answers within CONSUMER_JOIN_WAIT_MS, join wait included: kafkajs retries a commit to a broker that
   * stopped answering for minutes (each attempt waits a whole request timeout). Past the deadline the client
   * gets a retriable error, or the outage when one is known. The abandoned attempt may still land later, which a
   * retried commit of the same offsets makes harmless.
   */
  #withinJoinWait (work: Promise<void>): Promise<void> {
    const ms = this.#deps.settings.joinWaitMs
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(this.#outage ?? Errors.kafkaRetriable(`Kafka did not confirm the commit within ${ms} ms; retry the commit`))
      }, ms)
    })
    work.catch(() => {}) // nobody waits for it past the deadline
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
  }

  async #sendCommit (list: PartitionOffset[]): Promise<void> {
    const session = this.#session
    if (this.#desired.kind === 'topics' || this.#desired.kind === 'pattern') {
      // kafkajs silently skips commits while not joined: wait for the join (bounded), and once more if a
      // rebalance starts between the join and the commit.
      for (let attempt = 0; session?.running; attempt++) {
        await this.#awaitJoin()
        try {
          await session.commit(list)
          return
        } catch (err) {
          if (attempt > 0 || !(isKafkaError(err) && err.rejoin)) throw err
          this.#phase = 'joining'
        }
      }
    }
    try {
      await this.#port.commitDetached(this.kafkaGroup, list)
    } catch (err) {
      if (isKafkaError(err) && err.rejoin) {
        throw Errors.illegalState(`the group ${this.opts.group} has active members; a manually assigned consumer can only commit while the group is otherwise empty`)
      }
      throw err
    }
  }

  async #awaitJoin (): Promise<void> {
    if (this.#phase === 'joined') return
    // The session crashed and is being restarted: no join is coming soon; say why at once.
    if (this.#outage) throw this.#outage
    const wait = this.#deps.settings.joinWaitMs
    await new Promise<void>((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); this.#joinWaiters.delete(done); resolve() }
      const timer = setTimeout(() => {
        this.#joinWaiters.delete(done)
        reject(this.#outage ?? Errors.kafkaRetriable('the consumer group is rebalancing; retry the commit'))
      }, wait)
      this.#joinWaiters.add(done)
    })
    if (this.closed) throw Errors.instanceNotFound()
  }

  /** The group's committed offsets (next offset to read), omitting partitions never committed. */
  async committed (partitions: TopicPartition[]): Promise<Array<TopicPartition & { offset: number, metadata: string }>> {
    const want = this.#dedupe(partitions.map(p => ({ topic: this.#deps.names.kafkaTopic(this.opts.namespace, p.topic), partition: p.partition })))
    const topics = [...new Set(want.map(p => p.topic))]
    const found = new Map<string, { offset: number, metadata: string }>()
    const fetch = async (ts: string[]): Promise<void> => {
      try {
        for (const c of await this.#deps.kafka.committedOffsets(this.kafkaGroup, ts)) {
          found.set(tpKey(c.topic, c.partition), { offset: c.offset, metadata: c.metadata ?? '' })
        }
      } catch (err) {
        // One unknown topic fails the whole call: ask again for the topics that exist (one listing, not one
        // call per topic), leaving unknown ones out.
        if (!(isKafkaError(err) && err.unknownTopic)) throw err
        const existing = new Set(await this.#deps.kafka.listTopics())
        const known = ts.filter(t => existing.has(t))
        if (known.length > 0 && known.length < ts.length) await fetch(known)
      }
    }
    await fetch(topics)
    const out: Array<TopicPartition & { offset: number, metadata: string }> = []
    for (const tp of want) {
      const c = found.get(tpKey(tp.topic, tp.partition))
      if (c) out.push({ topic: this.#user(tp.topic), partition: tp.partition, ...c })
    }
    return out
  }

  // ---- seeking ------------------------------------------------------------------------------------------

  seek (offsets: PartitionOffset[]): Promise<void> {
    return this.#serial(async () => {
      const list = offsets.map(o => ({ topic: this.#deps.names.kafkaTopic(this.opts.namespace, o.topic), partition: o.partition, offset: o.offset }))
      this.#requireAssigned(list)
      // Clamp into the log: past the end, kafkajs would reset the position behind our back and the
      // duplicate guard in #onRecords would then drop every record below the requested offset.
      const edges = await this.#edges(list)
      for (const o of list) {
        const e = edges.get(tpKey(o.topic, o.partition))
        const offset = e ? Math.min(Math.max(o.offset, e.low), e.high) : o.offset
        this.#seekNow(o.topic, o.partition, offset)
      }
    })
  }

  /** No partitions (or an empty list): every partition held now, as the Diaspora SDK documents. */
  seekToEdge (partitions: TopicPartition[] | undefined, edge: 'beginning' | 'end'): Promise<void> {
    return this.#serial(async () => {
      const list = partitions === undefined || partitions.length === 0
        ? [...this.#assigned.values()]
        : this.#dedupe(partitions.map(p => ({ topic: this.#deps.names.kafkaTopic(this.opts.namespace, p.topic), partition: p.partition })))
      if (list.length === 0) return
      this.#requireAssigned(list)
      const edges = await this.#edges(list)
      for (const tp of list) {
        const e = edges.get(tpKey(tp.topic, tp.partition))
        if (!e) throw Errors.partitionNotFound(this.#user(tp.topic), tp.partition)
        this.#seekNow(tp.topic, tp.partition, edge === 'beginning' ? e.low : e.high)
      }
    })
  }

  /**
   * One lookup per partition, the last entry winning as consecutive seeks would, and one broker call per topic
   * and instant: each costs a round trip, and 10,000 entries naming one partition took 14 s (holding up the
   * instance's other calls) when each was looked up.
   */
  seekToTimestamps (entries: Array<TopicPartition & { timestamp: number }>): Promise<void> {
    return this.#serial(async () => {
      const last = new Map<string, TopicPartition & { timestamp: number }>()
      for (const e of entries) {
        const topic = this.#deps.names.kafkaTopic(this.opts.namespace, e.topic)
        last.set(tpKey(topic, e.partition), { topic, partition: e.partition, timestamp: e.timestamp })
      }
      const list = [...last.values()]
      this.#requireAssigned(list)
      const lookups = new Map<string, Promise<Map<number, number>>>()
      // End offsets, fetched once per topic and only if some partition has no record at or after its instant.
      const ends = new Map<string, Promise<Map<string, { low: number, high: number }>>>()
      for (const e of list) {
        const k = `${e.topic}\u0000${e.timestamp}`
        let lookup = lookups.get(k)
        if (!lookup) lookups.set(k, lookup = this.#deps.kafka.offsetsForTimestamp(e.topic, e.timestamp))
        let off = (await lookup).get(e.partition)
        // No record at or after the instant: go to the end (Confluent fails with a 500 here).
        if (off === undefined) {
          let end = ends.get(e.topic)
          if (!end) ends.set(e.topic, end = this.#edges([e]))
          off = (await end).get(tpKey(e.topic, e.partition))?.high ?? 0
        }
        this.#seekNow(e.topic, e.partition, off)
      }
    })
  }

  #requireAssigned (list: TopicPartition[]): void {
    for (const tp of list) {
      if (!this.#assigned.has(tpKey(tp.topic, tp.partition))) {
        throw Errors.illegalState(`No current assignment for partition ${this.#user(tp.topic)}-${tp.partition}`)
      }
    }
  }

  /** Purge the partition's buffer and point both our position and kafkajs' fetch at `offset`. */
  #seekNow (topic: string, partition: number, offset: number): void {
    this.#positioned.add(tpKey(topic, partition))
    this.#deps.budget.release(this.#buffer.purge(topic, partition))
    this.#positions.set(tpKey(topic, partition), { next: offset, delivered: offset })
    this.#session?.seek(topic, partition, offset)
    this.#maybeResume()
  }

  async #edges (list: TopicPartition[]): Promise<Map<string, { low: number, high: number }>> {
    const out = new Map<string, { low: number, high: number }>()
    for (const topic of new Set(list.map(tp => tp.topic))) {
      for (const p of await this.#deps.kafka.edges(topic)) out.set(tpKey(topic, p.partition), { low: p.low, high: p.high })
    }
    return out
  }

  // ---- sessions -----------------------------------------------------------------------------------------

  /**
   * Bring the running session in line with the desired topics (list or pattern); rebuild when they differ.
   * `listed`: a topic list fetched beforehand (the periodic refresh), else it is fetched now.
   */
  async #reconcile (listed?: string[]): Promise<void> {
    const d = this.#desired
    if (d.kind !== 'topics' && d.kind !== 'pattern') return
    const existing = listed ?? await this.#listTopics()
    const topics = d.kind === 'topics'
      ? d.topics.filter(t => existing.includes(t))
      : existing.filter(t => d.matches(t))
    topics.sort()
    if (!this.#active) { this.#topics = topics; return }
    if (topics.join('\n') === this.#topics.join('\n') && (this.#session !== undefined || topics.length === 0)) return
    // Keep our place on partitions we have delivered from; the rest restart from the group's commits.
    for (const [k, pos] of this.#positions) {
      if (pos.delivered !== undefined) this.#resumeAt.set(k, pos.delivered)
    }
    await this.#restart(topics)
    this.#topics = topics
  }

  /** Start the subscription's session if it has not started yet (first read, commit or assignments request). */
  async #activate (): Promise<void> {
    if (!this.#awaitingStart()) return
    this.#active = true
    if (this.#topics.length === 0) return // no subscribed topic exists yet: the refresh starts it when one does
    try {
      await this.#restart(this.#topics)
      this.#startFailure = undefined
    } catch (err) {
      this.#active = false
      this.#startFailure = err as Error
      throw err
    }
  }

  /** A subscription whose consumer has not started (manual assignment starts at once, in assign()). */
  #awaitingStart (): boolean {
    return !this.#active && (this.#desired.kind === 'topics' || this.#desired.kind === 'pattern')
  }

  /**
   * The first read starts the consumer, waiting for that at most until its own deadline (the start queues behind
   * control operations and connects to Kafka): a failure in time is its answer; past the deadline the start goes
   * on in the background, and a later read that finds nothing answers its failure, if it failed.
   */
  async #startWithin (deadline: number): Promise<void> {
    const starting = this.start()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now())) })
    try {
      if (await Promise.race([starting.then(() => false), late])) this.#inBackground(starting)
    } finally {
      clearTimeout(timer)
    }
  }

  #armPark (): void {
    const ms = this.#deps.settings.parkAfterMs
    clearTimeout(this.#parkTimer)
    this.#parkTimer = undefined
    if (ms <= 0 || this.closed || this.#parked) return
    this.#parkTimer = setTimeout(() => {
      this.#parkTimer = undefined
      if (this.activeReads > 0 || this.#parked || !this.#session || this.closed) return
      this.#parked = true
      this.#session.park()
    }, ms).unref()
  }

  #unpark (): void {
    clearTimeout(this.#parkTimer)
    this.#parkTimer = undefined
    if (!this.#parked) return
    this.#parked = false
    this.#session?.unpark()
  }

  async #restart (topics: string[]): Promise<void> {
    await this.#stopSession()
    this.#positions.clear()
    if (topics.length === 0) return
    const d = this.#desired
    let fixed: Record<string, number[]> | undefined
    if (d.kind === 'assign') {
      // The driver runs it in a private group of its own (kafkajs has no assign()); commits go to the real one.
      fixed = {}
      for (const tp of d.partitions) (fixed[tp.topic] ??= []).push(tp.partition)
    }
    const session = this.#port.openSession({
      groupId: this.kafkaGroup,
      topics,
      fromBeginning: this.opts.autoOffsetReset === 'earliest',
      ...(fixed ? { fixed } : {}),
      sessionTimeout: this.#deps.settings.sessionTimeout,
      heartbeatInterval: this.#deps.settings.heartbeatInterval,
      maxWaitTimeInMs: this.#deps.settings.fetchMaxWaitMs,
      maxBytes: this.#deps.settings.fetchMaxBytes,
      handlers: {
        onJoin: (a) => { if (this.#session === session) this.#onJoin(a) },
        onRecords: (t, p, r) => { if (this.#session === session) this.#onRecords(t, p, r) },
        onRebalancing: () => { if (this.#session === session) this.#phase = 'joining' },
        onCrash: (err, restart) => {
          if (this.#session !== session) return
          this.#deps.log?.warn({ err, restart, group: this.kafkaGroup }, 'consumer session crashed')
          this.#lastCommitted = undefined // kafkajs may have skipped a commit while it was tearing down
          if (restart) { this.#phase = 'joining'; this.#outage = err; return }
          this.#phase = 'failed'
          this.#failure = err
          this.#wakeReaders()
        }
      }
    })
    this.#session = session
    this.#phase = 'joining'
    this.#failure = undefined
    this.#outage = undefined
    try {
      await session.start()
    } catch (err) {
      this.#session = undefined
      this.#phase = 'stopped'
      await session.stop()
      throw err
    }
    if (this.activeReads === 0) this.#armPark()
  }

  /** Stop fetching and drop what is buffered and assigned; positions are kept for the next session. */
  async #stopSession (): Promise<void> {
    const s = this.#session
    this.#session = undefined
    this.#phase = 'stopped'
    this.#paused = false
    this.#parked = false
    clearTimeout(this.#parkTimer)
    this.#parkTimer = undefined
    this.#outage = undefined
    this.#deps.budget.release(this.#buffer.clear())
    this.#assigned.clear()
    await s?.stop()
  }

  #forgetPositions (): void {
    this.#positions.clear()
    this.#resumeAt.clear()
    this.#positioned.clear()
  }

  /** Synchronous, inside kafkajs' join: adjust buffers and positions before the first fetch. */
  #onJoin (assignment: TopicPartition[]): void {
    const session = this.#session as ConsumerSession
    const next = new Map(assignment.map(tp => [tpKey(tp.topic, tp.partition), tp]))
    for (const [k, tp] of this.#assigned) {
      if (!next.has(k)) {
        this.#deps.budget.release(this.#buffer.purge(tp.topic, tp.partition))
        this.#positions.delete(k)
        this.#positioned.delete(k)
      }
    }
    for (const [k, tp] of next) {
      const pos = this.#positions.get(k)
      const resume = this.#resumeAt.get(k)
      if (pos) {
        // Retained across a rebalance: continue after what is buffered, not from the last commit.
        session.seek(tp.topic, tp.partition, pos.next)
      } else if (resume !== undefined) {
        session.seek(tp.topic, tp.partition, resume)
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
    this.#phase = 'joined'
    this.#outage = undefined
    if (this.#paused) session.hold()
    if (this.#parked) session.park() // a consumer kafkajs rebuilt after a crash starts unpaused
    for (const w of [...this.#joinWaiters]) w()
    // reset none: a waiting read checks the new partitions now rather than polling empty to its deadline.
    if (this.opts.autoOffsetReset === 'none') this.#wakeReaders()
    this.#deps.observer?.join?.()
  }

  #onRecords (topic: string, partition: number, records: BufferedRecord[]): void {
    const k = tpKey(topic, partition)
    if (!this.#assigned.has(k) || records.length === 0) return
    this.#outage = undefined
    const pos = this.#positions.get(k)
    // A re-fetch after a seek or rejoin repeats offsets already buffered: skip them (offsets ascend in a batch).
    let from = 0
    if (pos) while (from < records.length && (records[from] as BufferedRecord).offset < pos.next) from++
    if (from === records.length) return
    const added = this.#buffer.pushBatch(topic, partition, records, from)
    const next = (records[records.length - 1] as BufferedRecord).offset + 1
    if (pos) pos.next = next
    else this.#positions.set(k, { next })
    this.#deps.budget.add(added)
    const s = this.#deps.settings
    if (!this.#paused && (this.#buffer.bytes >= s.bufferBytes || this.#buffer.records >= s.bufferRecords || this.#deps.budget.exhausted)) {
      this.#paused = true
      this.#session?.hold()
      if (this.#deps.budget.exhausted) this.#deps.budget.onRelief(this.#relief)
    }
    this.#wakeReaders()
  }

  /** Resume fetching once the buffer is below half its high-water marks and the process budget allows. */
  #maybeResume (): void {
    if (!this.#paused) return
    const s = this.#deps.settings
    if (this.#buffer.bytes > s.bufferBytes / 2 || this.#buffer.records > s.bufferRecords / 2) return
    if (!this.#deps.budget.relieved) { this.#deps.budget.onRelief(this.#relief); return }
    this.#paused = false
    this.#session?.release()
  }

  #listTopics (maxAgeMs = 0): Promise<string[]> {
    return this.#deps.listTopics ? this.#deps.listTopics(maxAgeMs) : this.#deps.kafka.listTopics()
  }

  #startRefresh (): void {
    if (this.#refreshTimer) return
    let running = false
    this.#refreshTimer = setInterval(() => {
      if (running) return
      running = true
      // The topic list is fetched outside the control chain: a broker that is slow to answer must not hold up
      // the commits and seeks queued behind a background refresh. A (re)subscribe since the listing started
      // applied a newer listing: this older one is dropped.
      const generation = this.#generation
      this.#listTopics(this.#deps.settings.refreshIntervalMs)
        .then(listed => this.#serial(async () => { if (generation === this.#generation) await this.#reconcile(listed) }))
        .catch(err => this.#deps.log?.debug({ err }, 'subscription refresh failed'))
        .finally(() => { running = false })
    }, this.#deps.settings.refreshIntervalMs).unref()
  }

  #stopRefresh (): void {
    clearInterval(this.#refreshTimer)
    this.#refreshTimer = undefined
  }

  // ---- helpers ------------------------------------------------------------------------------------------

  /** Partitions must exist: unknown topic 40401, unknown partition 40402. */
  async #validatePartitions (list: TopicPartition[]): Promise<void> {
    const topics = [...new Set(list.map(tp => tp.topic))]
    let counts: Map<string, number>
    try {
      counts = await this.#deps.kafka.partitionCounts(topics)
    } catch (err) {
      if (isKafkaError(err) && err.unknownTopic) {
        const existing = new Set(await this.#deps.kafka.listTopics().catch(() => [] as string[]))
        const missing = topics.find(t => !existing.has(t)) ?? topics[0] as string
        throw Errors.topicNotFound(this.#user(missing))
      }
      throw err
    }
    for (const tp of list) {
      const n = counts.get(tp.topic)
      if (n === undefined) throw Errors.topicNotFound(this.#user(tp.topic))
      if (tp.partition < 0 || tp.partition >= n) throw Errors.partitionNotFound(this.#user(tp.topic), tp.partition)
    }
  }

  /** Committed offset per partition, else auto.offset.reset's edge. */
  async #startOffsets (list: TopicPartition[]): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    if (list.length === 0) return out
    const topics = [...new Set(list.map(tp => tp.topic))]
    for (const c of await this.#deps.kafka.committedOffsets(this.kafkaGroup, topics)) out.set(tpKey(c.topic, c.partition), c.offset)
    const missing = list.filter(tp => !out.has(tpKey(tp.topic, tp.partition)))
    // reset none: no start at all; the read names the partition (#requireStartOffsets).
    if (missing.length > 0 && this.opts.autoOffsetReset !== 'none') {
      const edges = await this.#edges(missing)
      for (const tp of missing) {
        const e = edges.get(tpKey(tp.topic, tp.partition))
        if (e) out.set(tpKey(tp.topic, tp.partition), this.opts.autoOffsetReset === 'earliest' ? e.low : e.high)
      }
    }
    return out
  }

  #dedupe (list: TopicPartition[]): TopicPartition[] {
    const m = new Map<string, TopicPartition>()
    for (const tp of list) m.set(tpKey(tp.topic, tp.partition), tp)
    return [...m.values()]
  }

  /** The user's name of a Kafka topic; cached because every delivered record needs it. */
  #user (kafkaTopic: string): string {
    let name = this.#userNames.get(kafkaTopic)
    if (name === undefined) {
      name = this.#deps.names.userTopic(this.opts.namespace, kafkaTopic) ?? kafkaTopic
      this.#userNames.set(kafkaTopic, name)
    }
    return name
  }

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
    // Strict: a final commit that fails is logged (the next owner of the partitions re-reads from the last commit).
    const finalCommit = this.opts.autoCommit
      ? this.#serial(() => this.#commitDelivered(true)).catch(err => this.#deps.log?.warn({ err, group: this.kafkaGroup }, 'the final auto-commit on close failed'))
      : Promise.resolve()
    await finalCommit
    this.closed = true
    clearInterval(this.#autoCommitTimer)
    this.#stopRefresh()
    this.#deps.budget.offRelief(this.#relief)
    this.#wakeReaders()
    for (const w of [...this.#joinWaiters]) w()
    await this.#chain.catch(() => {})
    await this.#stopSession()
    this.#forgetPositions()
    await this.#port.close()
  }
}
