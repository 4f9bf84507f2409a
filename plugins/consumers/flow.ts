/**
 * Flow control of one consumer instance's session: holding the fetch while the buffer is full (hysteresis: hold
 * at the high-water marks or when the process budget is used up, release below half the marks once the budget
 * allows), and parking it after `parkAfterMs` without a read (no Fetch, heartbeats only; the next read unparks at
 * once). Both are enforced by the driver at the fetch (ConsumerSession hold/park). Plain module.
 */
import type { ConsumerSession } from '../kafka/driver.js'
import type { BufferBudget, RecordBuffer } from './record-buffer.js'

export interface FlowSettings { bufferBytes: number, bufferRecords: number, parkAfterMs: number }

export class FlowControl {
  /** The session fetches nothing until the buffer drains (and the process budget allows). */
  held = false
  /** No read for parkAfterMs: the session fetches nothing until the next read. */
  parked = false
  #parkTimer: NodeJS.Timeout | undefined
  #relief = (): void => { this.maybeRelease() }

  constructor (
    private readonly session: () => ConsumerSession | undefined,
    private readonly buffer: RecordBuffer,
    private readonly budget: BufferBudget,
    private readonly settings: FlowSettings,
    /** Whether the session may park now (no read waiting, not closed). */
    private readonly idle: () => boolean
  ) {}

  /** Records were buffered: hold the fetch at the high-water marks or when the process budget is used up. */
  buffered (): void {
    const s = this.settings
    const full = this.buffer.bytes >= s.bufferBytes || this.buffer.records >= s.bufferRecords || this.budget.exhausted
    if (this.held || !full) return
    this.held = true
    this.session()?.hold()
    if (this.budget.exhausted) this.budget.onRelief(this.#relief)
  }

  /** Release the fetch once the buffer is below half its marks and the process budget allows. */
  maybeRelease (): void {
    if (!this.held) return
    const s = this.settings
    if (this.buffer.bytes > s.bufferBytes / 2 || this.buffer.records > s.bufferRecords / 2) return
    if (!this.budget.relieved) { this.budget.onRelief(this.#relief); return }
    this.held = false
    this.session()?.release()
  }

  /** (Re)start the park timer: a read just ended, or a session started with nobody reading. */
  armPark (): void {
    const ms = this.settings.parkAfterMs
    clearTimeout(this.#parkTimer)
    this.#parkTimer = undefined
    if (ms <= 0 || this.parked) return
    this.#parkTimer = setTimeout(() => {
      this.#parkTimer = undefined
      const session = this.session()
      if (this.parked || !session || !this.idle()) return
      this.parked = true
      session.park()
    }, ms).unref()
  }

  /** A read: fetch again at once. */
  unpark (): void {
    clearTimeout(this.#parkTimer)
    this.#parkTimer = undefined
    if (!this.parked) return
    this.parked = false
    this.session()?.unpark()
  }

  /** A session joined (a driver that rebuilt its consumer after a crash starts it unheld and unparked). */
  reapply (session: ConsumerSession): void {
    if (this.held) session.hold()
    if (this.parked) session.park()
  }

  /** The session stopped: a new one starts fetching. */
  reset (): void {
    this.held = false
    this.parked = false
    clearTimeout(this.#parkTimer)
    this.#parkTimer = undefined
  }

  close (): void {
    this.reset()
    this.budget.offRelief(this.#relief)
  }
}
