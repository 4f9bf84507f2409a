/**
 * All consumer instances of this process, keyed by (namespace, group, name) and bound to the subject that
 * created them. Enforces the per-subject quota, expires idle instances (a running long poll counts as
 * activity) and remembers recent expiries briefly so a 404 can say "expired". Plain module.
 */
import { randomUUID } from 'node:crypto'
import { Errors } from '../errors/errors.js'
import { ConsumerInstance, type InstanceDeps, type InstanceOptions } from './instance.js'
import { BufferPool } from './buffer-pool.js'
import { raceTimeout } from '../kafka/waits.js'
import { compositeKey } from './keys.js'

export interface RegistryOptions {
  instanceTimeoutMs: number
  maxPerSubject: number
  /** Longest closeAll() waits for the instances to leave their groups (default 4000 ms). */
  closeTimeoutMs?: number
  /** How long an expired id is remembered (bounded by maxExpiredMemory entries). */
  expiredMemoryMs?: number
  maxExpiredMemory?: number
  /** The id of a new instance from the requested name, if any (several nodes: a generated one names the node). */
  instanceName?: (requested?: string) => string
  /** Several nodes: names unique across the nodes (the cluster plugin's claims.ts). */
  claims?: RegistryClaims
}

/** Where a new instance's name is reserved and a removed one's released (several nodes: claims across nodes). */
export interface RegistryClaims {
  /** 409/40902 when the name is taken elsewhere. `generated`: a name this node made up (no store call). */
  claim (ref: { namespace: string, group: string, name: string }, generated: boolean, ctx?: ClaimRequest): Promise<void>
  release (ref: { namespace: string, group: string, name: string }): void
}

/** The create request, for claims that ask another node about the name (opaque to the registry). */
export interface ClaimRequest { url: string, authorization?: string | undefined }

export interface RegistryStats { instances: number, created: number, deleted: number, expired: number }

function key (ns: string, group: string, name: string): string {
  return compositeKey(ns, group, name)
}

export class ConsumerRegistry {
  #instances = new Map<string, ConsumerInstance>()
  #perSubject = new Map<string, number>()
  #expired = new Map<string, { subject: string, at: number }>()
  #sweep: NodeJS.Timeout
  #closing = false
  readonly stats: RegistryStats = { instances: 0, created: 0, deleted: 0, expired: 0 }
  /** Output buffers of GET records answers, shared by every instance (buffer-pool.ts). */
  readonly answers = new BufferPool()

  constructor (private readonly deps: InstanceDeps, private readonly opts: RegistryOptions) {
    const every = Math.max(100, Math.min(1000, Math.floor(opts.instanceTimeoutMs / 4)))
    this.#sweep = setInterval(() => this.expireIdle(), every).unref()
  }

  /**
   * Create an instance, its name first reserved through the claims hook (several nodes); without one, as
   * create(). The checks run before the reservation (no store call for a refusal) and again after it.
   */
  async open (opts: Omit<InstanceOptions, 'name'> & { name?: string }, ctx?: ClaimRequest): Promise<ConsumerInstance> {
    const claims = this.opts.claims
    if (claims === undefined) return this.create(opts)
    if (this.#closing) throw Errors.brokerUnavailable('the service is shutting down')
    const name = this.opts.instanceName ? this.opts.instanceName(opts.name) : (opts.name ?? `rest-consumer-${randomUUID()}`)
    const ref = { namespace: opts.namespace, group: opts.group, name }
    if (this.#instances.has(key(ref.namespace, ref.group, name))) throw Errors.instanceExists()
    if ((this.#perSubject.get(opts.subject) ?? 0) >= this.opts.maxPerSubject) {
      throw Errors.quotaExceeded(this.opts.maxPerSubject)
    }
    await claims.claim(ref, opts.name === undefined, ctx)
    try {
      return this.#add({ ...opts, name })
    } catch (err) {
      claims.release(ref)
      throw err
    }
  }

  create (opts: Omit<InstanceOptions, 'name'> & { name?: string }): ConsumerInstance {
    const name = this.opts.instanceName ? this.opts.instanceName(opts.name) : (opts.name ?? `rest-consumer-${randomUUID()}`)
    return this.#add({ ...opts, name })
  }

  #add (opts: InstanceOptions): ConsumerInstance {
    if (this.#closing) throw Errors.brokerUnavailable('the service is shutting down')
    const k = key(opts.namespace, opts.group, opts.name)
    if (this.#instances.has(k)) throw Errors.instanceExists()
    const count = this.#perSubject.get(opts.subject) ?? 0
    if (count >= this.opts.maxPerSubject) throw Errors.quotaExceeded(this.opts.maxPerSubject)
    const inst = new ConsumerInstance(opts, this.deps)
    this.#instances.set(k, inst)
    this.#expired.delete(k)
    this.#perSubject.set(opts.subject, count + 1)
    this.stats.created++
    this.stats.instances = this.#instances.size
    return inst
  }

  /** Look up and renew; unknown, foreign and expired instances are all 40403. */
  get (subject: string, ns: string, group: string, name: string): ConsumerInstance {
    const k = key(ns, group, name)
    const inst = this.#instances.get(k)
    if (!inst || inst.opts.subject !== subject) {
      const gone = this.#expired.get(k)
      throw Errors.instanceNotFound(gone !== undefined && gone.subject === subject)
    }
    inst.lastActive = Date.now()
    return inst
  }

  async delete (subject: string, ns: string, group: string, name: string): Promise<void> {
    const inst = this.get(subject, ns, group, name)
    this.#remove(inst)
    this.stats.deleted++
    await inst.close()
  }

  #remove (inst: ConsumerInstance): void {
    const k = key(inst.opts.namespace, inst.opts.group, inst.opts.name)
    if (this.#instances.get(k) !== inst) return
    this.#instances.delete(k)
    this.opts.claims?.release({ namespace: inst.opts.namespace, group: inst.opts.group, name: inst.opts.name })
    const n = (this.#perSubject.get(inst.opts.subject) ?? 1) - 1
    if (n <= 0) this.#perSubject.delete(inst.opts.subject)
    else this.#perSubject.set(inst.opts.subject, n)
    this.stats.instances = this.#instances.size
  }

  /**
   * Close every instance of a namespace that is gone (released, or a deleted user's default one). Names are
   * global: another user may claim it next, and an instance left behind would join that owner's groups, take
   * partitions from them and fetch their records, and its name would answer 409 to theirs. The instances leave
   * the registry at once (counted as deleted: their owner let the namespace go); the wait for them to leave
   * their groups is bounded by `timeoutMs`.
   */
  async closeNamespace (namespace: string, timeoutMs = 5000): Promise<void> {
    const gone = [...this.#instances.values()].filter(inst => inst.opts.namespace === namespace)
    for (const inst of gone) {
      this.#remove(inst)
      this.stats.deleted++
    }
    await closeWithin(gone, timeoutMs)
  }

  /** Remove instances idle for longer than the timeout and close them (leaving their groups). */
  expireIdle (now = Date.now()): number {
    let n = 0
    for (const inst of this.#instances.values()) {
      if (inst.activeReads > 0) { inst.lastActive = now; continue }
      if (now - inst.lastActive < this.opts.instanceTimeoutMs) continue
      this.#remove(inst)
      const k = key(inst.opts.namespace, inst.opts.group, inst.opts.name)
      this.#expired.set(k, { subject: inst.opts.subject, at: now })
      this.stats.expired++
      n++
      inst.close().catch(() => {})
    }
    const keep = this.opts.expiredMemoryMs ?? 3_600_000
    const max = this.opts.maxExpiredMemory ?? 10_000
    for (const [k, v] of this.#expired) {
      if (now - v.at > keep || this.#expired.size > max) this.#expired.delete(k)
      else break // insertion order = age order
    }
    return n
  }

  /**
   * Shutdown, first step: no new instances, and every waiting long poll returns what it holds now, so the
   * HTTP server's in-flight requests end quickly. closeAll() then makes the instances leave their groups.
   */
  drain (): void {
    this.#closing = true
    for (const inst of this.#instances.values()) inst.drain()
  }

  countFor (subject: string): number { return this.#perSubject.get(subject) ?? 0 }
  get size (): number { return this.#instances.size }
  all (): IterableIterator<ConsumerInstance> { return this.#instances.values() }

  /**
   * Close every instance (each leaves its group). Bounded: after `timeoutMs` it returns even if some are still
   * closing (a broker that does not answer must not hold up the process's exit); those finish in the background.
   */
  async closeAll (timeoutMs = this.opts.closeTimeoutMs ?? 4000): Promise<void> {
    this.#closing = true
    clearInterval(this.#sweep)
    const all = [...this.#instances.values()]
    this.#instances.clear()
    for (const inst of all) {
      this.opts.claims?.release({ namespace: inst.opts.namespace, group: inst.opts.group, name: inst.opts.name })
    }
    this.#perSubject.clear()
    this.stats.instances = 0
    for (const inst of all) inst.drain()
    await closeWithin(all, timeoutMs)
  }
}

/** Close instances, waiting at most `ms` (a broker that does not answer must not hold up the caller). */
async function closeWithin (instances: readonly ConsumerInstance[], ms: number): Promise<void> {
  if (instances.length === 0) return
  await raceTimeout(Promise.allSettled(instances.map(i => i.close())), ms, () => undefined)
}
