/**
 * The process's kafkajs clients: a new Kafka object per use (each consumer instance, the producer, the SCRAM
 * connection) and the shared admin client, connected on first use and replaced after it answered "unknown
 * topic" (retire). The admin client is handed out raw to this folder's driver and as the port's KafkaAdmin
 * (admin.ts) to everyone else; both views are of one connection.
 */
import { Kafka, type Admin, type KafkaConfig } from 'kafkajs'
import type { Config } from '../../config/config.js'
import type { KafkaAdmin } from '../admin.js'
import { KafkaError } from '../driver.js'
import type { MinimalLogger, TokenProvider } from '../options.js'
import { kafkajsAdmin } from './admin.js'
import { kafkaClientConfig } from './client-options.js'
import { kafkaErrorType, toKafkaError } from './errors.js'

/** Shortest time between two replacements of the shared admin client (retire). */
const ADMIN_RETIRE_INTERVAL_MS = 1000
/** Admin calls that only read: made once more on a new client after an "unknown topic" that retired the old one. */
const ADMIN_READS: ReadonlySet<string> = new Set([
  'listTopics', 'fetchTopicMetadata', 'fetchTopicOffsets', 'fetchTopicOffsetsByTimestamp', 'fetchOffsets', 'describeCluster',
  'describeGroups', 'describeConfigs'
])

/** One connected admin client in both views. */
interface Connected { raw: Admin, port: KafkaAdmin }

export interface KafkajsClientsOptions {
  logger?: MinimalLogger | undefined
  tokenProvider?: TokenProvider | undefined
}

export class KafkajsClients {
  readonly #config: Config
  readonly #logger: MinimalLogger | undefined
  #tokenProvider: TokenProvider | undefined
  #kafka: Kafka | undefined
  #ready: Promise<Connected> | undefined
  /** The connected shared admin client (retire compares against it). */
  #current: Connected | undefined
  #retired = new Set<Admin>()
  #retiredAt = 0
  #closed = false

  constructor (config: Config, opts: KafkajsClientsOptions = {}) {
    this.#config = config
    this.#logger = opts.logger
    this.#tokenProvider = opts.tokenProvider
  }

  /** The OAUTHBEARER token source of clients made from now on (MSK IAM's is resolved after construction). */
  useTokenProvider (provider: TokenProvider): void {
    this.#tokenProvider = provider
  }

  get hasTokenProvider (): boolean {
    return this.#tokenProvider !== undefined
  }

  /**
   * A new kafkajs client. Each consumer instance gets its own: kafkajs shares a committed-offsets cache per
   * Kafka object that one group member's join would wipe for another (kafka-notes §1.3). `overrides` replace
   * settings of the service's configuration (the producer brings its own socket factory).
   */
  createClient (clientId?: string, overrides: Partial<KafkaConfig> = {}): Kafka {
    const opts: Parameters<typeof kafkaClientConfig>[1] = {}
    if (clientId) opts.clientId = clientId
    if (this.#tokenProvider) opts.tokenProvider = this.#tokenProvider
    if (this.#logger) opts.logger = this.#logger
    return new Kafka({ ...kafkaClientConfig(this.#config, opts), ...overrides })
  }

  /** The shared admin client for this folder's driver; a failed connect rejects with a KafkaError. */
  async rawAdmin (): Promise<Admin> {
    return (await this.#connect()).raw
  }

  /** The shared admin client as the port's KafkaAdmin: the same object until the client is retired. */
  async admin (): Promise<KafkaAdmin> {
    return (await this.#connect()).port
  }

  /**
   * Replace the shared admin client (the next call connects a new one) once it answered "unknown topic".
   * kafkajs keeps every topic a client ever asked about and names them all in each metadata refresh; a topic
   * deleted by another process (another node, the existing service) is forgotten only by the client that
   * deleted it, so every later call of this one would fail the same way. `admin` is the client that failed: a
   * caller that comes late does not retire the replacement. Unless `force` (a caller for which "unknown topic"
   * cannot be the user's mistake), at most once every ADMIN_RETIRE_INTERVAL_MS.
   */
  retire (admin: KafkaAdmin | Admin, force = false): boolean {
    const current = this.#current
    // Already replaced (by a caller that failed at the same time): the new client is the one to try.
    if (current === undefined || (current.port !== admin && current.raw !== admin)) return true
    const now = Date.now()
    if (!force && now - this.#retiredAt < ADMIN_RETIRE_INTERVAL_MS) return false
    this.#retiredAt = now
    this.#ready = undefined
    this.#current = undefined
    // In-flight calls of the old client finish first; it is dropped after a grace period (or on close).
    const old = current.raw
    this.#retired.add(old)
    setTimeout(() => { this.#retired.delete(old); old.disconnect().catch(() => {}) }, 30_000).unref()
    return true
  }

  async close (): Promise<void> {
    this.#closed = true
    const ready = this.#ready
    this.#ready = undefined
    if (ready) await ready.then(a => a.raw.disconnect(), () => {})
    await Promise.all([...this.#retired].map(a => a.disconnect().catch(() => {})))
    this.#retired.clear()
  }

  #connect (): Promise<Connected> {
    if (this.#closed) return Promise.reject(new KafkaError('Kafka service is closed'))
    if (!this.#ready) {
      this.#kafka ??= this.createClient(`${this.#config.KAFKA_CLIENT_ID}-admin`)
      const raw = this.#selfRetiring(this.#kafka.admin())
      const connected: Connected = { raw, port: kafkajsAdmin(raw) }
      this.#ready = raw.connect().then(() => { this.#current = connected; return connected }, async (err: unknown) => {
        this.#ready = undefined
        await raw.disconnect().catch(() => {})
        throw toKafkaError(err)
      })
    }
    return this.#ready
  }

  /**
   * The admin client, retired by an "unknown topic" answer (retire), at most once every
   * ADMIN_RETIRE_INTERVAL_MS (a user asking for a topic that does not exist costs no new connection each time).
   * Calls that only read are then made once more on the new client; the others pass the error on (their
   * callers know whether a second run is safe: namespace-service.ts).
   */
  #selfRetiring (admin: Admin): Admin {
    const wrapped: Admin = new Proxy(admin, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown
        if (typeof value !== 'function' || prop === 'connect' || prop === 'disconnect' || prop === 'on' || prop === 'logger') return value
        const call = (...args: unknown[]): unknown => (value as (...a: unknown[]) => unknown).apply(target, args)
        if (typeof prop === 'string' && ADMIN_READS.has(prop)) {
          return async (...args: unknown[]) => {
            try {
              return await call(...args)
            } catch (err) {
              if (kafkaErrorType(err) !== 'UNKNOWN_TOPIC_OR_PARTITION' || !this.retire(wrapped)) throw err
              const fresh = await this.rawAdmin() as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
              return await fresh[prop]?.(...args)
            }
          }
        }
        return (...args: unknown[]) => {
          const out = call(...args)
          if (out instanceof Promise) {
            out.catch((err: unknown) => { if (kafkaErrorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION') this.retire(wrapped) })
          }
          return out
        }
      }
    })
    return wrapped
  }
}
