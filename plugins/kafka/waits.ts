/**
 * Waiting primitives shared by the Kafka layer and the consumer engine: a race of work against a timer, and a
 * set of waiters that a signal or their own timer ends. Plain module.
 */

/**
 * `work`'s outcome, or, once `ms` have passed first, `late()`'s (which may throw). The timer is cleared either way;
 * work that loses the race runs on, and its rejection is not reported as unhandled.
 */
export async function raceTimeout<T, L> (work: Promise<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => { try { resolve(late()) } catch (err) { reject(err) } }, Math.max(0, ms))
  })
  work.catch(() => {}) // nobody waits for it past the deadline
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits that end at a signal (wake) or after their own timeout, whichever comes first. */
export class Waiters {
  #waiters = new Set<() => void>()

  get size (): number { return this.#waiters.size }

  /** Resolves at the next wake(), or after `ms` (then with `false`; a wake gives `true`). */
  wait (ms: number): Promise<boolean> {
    return new Promise(resolve => {
      const done = (woken: boolean): void => { clearTimeout(timer); this.#waiters.delete(wake); resolve(woken) }
      const wake = (): void => done(true)
      const timer = setTimeout(() => done(false), ms)
      this.#waiters.add(wake)
    })
  }

  /** End every wait now. */
  wake (): void {
    if (this.#waiters.size === 0) return
    for (const w of [...this.#waiters]) w()
  }
}
