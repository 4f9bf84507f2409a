/**
 * Consumer instance names unique per group across all nodes (as Confluent's: the id is the name asked for).
 * An explicitly named instance is claimed in the claim store (claim-table.ts) before it is created: a
 * conditional put. A claim already there blocks the name (409/40902) unless it can be taken over: it is this
 * process's own leftover, its node is gone from the node directory (or restarted: another incarnation), or its
 * live node answers that it no longer holds the instance. The takeover is conditional on the old holder, so
 * of two nodes racing for one stale claim one wins. Generated names (`{node}..{random}`) are claimed nowhere:
 * they cost no store call, and their prefix routes them.
 *
 * Routing a request for an instance this node does not hold: a cached holder, else the id's node prefix (a
 * generated id), else the claim (a strongly consistent read; positive answers cached). A cached or prefixed
 * node that turns out not to hold it re-reads the claim and passes the request on once (index.ts), and the
 * answer's node corrects the cache. Plain module.
 */
import { ApiError, Errors } from '../errors/errors.js'
import type { Claim, ClaimStore, Holder } from './claim-table.js'
import { ownerOf } from './instance-id.js'

export interface InstanceRef { namespace: string, group: string, name: string }

/** The claim store's key of an instance (none of the three parts holds a `/`). */
export function claimKey (ref: InstanceRef): string {
  return `${ref.namespace}/${ref.group}/${ref.name}`
}

/** What a live node says when asked whether it holds an instance (probe.ts). */
export type ProbeResult = 'held' | 'free' | 'unreachable' | 'unknown'

/** The request that creates an instance, as a probe repeats it for another node (opaque here). */
export interface ClaimContext { url: string, authorization?: string | undefined }

export interface LiveNodes {
  /** The URL of a live node (registered, heartbeat within NODE_EXPIRY_MS), else undefined. */
  url (node: string): Promise<string | undefined>
  /** The incarnation a live node registered with, when known. */
  incarnation (node: string): string | undefined
}

export interface ClaimsOptions {
  self: Holder
  store: ClaimStore
  nodes: LiveNodes
  /** Ask `node` whether it holds the instance `ref` (a signed GET of its subscription with the creator's token). */
  probe: (node: string, ref: InstanceRef, ctx: ClaimContext | undefined) => Promise<ProbeResult>
  log: { warn (obj: object, msg: string): void }
  /** Most cached routes (oldest dropped first). */
  cacheSize?: number
  now?: () => number
}

type LocalState = 'pending' | 'generated' | 'claimed'

const TAKE_ATTEMPTS = 3

export class InstanceClaims {
  /** Instances of this node (and names being claimed): routing serves these here, with no store call. */
  readonly #local = new Map<string, LocalState>()
  /** Instance name → how many of `#local`'s keys end in it (a name alone says "maybe here", before auth). */
  readonly #names = new Map<string, number>()
  /** key → the node that held it at the last lookup. */
  readonly #routes = new Map<string, string>()
  #closed = false
  readonly stats = { claims: 0, takeovers: 0, lookups: 0, releases: 0, probes: 0 }

  constructor (private readonly opts: ClaimsOptions) {}

  /**
   * Might this node hold an instance of this name, in some namespace and group? (The forwarding hook asks it
   * before authentication, when the caller's default namespace, part of a v2 instance's key, is not known yet.)
   */
  holdsName (name: string): boolean { return this.#names.has(name) }

  #set (key: string, name: string, state: LocalState): void {
    if (!this.#local.has(key)) this.#names.set(name, (this.#names.get(name) ?? 0) + 1)
    this.#local.set(key, state)
  }

  #delete (key: string, name: string): void {
    if (!this.#local.delete(key)) return
    const n = (this.#names.get(name) ?? 0) - 1
    if (n > 0) this.#names.set(name, n)
    else this.#names.delete(name)
  }

  /** Does this node hold the instance (created, not yet removed)? */
  holds (key: string): boolean {
    const s = this.#local.get(key)
    return s === 'generated' || s === 'claimed'
  }

  /**
   * Reserve a new instance's name before it is created: a generated one locally, an explicit one in the claim
   * store. 409/40902 when the name is taken (here or by a live node that holds it).
   */
  async claim (ref: InstanceRef, generated: boolean, ctx?: ClaimContext): Promise<void> {
    const key = claimKey(ref)
    if (this.#local.has(key)) throw Errors.instanceExists()
    if (generated) {
      this.#set(key, ref.name, 'generated')
      return
    }
    if (this.#closed) throw Errors.brokerUnavailable('the service is shutting down')
    this.#set(key, ref.name, 'pending')
    try {
      await this.#take(key, ref, ctx)
      this.#set(key, ref.name, 'claimed')
      this.#routes.delete(key)
      this.stats.claims++
    } catch (err) {
      this.#delete(key, ref.name)
      if (ApiError.is(err)) throw err
      this.opts.log.warn({ err: describe(err), key }, 'claiming an instance name failed')
      throw new ApiError(503, 503, 'The metadata store is unavailable; retry later', { code: 'METADATA_STORE_UNAVAILABLE' })
    }
  }

  async #take (key: string, ref: InstanceRef, ctx: ClaimContext | undefined): Promise<void> {
    const { self, store, nodes } = this.opts
    // A name in another node's id form may be that node's generated instance, which has no claim: ask it.
    const prefix = ownerOf(ref.name)
    if (prefix !== undefined && prefix !== self.node && await nodes.url(prefix) !== undefined) {
      if (await this.#probe(prefix, ref, ctx) === 'held') throw Errors.instanceExists()
    }
    const mine: Claim = { key, ...self, at: (this.opts.now ?? Date.now)() }
    if (await store.put(mine)) return
    for (let i = 0; i < TAKE_ATTEMPTS; i++) {
      const old = await store.get(key)
      if (old === undefined) {
        if (await store.put(mine)) return
        continue
      }
      if (!await this.#takeable(old, ref, ctx)) throw Errors.instanceExists()
      if (await store.put(mine, old)) {
        this.stats.takeovers++
        return
      }
    }
    // Others keep claiming it in between: one of them holds it now.
    throw Errors.instanceExists()
  }

  /** May a claim be taken over: this process's leftover, its node gone or restarted, or the instance gone from it? */
  async #takeable (old: Holder, ref: InstanceRef, ctx: ClaimContext | undefined): Promise<boolean> {
    const { self } = this.opts
    if (old.node === self.node) {
      // Ours (this process: `#local` says the instance is not here any more), or our node id's previous process.
      return true
    }
    if (!await this.#live(old)) return true
    const answer = await this.#probe(old.node, ref, ctx)
    if (answer === 'unknown') {
      throw new ApiError(503, 503, 'The node that holds this consumer instance name did not answer; try again.', { code: 'NODE_UNAVAILABLE' })
    }
    return answer !== 'held'
  }

  async #probe (node: string, ref: InstanceRef, ctx: ClaimContext | undefined): Promise<ProbeResult> {
    this.stats.probes++
    return this.opts.probe(node, ref, ctx)
  }

  /** Is the holder's node live, as the same process (a restarted node holds none of its old instances)? */
  async #live (holder: Holder): Promise<boolean> {
    if (await this.opts.nodes.url(holder.node) === undefined) return false
    const current = this.opts.nodes.incarnation(holder.node)
    return current === undefined || current === holder.incarnation
  }

  /**
   * The instance left this node (deleted, expired, closed): forget it, and release its claim if this process
   * still holds it (a conditional delete, in the background: a release that fails leaves a claim that the next
   * creator takes over, this node answering that it no longer holds the instance).
   */
  release (ref: InstanceRef): void {
    const key = claimKey(ref)
    const state = this.#local.get(key)
    if (state === 'pending') return
    this.#delete(key, ref.name)
    if (state !== 'claimed' || this.#closed) return
    this.stats.releases++
    this.opts.store.release(key, this.opts.self).catch(err => this.opts.log.warn({ err: describe(err), key }, 'releasing an instance name claim failed; the next creator takes it over'))
  }

  /**
   * Shutdown (after leaving the node directory): release every claim of this process, bounded by `timeoutMs`,
   * so the names are free at once (a claim left behind is takeable anyway: its node is gone). Later releases
   * only forget locally.
   */
  async releaseAll (timeoutMs = 2000): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const keys = [...this.#local].filter(([, s]) => s === 'claimed').map(([k]) => k)
    if (keys.length === 0) return
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>(resolve => { timer = setTimeout(resolve, timeoutMs) })
    try {
      await Promise.race([Promise.allSettled(keys.map(k => this.opts.store.release(k, this.opts.self))), bound])
      this.stats.releases += keys.length
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Where a request for an instance not held here goes: a node id, or undefined (answer here: 40403).
   * `from`: the node that forwarded it (never sent back). A forwarded request, or a retry, reads the claim
   * afresh (`fresh`); a direct one tries the cache, then the id's prefix (no store call), then the claim.
   */
  async route (
    ref: InstanceRef, opts: { fresh?: boolean, exclude?: readonly string[] } = {}
  ): Promise<string | undefined> {
    const key = claimKey(ref)
    const { self, nodes } = this.opts
    const exclude = new Set([self.node, ...(opts.exclude ?? [])])
    if (opts.fresh !== true) {
      const cached = this.#routes.get(key)
      if (cached !== undefined && !exclude.has(cached) && await nodes.url(cached) !== undefined) return cached
      const prefix = ownerOf(ref.name)
      if (prefix !== undefined && !exclude.has(prefix) && await nodes.url(prefix) !== undefined) return prefix
    }
    this.#routes.delete(key)
    this.stats.lookups++
    const claim = await this.opts.store.get(key)
    if (claim === undefined || exclude.has(claim.node) || !await this.#live(claim)) return undefined
    this.remember(key, claim.node)
    return claim.node
  }

  /** A forwarded answer came from `node` (it holds the instance now): route there next time. */
  remember (key: string, node: string): void {
    this.#routes.delete(key)
    this.#routes.set(key, node)
    const max = this.opts.cacheSize ?? 10_000
    if (this.#routes.size > max) {
      const oldest = this.#routes.keys().next()
      if (oldest.done !== true) this.#routes.delete(oldest.value)
    }
  }

  /** The cached route turned out wrong (the instance is not there). */
  forget (key: string): void { this.#routes.delete(key) }

  get cached (): number { return this.#routes.size }
}

function describe (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message.slice(0, 300)}` : String(err)
}
