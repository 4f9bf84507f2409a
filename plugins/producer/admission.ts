/**
 * Admission control: a process-wide budget of in-flight bytes (key + value + headers of records accepted and
 * not yet answered). A request that does not fit is refused as a whole before anything is sent (429/42901
 * with Retry-After), so the client may retry it without risking a duplicate. Plain module.
 */
import { ApiError } from '../errors/errors.js'

export function notAdmitted (retryAfterSeconds: number, message = 'Produce not admitted: the gateway has too many bytes in flight; retry later'): ApiError {
  return new ApiError(429, 42901, message, { code: 'NOT_ADMITTED', headers: { 'retry-after': String(retryAfterSeconds) } })
}

export class ByteBudget {
  readonly limit: number
  #used = 0

  constructor (limit: number) {
    this.limit = limit
  }

  get used (): number { return this.#used }

  /**
   * Take `bytes` if they fit. A request larger than the whole budget is admitted when nothing else is in
   * flight, so that it can never be refused forever (the record-size limit bounds it anyway).
   */
  tryAcquire (bytes: number): boolean {
    if (this.#used + bytes > this.limit && this.#used > 0) return false
    this.#used += bytes
    return true
  }

  release (bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes)
  }
}
