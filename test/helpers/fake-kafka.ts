/**
 * A fake Kafka driver (plugins/kafka/driver.ts) for unit tests of the consumer engine: sessions that the test
 * joins, feeds and fails by hand, in-memory look-ups, and the real namespace mapping. Drives the edge cases a
 * broker cannot force on demand (a rebalance at a chosen moment, a commit that meets REBALANCE_IN_PROGRESS, a
 * crash). It fails with the port's KafkaError, as the kafkajs adapter does.
 */
import { KafkaError, type BufferedRecord, type CommittedOffset, type ConsumerClient, type ConsumerSession, type KafkaDriver, type SessionSpec } from '../../plugins/kafka/driver.js'
import type { InstanceDeps, InstanceOptions, InstanceSettings } from '../../plugins/consumers/instance.js'
import { ConsumerInstance } from '../../plugins/consumers/instance.js'
import { BufferBudget } from '../../plugins/consumers/record-buffer.js'
import { kafkaGroup, kafkaTopic, userTopic } from '../../plugins/namespaces/names.js'
import { scopePattern } from '../../plugins/namespaces/pattern.js'

type Offsets = Array<{ topic: string, partition: number, offset: number, metadata?: string | null }>

/** A KafkaError as the adapter makes it from Kafka's answer `kind` (REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID …). */
export function kafkaError (kind: string, message = kind): KafkaError {
  return new KafkaError(message, { kind })
}

/** No broker answers: the adapter's KafkaError for a refused connection. */
export function refused (): KafkaError {
  return new KafkaError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', { outage: true, retriable: true })
}

export class FakeSession implements ConsumerSession {
  readonly topics: string[]
  running = false
  stopped = false
  seeks: Array<[string, number, number]> = []
  /** Held (the instance's buffer is full): fetches nothing until released. */
  held = false
  commits: Offsets[] = []
  /** Errors thrown by the next commits, in order. */
  commitFailures: Error[] = []

  /** Set by the port: start() waits for it, then fails with `startFailure` if set. */
  startGate: Promise<void> | undefined
  startFailure: Error | undefined

  constructor (readonly spec: SessionSpec) { this.topics = spec.topics }
  async start (): Promise<void> {
    await this.startGate
    if (this.startFailure) throw this.startFailure
    this.running = true
  }

  seek (topic: string, partition: number, offset: number): void { this.seeks.push([topic, partition, offset]) }
  hold (): void { this.held = true }
  release (): void { this.held = false }
  /** Set by a test: a fetch to the broker unanswered since then (Date.now() ms). */
  fetchingSince: number | undefined
  parked = false
  parks = 0
  park (): void { this.parked = true; this.parks++ }
  unpark (): void { this.parked = false }
  async commit (offsets: Offsets): Promise<void> {
    const failure = this.commitFailures.shift()
    if (failure) throw failure
    this.commits.push(offsets)
  }

  async stop (): Promise<void> { this.running = false; this.stopped = true }

  join (assignment: Array<[string, number]>): void {
    this.spec.handlers.onJoin(assignment.map(([topic, partition]) => ({ topic, partition })))
  }

  /** Hand the instance a batch, as kafkajs' eachBatch would. */
  deliver (topic: string, partition: number, offsets: number[], value: (o: number) => string | Buffer = o => `v${o}`): void {
    const records: BufferedRecord[] = offsets.map(offset => {
      const v = Buffer.from(value(offset))
      return {
        topic, partition, offset, timestamp: 1000 + offset, key: null, value: v, headers: undefined, size: v.length
      }
    })
    this.spec.handlers.onRecords(topic, partition, records)
  }
}

/** The per-instance client of the fake driver: its sessions and membership-less commits. */
export class FakePort implements ConsumerClient {
  sessions: FakeSession[] = []
  simpleCommits: Array<{ groupId: string, offsets: Offsets }> = []
  simpleCommitFailures: Error[] = []
  /** While set, membership-less commits wait for it (a slow broker holding the control chain). */
  simpleCommitGate: Promise<void> | undefined
  /** Handed to the next sessions opened: their start() waits for the gate, then fails with the error. */
  startGate: Promise<void> | undefined
  startFailure: Error | undefined
  closed = false
  /** Names of the private groups of sessions opened with fixed partitions, as the driver names them. */
  shadowGroups: string[] = []
  openSession (spec: SessionSpec): FakeSession {
    if (spec.fixed) this.shadowGroups.push(`${spec.groupId}.assign-fake${this.sessions.length}`)
    const s = new FakeSession(spec)
    s.startGate = this.startGate
    s.startFailure = this.startFailure
    this.sessions.push(s)
    return s
  }

  async commitDetached (groupId: string, offsets: Offsets): Promise<void> {
    await this.simpleCommitGate
    const failure = this.simpleCommitFailures.shift()
    if (failure) throw failure
    this.simpleCommits.push({ groupId, offsets })
  }

  /** The driver deletes its shadow groups on close; recorded in `deleted`, shared with the FakeAdmin. */
  deleted: string[] = []
  async close (): Promise<void> {
    this.closed = true
    this.deleted.push(...this.shadowGroups.splice(0))
  }

  get current (): FakeSession {
    const s = this.sessions.at(-1)
    if (!s) throw new Error('no session opened')
    return s
  }
}

/** Topics (Kafka names) with partition counts, end offsets and committed offsets. */
export class FakeAdmin {
  topics = new Map<string, { partitions: number, low: number, high: number }>()
  committed = new Map<string, number>()
  deletedGroups: string[] = []
  /** Calls of fetchTopicOffsetsByTimestamp and of fetchTopicOffsets. */
  timestampLookups = 0
  offsetLookups = 0

  addTopic (name: string, partitions: number, high = 0, low = 0): void {
    this.topics.set(name, { partitions, low, high })
  }

  /** The look-ups of the driver port, over these topics and commits; `client` serves connect(). */
  driver (client: FakePort): KafkaDriver {
    const unknown = (): KafkaError => kafkaError('UNKNOWN_TOPIC_OR_PARTITION', 'This server does not host this topic-partition')
    const topic = (name: string): { partitions: number, low: number, high: number } => {
      const t = this.topics.get(name)
      if (!t) throw unknown()
      return t
    }
    client.deleted = this.deletedGroups
    return {
      connect: () => client,
      listTopics: async () => [...this.topics.keys()],
      partitionCounts: async (topics) => new Map(topics.map(name => [name, topic(name).partitions])),
      committedOffsets: async (groupId, topics) => {
        const out: CommittedOffset[] = []
        for (const name of topics) {
          const t = topic(name)
          for (let partition = 0; partition < t.partitions; partition++) {
            const offset = this.committed.get(`${groupId}/${name}/${partition}`)
            if (offset !== undefined && offset >= 0) out.push({ topic: name, partition, offset, metadata: null })
          }
        }
        return out
      },
      edges: async (name) => {
        this.offsetLookups++
        const t = topic(name)
        return Array.from({ length: t.partitions }, (_, partition) => ({ partition, low: t.low, high: t.high }))
      },
      offsetsForTimestamp: async (name) => {
        this.timestampLookups++
        topic(name)
        return new Map()
      }
    }
  }
}

export const testSettings: InstanceSettings = {
  sessionTimeout: 6000,
  heartbeatInterval: 500,
  fetchMaxWaitMs: 100,
  fetchMaxBytes: 1048576,
  bufferBytes: 1000,
  bufferRecords: 100,
  autoCommitIntervalMs: 60_000,
  refreshIntervalMs: 60_000,
  joinWaitMs: 500,
  parkAfterMs: 0,
  fetchStallMs: 5000
}

export interface Rig {
  port: FakePort
  admin: FakeAdmin
  budget: BufferBudget
  deps: InstanceDeps
  instance (opts?: Partial<InstanceOptions>): ConsumerInstance
  /** An instance subscribed to the user topic `events` (not started: the first read starts it), closed at teardown. */
  subscribed (t: { teardown (fn: () => unknown): void }, opts?: Partial<InstanceOptions>): Promise<ConsumerInstance>
}

export function rig (settings: Partial<InstanceSettings> = {}, budgetBytes = 1 << 30): Rig {
  const port = new FakePort()
  const admin = new FakeAdmin()
  const budget = new BufferBudget(budgetBytes)
  const deps: InstanceDeps = {
    kafka: admin.driver(port),
    // A state transition the table (plugins/consumers/state.ts) does not allow fails the test that made it.
    log: {
      warn (obj: object, msg: string) { if (msg.startsWith('unexpected consumer instance state')) throw new Error(`${msg}: ${JSON.stringify(obj)}`) },
      debug () {}
    },
    names: { kafkaTopic, kafkaGroup, userTopic, scopePattern },
    budget,
    settings: { ...testSettings, ...settings }
  }
  const instance = (opts: Partial<InstanceOptions> = {}): ConsumerInstance => new ConsumerInstance({
    namespace: 'ns-abc',
    group: 'grp',
    name: 'i1',
    subject: 'sub',
    format: 'binary',
    autoOffsetReset: 'earliest',
    autoCommit: false,
    fetchMinBytes: 1,
    requestTimeoutMs: 1000,
    ...opts
  }, deps)
  return {
    port,
    admin,
    budget,
    deps,
    instance,
    async subscribed (t, opts = {}) {
      const inst = instance(opts)
      t.teardown(() => inst.close())
      await inst.subscribe({ topics: ['events'] })
      return inst
    }
  }
}
