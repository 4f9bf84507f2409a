/**
 * Positive-result cache for token verification (shared/docs/globus-token-introspection.md §3). Plain module.
 *
 * - Keyed by the SHA-256 hex of the token; the raw token is never stored (or logged: tokenHash(t).slice(0, 12)
 *   is the log handle).
 * - Entry lifetime = min(configured TTL, value.expiresAt − now): never past the token's `exp`. A TTL of 0
 *   disables caching but keeps single flight.
 * - LRU on a Map (insertion order; a hit moves the entry to the end), bounded at maxEntries. Expired entries
 *   are dropped when met and are the first to go by LRU order anyway.
 * - Single flight: concurrent misses on the same token share one load.
 * - Only successful loads are stored; a rejected load (inactive token, wrong audience, Globus down, …) leaves
 *   nothing behind, so the next request asks again.
 */
import * as crypto from 'node:crypto'

/**
 * SHA-256 hex of a token. crypto.hash (Node >= 20.12) is the one-shot form, about twice as fast as
 * createHash on a ~100-character token; it dominates the cost of a cache hit. Namespace import, so older
 * Node 20 releases (no `hash` export) still load this module and use createHash.
 */
export const tokenHash: (token: string) => string = typeof crypto.hash === 'function'
  ? (token) => crypto.hash('sha256', token, 'hex')
  : (token) => crypto.createHash('sha256').update(token).digest('hex')

export interface Expiring {
  /** Epoch ms after which the value must not be served. */
  expiresAt: number
}

export interface TokenCacheOptions {
  ttlMs: number
  maxEntries: number
  now?: () => number
}

export interface TokenCacheStats {
  hits: number
  misses: number
  /** Loads started (misses that did not join one already in flight). */
  loads: number
  /** Misses that joined a load already in flight. */
  coalesced: number
  size: number
  inflight: number
}

interface Entry<V> { value: V, until: number }

export class TokenCache<V extends Expiring> {
  readonly ttlMs: number
  readonly maxEntries: number
  readonly #now: () => number
  readonly #entries = new Map<string, Entry<V>>()
  readonly #inflight = new Map<string, Promise<V>>()
  #hits = 0
  #misses = 0
  #loads = 0
  #coalesced = 0

  constructor (opts: TokenCacheOptions) {
    if (!(opts.maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1')
    this.ttlMs = Math.max(0, opts.ttlMs)
    this.maxEntries = opts.maxEntries
    this.#now = opts.now ?? Date.now
  }

  /**
   * The cached value for the token (returned synchronously: no load, no I/O, no promise), else a promise of
   * load(token), shared with every concurrent caller for the same token. `load` receives the token so
   * callers can pass one long-lived function instead of allocating a closure per request.
   */
  resolve (token: string, load: (token: string) => Promise<V>): V | Promise<V> {
    const key = tokenHash(token)
    const hit = this.#lookup(key)
    if (hit !== undefined) {
      this.#hits++
      return hit
    }
    this.#misses++
    const pending = this.#inflight.get(key)
    if (pending !== undefined) {
      this.#coalesced++
      return pending
    }
    this.#loads++
    const flight = (async () => {
      try {
        const value = await load(token)
        this.#store(key, value)
        return value
      } finally {
        this.#inflight.delete(key)
      }
    })()
    this.#inflight.set(key, flight)
    return flight
  }

  /** The cached value without loading (undefined on a miss or expiry); counts nothing. */
  peek (token: string): V | undefined {
    const key = tokenHash(token)
    const e = this.#entries.get(key)
    return e !== undefined && this.#now() < e.until ? e.value : undefined
  }

  delete (token: string): boolean {
    return this.#entries.delete(tokenHash(token))
  }

  clear (): void {
    this.#entries.clear()
  }

  get size (): number {
    return this.#entries.size
  }

  /** The stored keys (token hashes), oldest first: for tests and diagnostics. */
  keys (): string[] {
    return [...this.#entries.keys()]
  }

  stats (): TokenCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      loads: this.#loads,
      coalesced: this.#coalesced,
      size: this.#entries.size,
      inflight: this.#inflight.size
    }
  }

  #lookup (key: string): V | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    if (this.#now() >= e.until) {
      this.#entries.delete(key)
      return undefined
    }
    // LRU: most recently used goes last.
    this.#entries.delete(key)
    this.#entries.set(key, e)
    return e.value
  }

  #store (key: string, value: V): void {
    const now = this.#now()
    const lifetime = Math.min(this.ttlMs, value.expiresAt - now)
    if (!(lifetime > 0)) return
    this.#entries.delete(key)
    this.#entries.set(key, { value, until: now + lifetime })
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string
      this.#entries.delete(oldest)
    }
  }
}
