/**
 * A fake Kafka port for unit tests of the consumer engine: sessions that the test joins, feeds and fails
 * by hand, an in-memory admin, and the real namespace mapping. Drives the edge cases a broker cannot force
 * on demand (a rebalance at a chosen moment, a commit that meets REBALANCE_IN_PROGRESS, a crash).
 */
import type { KafkaPort, SessionPort, SessionRecord, SessionSpec } from '../../plugins/consumers/session.js'
import type { AdminPort, InstanceDeps, InstanceOptions, InstanceSettings } from '../../plugins/consumers/instance.js'
import { ConsumerInstance } from '../../plugins/consumers/instance.js'
import { BufferBudget } from '../../plugins/consumers/record-buffer.js'
import { kafkaGroup, kafkaTopic, userTopic } from '../../plugins/namespaces/names.js'
import { scopePattern } from '../../plugins/namespaces/pattern.js'

type Offsets = Array<{ topic: string, partition: number, offset: number, metadata?: string | null }>

export class FakeSession implements SessionPort {
  readonly topics: string[]
  running = false
  stopped = false
  seeks: Array<[string, number, number]> = []
  paused = new Set<string>()
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
  pause (topics: string[]): void { for (const t of topics) this.paused.add(t) }
  resume (topics: string[]): void { for (const t of topics) this.paused.delete(t) }
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
    const records: SessionRecord[] = offsets.map(offset => {
      const v = Buffer.from(value(offset))
      return { topic, partition, offset, timestamp: 1000 + offset, key: null, value: v, headers: undefined, size: v.length }
    })
    this.spec.handlers.onRecords(topic, partition, records)
  }
}

export class FakePort implements KafkaPort {
  sessions: FakeSession[] = []
  simpleCommits: Array<{ groupId: string, offsets: Offsets }> = []
  simpleCommitFailures: Error[] = []
  /** While set, membership-less commits wait for it (a slow broker holding the control chain). */
  simpleCommitGate: Promise<void> | undefined
  /** Handed to the next sessions opened: their start() waits for the gate, then fails with the error. */
  startGate: Promise<void> | undefined
  startFailure: Error | undefined
  closed = false
  openSession (spec: SessionSpec): FakeSession {
    const s = new FakeSession(spec)
    s.startGate = this.startGate
    s.startFailure = this.startFailure
    this.sessions.push(s)
    return s
  }

  async commitWithoutMembership (groupId: string, offsets: Offsets): Promise<void> {
    await this.simpleCommitGate
    const failure = this.simpleCommitFailures.shift()
    if (failure) throw failure
    this.simpleCommits.push({ groupId, offsets })
  }

  async close (): Promise<void> { this.closed = true }
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

  addTopic (name: string, partitions: number, high = 0, low = 0): void { this.topics.set(name, { partitions, low, high }) }

  port (): AdminPort {
    const self = this
    const unknown = (): Error => Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' })
    const admin = {
      async listTopics () { return [...self.topics.keys()] },
      async fetchTopicMetadata ({ topics }: { topics: string[] }) {
        for (const t of topics) if (!self.topics.has(t)) throw unknown()
        return { topics: topics.map(name => ({ name, partitions: Array.from({ length: self.topics.get(name)?.partitions ?? 0 }, (_, i) => ({ partitionId: i })) })) }
      },
      async fetchOffsets ({ groupId, topics }: { groupId: string, topics: string[] }) {
        for (const t of topics) if (!self.topics.has(t)) throw unknown()
        return topics.map(topic => ({
          topic,
          partitions: Array.from({ length: self.topics.get(topic)?.partitions ?? 0 }, (_, partition) => ({
            partition, offset: String(self.committed.get(`${groupId}/${topic}/${partition}`) ?? -1), metadata: null
          }))
        }))
      },
      async fetchTopicOffsets (topic: string) {
        self.offsetLookups++
        const t = self.topics.get(topic)
        if (!t) throw unknown()
        return Array.from({ length: t.partitions }, (_, partition) => ({ partition, offset: String(t.high), high: String(t.high), low: String(t.low) }))
      },
      async fetchTopicOffsetsByTimestamp (topic: string) {
        self.timestampLookups++
        const t = self.topics.get(topic)
        if (!t) throw unknown()
        return Array.from({ length: t.partitions }, (_, partition) => ({ partition, offset: '-1' }))
      },
      async deleteGroups (groups: string[]) { self.deletedGroups.push(...groups); return [] }
    }
    return admin as unknown as AdminPort
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
    connect: () => port,
    admin: async () => admin.port(),
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
