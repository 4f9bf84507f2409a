/**
 * Token → Principal, for both auth modes. Plain module: the Fastify plugin (index.ts) only wires these to
 * the request. GlobusVerifier = TokenCache (hash-keyed LRU + TTL, single flight) in front of
 * introspection + verifyIntrospection; DevVerifier accepts the one token minted (or configured) at start.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { AuthErrors } from './errors.js'
import type { AuthLogger, Introspector } from './introspection.js'
import { TokenCache, tokenHash } from './token-cache.js'
import { assertNotExpired, verifyIntrospection, type Principal, type VerifyPolicy } from './verifier.js'

export interface AuthStats {
  /** Requests answered from the cache. */
  hits: number
  /** Requests not in the cache (each either started an introspection or joined one in flight). */
  misses: number
  /** Introspection calls made. */
  introspections: number
  /** Misses that joined an introspection already in flight. */
  coalesced: number
  /** Cached tokens. */
  size: number
  /** Introspections in flight. */
  inflight: number
}

export interface TokenVerifier {
  readonly mode: 'globus' | 'dev'
  /** The principal of a (syntactically valid) bearer token, or an ApiError per §6. */
  verifyToken (token: string): Promise<Principal>
  stats (): AuthStats
  /** Number of cached tokens. */
  readonly size: number
  /** Forget every cached token (e.g. after a revocation incident). */
  clear (): void
  close (): void
}

export interface GlobusVerifierOptions {
  introspect: Introspector
  policy: VerifyPolicy
  ttlMs: number
  maxEntries: number
  now?: () => number
  logger?: AuthLogger
  onClose?: () => void
}

/** Short, non-reversible handle for a token in logs. */
export const tokenRef = (token: string): string => tokenHash(token).slice(0, 12)

export class GlobusVerifier implements TokenVerifier {
  readonly mode = 'globus' as const
  readonly #cache: TokenCache<Principal>
  readonly #introspect: Introspector
  readonly #policy: VerifyPolicy
  readonly #now: () => number
  readonly #logger: AuthLogger | undefined
  readonly #onClose: (() => void) | undefined
  #introspections = 0

  constructor (opts: GlobusVerifierOptions) {
    this.#now = opts.now ?? Date.now
    this.#cache = new TokenCache<Principal>({ ttlMs: opts.ttlMs, maxEntries: opts.maxEntries, now: this.#now })
    this.#introspect = opts.introspect
    this.#policy = opts.policy
    this.#logger = opts.logger
    this.#onClose = opts.onClose
  }

  async verifyToken (token: string): Promise<Principal> {
    const found = this.#cache.resolve(token, this.#loader)
    const principal = found instanceof Promise ? await found : found
    // Re-check exp on every answer, cached or fresh (§3). The cache never keeps an entry past exp, so this
    // only bites on a clock jump; drop the entry when it does.
    try {
      assertNotExpired(principal, this.#now())
    } catch (err) {
      this.#cache.delete(token)
      throw err
    }
    return principal
  }

  /** Bound once: a cache hit allocates no closure. */
  readonly #loader = (token: string): Promise<Principal> => this.#load(token)

  async #load (token: string): Promise<Principal> {
    this.#introspections++
    try {
      const doc = await this.#introspect(token)
      return verifyIntrospection(doc, this.#policy, this.#now())
    } catch (err) {
      const code = (err as { code?: unknown }).code
      this.#logger?.debug({ token: tokenRef(token), code }, 'token rejected')
      throw err
    }
  }

  stats (): AuthStats {
    const s = this.#cache.stats()
    return {
      hits: s.hits,
      misses: s.misses,
      introspections: this.#introspections,
      coalesced: s.coalesced,
      size: s.size,
      inflight: s.inflight
    }
  }

  get size (): number {
    return this.#cache.size
  }

  clear (): void {
    this.#cache.clear()
  }

  close (): void {
    this.#cache.clear()
    this.#onClose?.()
  }
}

/** A random dev token: 43 base64url characters (256 bits), which the header pre-check accepts. */
export function mintDevToken (): string {
  return randomBytes(32).toString('base64url')
}

/** The ready-to-paste line printed at start in dev mode. */
export function devCurlLine (token: string, port: number): string {
  return `curl -H "Authorization: Bearer ${token}" http://127.0.0.1:${port}/api/v3/namespace`
}

/** AUTH_MODE=dev: exactly one token is accepted, for a fixed subject; nothing is called over the network. */
export class DevVerifier implements TokenVerifier {
  readonly mode = 'dev' as const
  readonly #digest: Buffer
  readonly #principal: Principal
  #hits = 0
  #misses = 0

  constructor (token: string, subject: string) {
    this.#digest = Buffer.from(tokenHash(token), 'hex')
    // The dev token never expires (largest valid Date).
    this.#principal = Object.freeze({ subject: subject.toLowerCase(), expiresAt: 8.64e15 })
  }

  async verifyToken (token: string): Promise<Principal> {
    // Compare digests in constant time (equal lengths whatever the token's length).
    if (!timingSafeEqual(Buffer.from(tokenHash(token), 'hex'), this.#digest)) {
      this.#misses++
      throw AuthErrors.inactive()
    }
    this.#hits++
    return { ...this.#principal }
  }

  stats (): AuthStats {
    return { hits: this.#hits, misses: this.#misses, introspections: 0, coalesced: 0, size: 0, inflight: 0 }
  }

  readonly size = 0
  clear (): void {}
  close (): void {}
}
