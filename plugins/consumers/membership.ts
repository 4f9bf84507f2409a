/**
 * The running session of one consumer instance and the instance's state machine (state.ts): opening, replacing
 * and stopping the session, and its group events: the join (revoked partitions purged, kept ones re-sought),
 * fetched records into the buffer, rebalances, crashes (an outage the driver recovers from, or a failure).
 * Plain module.
 */
import type { BufferedRecord, ConsumerClient, ConsumerSession, TopicPartition } from '../kafka/driver.js'
import type { FlowControl } from './flow.js'
import type { InstanceDeps, InstanceSettings } from './instance-deps.js'
import type { Positions } from './positions.js'
import type { BufferBudget, RecordBuffer } from './record-buffer.js'
import { allowed, type State } from './state.js'

export interface MembershipDeps {
  client: ConsumerClient
  /** The group's Kafka name. */
  group: string
  settings: InstanceSettings
  fromBeginning: boolean
  buffer: RecordBuffer
  budget: BufferBudget
  positions: Positions
  flow (): FlowControl
  /** The session joined its group (after the ledger, buffer and flow control are in line). */
  joined (): void
  wakeReaders (): void
  /** No read is waiting (a new session may start its park timer). */
  idle (): boolean
  log?: InstanceDeps['log']
}

export class Membership {
  #state: State = { name: 'idle' }
  session: ConsumerSession | undefined

  constructor (private readonly deps: MembershipDeps) {}

  get state (): State { return this.#state }

  /** Move to `next`; closed is final, and a transition the table does not allow is logged (state.ts). */
  to (next: State): void {
    const from = this.#state.name
    if (from === 'closed') return
    if (!allowed(from, next.name)) this.deps.log?.warn({ from, to: next.name }, 'unexpected consumer instance state transition')
    this.#state = next
  }

  /** Replace the session (none when `topics` is empty); `fixed`: manual assignment. */
  async restart (topics: string[], fixed?: Record<string, number[]>): Promise<void> {
    await this.stop()
    this.deps.positions.sessionStarting()
    if (topics.length === 0) return
    const s = this.deps.settings
    const session = this.deps.client.openSession({
      groupId: this.deps.group,
      topics,
      fromBeginning: this.deps.fromBeginning,
      ...(fixed ? { fixed } : {}),
      sessionTimeout: s.sessionTimeout,
      heartbeatInterval: s.heartbeatInterval,
      maxWaitTimeInMs: s.fetchMaxWaitMs,
      maxBytes: s.fetchMaxBytes,
      handlers: {
        onJoin: (a) => { if (this.session === session) this.#onJoin(session, a) },
        onRecords: (t, p, r) => { if (this.session === session) this.#onRecords(t, p, r) },
        onRebalancing: () => { if (this.session === session && this.#state.name !== 'outage') this.to({ name: 'joining' }) },
        onCrash: (err, restart) => {
          if (this.session !== session) return
          this.deps.log?.warn({ err, restart, group: this.deps.group }, 'consumer session crashed')
          this.deps.positions.commitUnknown() // the driver may have skipped a commit while it was tearing down
          if (restart) { this.to({ name: 'outage', error: err }); return }
          this.to({ name: 'failed', error: err })
          this.deps.wakeReaders()
        }
      }
    })
    this.session = session
    this.to({ name: 'joining' })
    try {
      await session.start()
    } catch (err) {
      this.session = undefined
      this.to({ name: 'waiting' })
      await session.stop()
      throw err
    }
    if (this.deps.idle()) this.deps.flow().armPark()
  }

  /** Stop fetching and drop what is buffered and assigned; places to resume at are kept for the next session. */
  async stop (): Promise<void> {
    const s = this.session
    this.session = undefined
    if (s && this.#state.name !== 'closed') this.to({ name: 'waiting' })
    this.deps.flow().reset()
    this.deps.budget.release(this.deps.buffer.clear())
    this.deps.positions.sessionStopped()
    await s?.stop()
  }

  /** Synchronous, inside the driver's join: adjust buffers and positions before the first fetch. */
  #onJoin (session: ConsumerSession, assignment: TopicPartition[]): void {
    const { revoked, seeks } = this.deps.positions.join(assignment)
    for (const tp of revoked) this.deps.budget.release(this.deps.buffer.purge(tp.topic, tp.partition))
    for (const o of seeks) session.seek(o.topic, o.partition, o.offset)
    this.to({ name: 'joined' })
    this.deps.flow().reapply(session)
    this.deps.joined()
  }

  #onRecords (topic: string, partition: number, records: BufferedRecord[]): void {
    if (records.length === 0 || !this.deps.positions.holds(topic, partition)) return
    if (this.#state.name === 'outage') this.to({ name: 'joining' })
    const from = this.deps.positions.fetched(topic, partition, records)
    if (from === records.length) return
    this.deps.budget.add(this.deps.buffer.pushBatch(topic, partition, records, from))
    this.deps.flow().buffered()
    this.deps.wakeReaders()
  }
}
