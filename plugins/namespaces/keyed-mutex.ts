/**
 * Per-key mutual exclusion within the process: operations on the same key run one after another, in call
 * order; different keys run concurrently. Keys are dropped once idle, so the map stays bounded by the number
 * of keys in use. Plain module.
 */
export class KeyedMutex {
  #tails = new Map<string, Promise<void>>()

  /** Run `fn` once every earlier call for `key` has settled. */
  async run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const done = new Promise<void>(resolve => { release = resolve })
    const tail = previous.then(() => done)
    this.#tails.set(key, tail)
    await previous
    try {
      return await fn()
    } finally {
      release()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }

  /** Keys with an operation running or queued. */
  get size (): number {
    return this.#tails.size
  }
}
