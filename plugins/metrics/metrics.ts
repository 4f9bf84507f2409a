/**
 * The service's Prometheus metrics over prom-client, on a registry of their own (never prom-client's global
 * default registry: several apps may live in one process, as in the tests). Plain module: no Fastify. The
 * plugin (index.ts) feeds it from an HTTP hook and from the diagnostics channels the other plugins publish on
 * (subscriptions.ts), so none of them imports prom-client or knows the metrics exist.
 *
 * Counters the engine already keeps (registry stats, auth cache stats) are read at scrape time and turned
 * into monotonic counters by adding what changed since the previous scrape.
 */
import { timingSafeEqual, createHash } from 'node:crypto'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** What the metrics read from the consumer registry at scrape time. */
export interface ConsumerSource {
  readonly stats: { created: number, deleted: number, expired: number }
  all (): Iterable<ConsumerFigures>
}

/** What the metrics read of one consumer instance. */
export interface ConsumerFigures {
  readonly opts: { namespace: string }
  readonly activeReads: number
  readonly bufferedBytes: number
  readonly bufferedRecords: number
  readonly started: boolean
  readonly parked: boolean
}

/** What the metrics read from the produce engine at scrape time. */
export interface ProducerSource {
  readonly budget: { readonly used: number }
  readonly queued: number
}

/** What the metrics read from the auth plugin at scrape time. */
export interface AuthSource {
  stats (): { hits: number, misses: number }
}

/** Consumer events (the diaspora:consumers:* channels). */
export interface ConsumerEvents {
  read (ms: number, records: number, bytes: number): void
  commit (ok: boolean): void
  join (): void
}

/** Produce events (the diaspora:producer:* channels). */
export interface ProduceEvents {
  written (records: number, bytes: number): void
  failed (errorCode: number): void
  sent (seconds: number, records: number): void
}

/** How a request forwarded to the node that owns its consumer instance ended (diaspora:cluster:forward). */
export type ForwardOutcome = 'forwarded' | 'owner-gone' | 'error'

export interface ServiceMetricsOptions {
  /** process_* and nodejs_* metrics (default true). They start an event-loop monitor and a GC observer. */
  defaultMetrics?: boolean
}

/** Seconds: long polls last up to CONSUMER_REQUEST_TIMEOUT_MAX_MS (30 s by default). */
const FETCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const PRODUCE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const INTROSPECTION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Label for requests that matched no route (404s): raw URLs would carry namespace and instance names. */
export const UNMATCHED_ROUTE = '(unmatched)'

type CounterSource = () => number

/** A counter mirroring a cumulative number kept elsewhere (it only moves forward). */
function mirrorCounter (registry: Registry, name: string, help: string): { bind (source: CounterSource): void } {
  let source: CounterSource | undefined
  let last = 0
  // eslint-disable-next-line no-new
  new Counter({
    name,
    help,
    registers: [registry],
    collect () {
      if (!source) return
      const now = source()
      if (now > last) { this.inc(now - last); last = now }
    }
  })
  return { bind (s) { source = s; last = 0 } }
}

export class ServiceMetrics {
  readonly registry = new Registry()

  readonly #httpRequests: Counter<'method' | 'route' | 'status'>
  readonly #httpDuration: Histogram<'method' | 'route'>
  readonly #fetchDuration: Histogram
  readonly #fetches: Counter<'result'>
  readonly #records: Counter
  readonly #bytes: Counter
  readonly #commits: Counter
  readonly #commitErrors: Counter
  readonly #rebalances: Counter
  readonly #introspection: Histogram<'outcome'>
  readonly #created
  readonly #deleted
  readonly #expired
  readonly #authHits
  readonly #authMisses
  readonly #produceRecords: Counter
  readonly #produceBytes: Counter
  readonly #produceErrors: Counter<'error_code'>
  readonly #produceSend: Histogram
  readonly #forwarded: Counter<'outcome' | 'status'>
  readonly #forwardDuration: Histogram
  #consumers: ConsumerSource | undefined
  #producer: ProducerSource | undefined

  constructor (opts: ServiceMetricsOptions = {}) {
    const registers = [this.registry]
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })

    this.#httpRequests = new Counter({ name: 'diaspora_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers })
    this.#httpDuration = new Histogram({ name: 'diaspora_http_request_duration_seconds', help: 'HTTP request duration (long polls included), by method and route pattern', labelNames: ['method', 'route'], buckets: HTTP_BUCKETS, registers })

    const self = this
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'diaspora_consumer_instances',
      help: 'Consumer instances alive, by namespace',
      labelNames: ['namespace'],
      registers,
      collect () {
        this.reset()
        const perNs = new Map<string, number>()
        for (const inst of self.#consumers?.all() ?? []) {
          perNs.set(inst.opts.namespace, (perNs.get(inst.opts.namespace) ?? 0) + 1)
        }
        for (const [namespace, n] of perNs) this.set({ namespace }, n)
      }
    })
    /** A gauge summing one figure over every instance at scrape time. */
    const sumOverInstances = (name: string, help: string, figure: (inst: ConsumerFigures) => number): void => {
      // eslint-disable-next-line no-new
      new Gauge({
        name,
        help,
        registers,
        collect () {
          let n = 0
          for (const inst of self.#consumers?.all() ?? []) n += figure(inst)
          this.set(n)
        }
      })
    }
    sumOverInstances('diaspora_consumer_long_polls', 'Reads (GET records) waiting right now', i => i.activeReads)
    sumOverInstances('diaspora_consumer_buffered_records', 'Records prefetched from Kafka and not yet returned, all instances', i => i.bufferedRecords)
    sumOverInstances('diaspora_consumer_buffered_bytes', 'Key + value bytes prefetched from Kafka and not yet returned, all instances (bounded by CONSUMER_TOTAL_BUFFER_BYTES)', i => i.bufferedBytes)
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'diaspora_consumer_kafka_consumers',
      help: 'Instances whose Kafka consumer runs, by state: fetching, or parked (no read for CONSUMER_PARK_AFTER_MS: heartbeats only); a subscription starts its consumer at its first read',
      labelNames: ['state'],
      registers,
      collect () {
        let fetching = 0
        let parked = 0
        for (const inst of self.#consumers?.all() ?? []) {
          if (inst.parked) parked++
          else if (inst.started) fetching++
        }
        this.set({ state: 'fetching' }, fetching)
        this.set({ state: 'parked' }, parked)
      }
    })
    this.#created = mirrorCounter(this.registry, 'diaspora_consumer_instances_created_total', 'Consumer instances created')
    this.#deleted = mirrorCounter(this.registry, 'diaspora_consumer_instances_deleted_total', 'Consumer instances deleted by their owner')
    this.#expired = mirrorCounter(this.registry, 'diaspora_consumer_instances_expired_total', 'Consumer instances closed after idling past CONSUMER_INSTANCE_TIMEOUT_MS')

    this.#fetchDuration = new Histogram({ name: 'diaspora_consumer_fetch_duration_seconds', help: 'Duration of answered reads (GET records), long-poll wait included', buckets: FETCH_BUCKETS, registers })
    this.#fetches = new Counter({ name: 'diaspora_consumer_fetches_total', help: 'Answered reads, by result: empty (no record) or records; the empty-fetch ratio is empty / all', labelNames: ['result'], registers })
    this.#records = new Counter({ name: 'diaspora_consumer_records_served_total', help: 'Records returned by reads', registers })
    this.#bytes = new Counter({ name: 'diaspora_consumer_bytes_served_total', help: 'Key + value bytes of the records returned by reads', registers })
    this.#commits = new Counter({ name: 'diaspora_consumer_commits_total', help: 'Offset commits that reached Kafka and succeeded (explicit, commit-all, auto and final)', registers })
    this.#commitErrors = new Counter({ name: 'diaspora_consumer_commit_errors_total', help: 'Offset commits that failed', registers })
    this.#rebalances = new Counter({ name: 'diaspora_consumer_rebalances_total', help: 'Group joins of consumer instances (GROUP_JOIN: a new assignment after a rebalance)', registers })
    // Both result values exist from the start, so the ratio is defined before the first read.
    this.#fetches.inc({ result: 'empty' }, 0)
    this.#fetches.inc({ result: 'records' }, 0)

    this.#produceRecords = new Counter({ name: 'diaspora_produce_records_total', help: 'Records written to Kafka and acknowledged by every in-sync replica', registers })
    this.#produceBytes = new Counter({ name: 'diaspora_produce_bytes_total', help: 'Key + value + header bytes of the records written', registers })
    this.#produceErrors = new Counter({ name: 'diaspora_produce_errors_total', help: 'Records not written, by error code (42901 not admitted, 50302 Kafka unreachable, 50003 outcome unknown, 4xxxx bad input)', labelNames: ['error_code'], registers })
    this.#produceSend = new Histogram({ name: 'diaspora_produce_send_duration_seconds', help: 'Duration of the Kafka produce requests (one per flush of queued records, acks=all)', buckets: PRODUCE_BUCKETS, registers })
    // eslint-disable-next-line no-new
    new Gauge({ name: 'diaspora_produce_in_flight_bytes', help: 'Bytes of records accepted and not yet answered (bounded by PRODUCE_MAX_IN_FLIGHT_BYTES)', registers, collect () { this.set(self.#producer?.budget.used ?? 0) } })
    // eslint-disable-next-line no-new
    new Gauge({ name: 'diaspora_produce_queued_records', help: 'Records waiting for a Kafka produce request', registers, collect () { this.set(self.#producer?.queued ?? 0) } })

    this.#authHits = mirrorCounter(this.registry, 'diaspora_auth_cache_hits_total', 'Authenticated requests answered from the token cache')
    this.#authMisses = mirrorCounter(this.registry, 'diaspora_auth_cache_misses_total', 'Authenticated requests not in the token cache (each started or joined an introspection)')
    this.#introspection = new Histogram({ name: 'diaspora_auth_introspection_duration_seconds', help: 'Globus token introspection calls, by outcome: answered (any document) or failed (timeout, unreachable, 5xx, garbage)', labelNames: ['outcome'], buckets: INTROSPECTION_BUCKETS, registers })

    this.#forwarded = new Counter({
      name: 'diaspora_forwarded_requests_total',
      help: 'Requests forwarded to the node that owns their consumer instance (several nodes), by outcome (forwarded, owner-gone, error) and status answered',
      labelNames: ['outcome', 'status'],
      registers
    })
    this.#forwardDuration = new Histogram({ name: 'diaspora_forward_duration_seconds', help: 'Duration of forwarded requests, as seen by the forwarding node (long polls included)', buckets: HTTP_BUCKETS, registers })
  }

  /** One answered HTTP request. `route` is the route pattern (routeOptions.url), never the raw URL. */
  httpRequest (method: string, route: string | undefined, status: number, seconds: number): void {
    const r = route ?? UNMATCHED_ROUTE
    this.#httpRequests.inc({ method, route: r, status: String(status) })
    this.#httpDuration.observe({ method, route: r }, seconds)
  }

  /** Consumer events (subscriptions.ts). */
  readonly consumerObserver: ConsumerEvents = {
    read: (ms, records, bytes) => {
      this.#fetchDuration.observe(ms / 1000)
      this.#fetches.inc({ result: records === 0 ? 'empty' : 'records' })
      if (records > 0) {
        this.#records.inc(records)
        this.#bytes.inc(bytes)
      }
    },
    commit: (ok) => { (ok ? this.#commits : this.#commitErrors).inc() },
    join: () => { this.#rebalances.inc() }
  }

  /** Produce events (subscriptions.ts). */
  readonly producerObserver: ProduceEvents = {
    written: (records, bytes) => { this.#produceRecords.inc(records); this.#produceBytes.inc(bytes) },
    failed: (errorCode) => { this.#produceErrors.inc({ error_code: String(errorCode) }) },
    sent: (seconds) => { this.#produceSend.observe(seconds) }
  }

  bindProducer (source: ProducerSource): void {
    this.#producer = source
  }

  /** One Globus token introspection call (subscriptions.ts). */
  readonly introspectionObserver = (seconds: number, outcome: 'answered' | 'failed'): void => {
    this.#introspection.observe({ outcome }, seconds)
  }

  /** One request forwarded to another node (subscriptions.ts). */
  forwardedRequest (outcome: ForwardOutcome, status: number, seconds: number): void {
    this.#forwarded.inc({ outcome, status: String(status) })
    this.#forwardDuration.observe(seconds)
  }

  bindConsumers (source: ConsumerSource): void {
    this.#consumers = source
    this.#created.bind(() => source.stats.created)
    this.#deleted.bind(() => source.stats.deleted)
    this.#expired.bind(() => source.stats.expired)
  }

  bindAuth (source: AuthSource): void {
    this.#authHits.bind(() => source.stats().hits)
    this.#authMisses.bind(() => source.stats().misses)
  }

  get contentType (): string { return this.registry.contentType }

  /** The exposition text. */
  render (): Promise<string> { return this.registry.metrics() }
}

/**
 * Whether an Authorization header carries `Bearer <token>`. Compares SHA-256 digests in constant time, so
 * neither the token's content nor its length leaks through timing.
 */
export function bearerMatches (header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')
  if (!m) return false
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(m[1] as string), digest(token))
}
