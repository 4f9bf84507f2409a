/**
 * Output buffers for rendered GET records answers, reused from one answer to the next. A fresh multi-megabyte
 * Buffer for every answer cost more than the rendering itself: in the fetch micro-benchmark, base64 into a fresh
 * buffer took 1.8 µs per 1 KiB record against 0.7 µs into a reused one (BENCHMARKS.md, fetch throughput).
 *
 * A buffer comes back only once its answer has finished, that is once Node has handed all of its bytes to the
 * kernel (the response's 'finish'); an answer cut short leaves its buffer to the garbage collector. Sizes are
 * rounded up to a power of two (at least 64 KiB) so that answers of varying size fit the buffers kept; at most
 * `maxIdleBytes` are kept idle, and no buffer larger than `maxBuffer`.
 */
export class BufferPool {
  #free: Buffer[] = []
  #idle = 0
  readonly stats = { acquired: 0, reused: 0 }

  constructor (readonly maxIdleBytes = 32 * 1048576, readonly maxBuffer = 16 * 1048576) {}

  /**
   * A buffer of at least `n` bytes, its contents undefined. An idle buffer is reused only if it is at most four
   * times that (or 256 KiB): a small answer to a slow client must not pin a large buffer that larger answers need.
   */
  acquire (n: number): Buffer {
    this.stats.acquired++
    const most = Math.max(4 * n, 262144)
    let best = -1
    for (let i = 0; i < this.#free.length; i++) {
      const length = (this.#free[i] as Buffer).length
      if (length >= n && length <= most && (best < 0 || length < (this.#free[best] as Buffer).length)) best = i
    }
    if (best >= 0) {
      const b = this.#free.splice(best, 1)[0] as Buffer
      this.#idle -= b.length
      this.stats.reused++
      return b
    }
    let size = 65536
    while (size < n) size *= 2
    // Its own ArrayBuffer (never a slice of Node's shared pool), so that it can be handed out again whole.
    return Buffer.allocUnsafeSlow(size)
  }

  /** Give back a buffer from acquire() that nothing refers to any more. */
  release (b: Buffer): void {
    if (b.length > this.maxBuffer || b.byteOffset !== 0 || b.length !== b.buffer.byteLength) return
    if (this.#free.includes(b)) return
    // Full: keep the larger buffers (they serve every smaller answer).
    while (this.#idle + b.length > this.maxIdleBytes && this.#free.length > 0) {
      let smallest = 0
      for (let i = 1; i < this.#free.length; i++) {
        if ((this.#free[i] as Buffer).length < (this.#free[smallest] as Buffer).length) smallest = i
      }
      if ((this.#free[smallest] as Buffer).length >= b.length) return
      this.#idle -= (this.#free.splice(smallest, 1)[0] as Buffer).length
    }
    if (this.#idle + b.length > this.maxIdleBytes) return
    this.#free.push(b)
    this.#idle += b.length
  }

  get idleBytes (): number { return this.#idle }
}
