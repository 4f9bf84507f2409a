/**
 * The read path of one consumer instance (a long poll, beside the control chain): waiting until fetch.min.bytes
 * are buffered or the deadline passes, what a read that finds nothing answers (a failed or crashed session, a
 * stalled fetch, a failed start, auto.offset.reset none's missing commit), and taking the records round-robin into
 * a Delivery. Holds the waiting reads and the shutdown's drain. Plain module.
 */
import { Errors } from '../errors/errors.js'
import type { ConsumerSession, KafkaDriver } from '../kafka/driver.js'
import { Waiters } from '../kafka/waits.js'
import { Delivery, JsonTake, undecodableError, type ConsumerFormat } from './format.js'
import type { FlowControl } from './flow.js'
import type { InstanceObserver, InstanceSettings } from './instance-deps.js'
import * as offsets from './offsets.js'
import type { Positions } from './positions.js'
import type { BufferBudget, RecordBuffer } from './record-buffer.js'
import type { State } from './state.js'

export interface ReaderDeps {
  kafka: KafkaDriver
  /** The group's Kafka name. */
  group: string
  buffer: RecordBuffer
  budget: BufferBudget
  positions: Positions
  flow (): FlowControl
  settings: Pick<InstanceSettings, 'fetchMaxWaitMs' | 'fetchStallMs'>
  /** Bytes buffered before a read returns early; -1 = wait the whole timeout. */
  fetchMinBytes: number
  /** auto.offset.reset none: a held partition without a committed or sought start fails the read. */
  resetNone: boolean
  /** A Kafka topic name as the user knows it. */
  user (kafkaTopic: string): string
  state (): State
  session (): ConsumerSession | undefined
  /** Why the last start of the consumer failed, if it did (cleared by a start that works). */
  startFailure (): Error | undefined
  /** A waiting read woke up (the instance is in use). */
  active (): void
  observer (): InstanceObserver | undefined
}

export class Reader {
  #waiting = new Waiters()
  /** Shutting down: reads return what is buffered at once instead of waiting. */
  #draining = false

  constructor (private readonly deps: ReaderDeps) {}

  /** Something a waiting read may answer changed (records, a join, a crash, close): it looks again. */
  wake (): void { this.#waiting.wake() }

  /**
   * Shutdown, first step: waiting reads return what is buffered now, and later reads do not wait, so the
   * HTTP server can finish its in-flight requests quickly.
   */
  drain (): void {
    this.#draining = true
    this.#waiting.wake()
  }

  /**
   * Wait until fetch.min.bytes are buffered or `deadline` passes (at once when closed or draining). Ending with
   * nothing buffered, it throws why, if there is a reason: a crashed session, a stalled fetch, a failed start.
   */
  async wait (deadline: number): Promise<void> {
    const { buffer, fetchMinBytes: min } = this.deps
    while (!this.#done()) {
      const state = this.deps.state()
      if (state.name === 'failed' && buffer.records === 0) throw state.error
      if (this.deps.resetNone) await this.#requireStartOffsets()
      if (buffer.records > 0 && min >= 0 && buffer.bytes >= min) break
      const left = deadline - Date.now()
      if (left <= 0) break
      await this.#waiting.wait(left)
      this.deps.active()
    }
    if (buffer.records > 0 || this.#done()) return
    const state = this.deps.state()
    if (state.name === 'outage') throw state.error
    const stalled = this.#fetchStalledFor()
    if (stalled !== undefined) {
      throw Errors.brokerUnavailable(`Kafka has not answered a fetch for ${Math.round(stalled / 1000)} s`)
    }
    // Not started yet (a retry may be under way): the last start's failure is the best answer there is.
    const failure = this.deps.startFailure()
    if (failure) throw failure
  }

  /** Take records round-robin across partitions up to maxBytes (at least one); `started`: when the read began. */
  take (maxBytes: number, format: ConsumerFormat, started: number): Delivery {
    const { buffer, budget, positions, user } = this.deps
    const json = format === 'json' ? new JsonTake() : undefined
    const taken = buffer.take(maxBytes, json?.accept, positions.delivered)
    let released = 0
    for (const record of taken) released += record.size
    budget.release(released)
    this.deps.flow().maybeRelease()
    // An undecodable record at the head fails the read (it stays buffered so the client can seek past it).
    if (taken.length === 0 && json?.bad) throw undecodableError(json.bad, format, user(json.bad.topic))
    this.deps.observer()?.read?.(Date.now() - started, taken.length, released)
    return new Delivery(taken, format, user, json?.texts)
  }

  #done (): boolean { return this.deps.state().name === 'closed' || this.#draining }

  /**
   * auto.offset.reset none, Kafka's NoOffsetForPartitionException: a held partition that the group never
   * committed and the client never sought fails the read with 409/40905 naming it, rather than the read polling
   * empty forever. Asks Kafka only while some held partition is unchecked (once per assignment, typically).
   */
  async #requireStartOffsets (): Promise<void> {
    const { kafka, group, positions, user } = this.deps
    const missing = await offsets.withoutStart(kafka, group, positions)
    if (missing.length === 0) return
    throw Errors.noCommittedOffset(missing.map(tp => `${user(tp.topic)}-${tp.partition}`).sort())
  }

  /** How long the session's oldest fetch has gone unanswered, once that is past the stall bound. */
  #fetchStalledFor (): number | undefined {
    const since = this.deps.session()?.fetchingSince
    if (since === undefined) return undefined
    const waited = Date.now() - since
    const { fetchMaxWaitMs, fetchStallMs } = this.deps.settings
    return waited > fetchMaxWaitMs + fetchStallMs ? waited : undefined
  }
}
