/**
 * Process-wide Kafka access: builds per-use kafkajs clients and owns the shared admin client.
 * Plain module: tests, scripts and benchmarks construct it directly.
 */
import { Kafka, type Admin, type KafkaConfig } from 'kafkajs'
import type { Config } from '../config/config.js'
import { kafkaClientConfig, type MinimalLogger, type TokenProvider } from './client-options.js'
import { registerCodecs } from './kafkajs/codecs.js'
import { createCachedTokenProvider, mskIamSigner } from './msk-iam.js'
import { kafkaErrorType, toKafkaApiError } from './errors.js'
import { toKafkaError } from './kafkajs/errors.js'
import { raceTimeout } from './waits.js'
import type { KafkaDriver, ProducerClient } from './driver.js'
import { kafkajsDriver } from './kafkajs/driver.js'
import { KafkajsProducer } from './kafkajs/producer.js'

/** Shortest time between two replacements of the shared admin client (retireAdmin). */
const ADMIN_RETIRE_INTERVAL_MS = 1000
/** Admin calls that only read: made once more on a new client after an "unknown topic" that retired the old one. */
const ADMIN_READS: ReadonlySet<string> = new Set([
  'listTopics', 'fetchTopicMetadata', 'fetchTopicOffsets', 'fetchTopicOffsetsByTimestamp', 'fetchOffsets', 'describeCluster', 'describeGroups', 'describeConfigs'
])

export interface KafkaServiceOptions {
  logger?: MinimalLogger
  tokenProvider?: TokenProvider
}

export class KafkaService {
  readonly config: Config
  #tokenProvider: TokenProvider | undefined
  #logger: MinimalLogger | undefined
  #kafka: Kafka | undefined
  #adminReady: Promise<Admin> | undefined
  #retiredAt = 0
  /** The connected shared admin client (retireAdmin compares against it). */
  #current: Admin | undefined
  #retired = new Set<Admin>()
  #closed = false
  /** The Kafka driver port of the consumer engine, over these clients (kafkajs/driver.ts). */
  readonly driver: KafkaDriver = kafkajsDriver({
    createClient: (clientId) => this.createClient(clientId), admin: () => this.connectedAdmin()
  })

  /**
   * The producer side of the port (kafkajs/producer.ts): one Kafka producer, connected at its first send. It
   * needs kafkajs/patches.ts in place, which the kafka plugin applies and asserts at start.
   */
  producerClient (clientId: string, log?: { warn (obj: object, msg: string): void }): ProducerClient {
    return new KafkajsProducer({
      createClient: (socketFactory) => this.createClient(clientId, { socketFactory }),
      ...(log !== undefined ? { log } : {})
    })
  }

  constructor (config: Config, opts: KafkaServiceOptions = {}) {
    registerCodecs()
    this.config = config
    this.#tokenProvider = opts.tokenProvider
    this.#logger = opts.logger
  }

  /** Resolve the MSK IAM signer when configured (async import of the AWS SDK). */
  async init (): Promise<void> {
    if (!this.#tokenProvider && this.config.KAFKA_SASL_MECHANISM === 'AWS_MSK_IAM') {
      this.#tokenProvider = createCachedTokenProvider(await mskIamSigner(this.config.AWS_ACCOUNT_REGION ?? ''))
    }
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
    return new Kafka({ ...kafkaClientConfig(this.config, opts), ...overrides })
  }

  /**
   * The shared admin client, connected on first use; a failed connect is retried by the next caller and rejects
   * with the contract's error (503/50302 when no broker answers), like the calls made with the client.
   */
  async admin (): Promise<Admin> {
    try {
      return await this.connectedAdmin()
    } catch (err) {
      throw toKafkaApiError(err)
    }
  }

  /** admin(), failing with the Kafka driver port's KafkaError instead (the consumer engine's look-ups). */
  async connectedAdmin (): Promise<Admin> {
    if (this.#closed) throw new Error('Kafka service is closed')
    if (!this.#adminReady) {
      this.#kafka ??= this.createClient(`${this.config.KAFKA_CLIENT_ID}-admin`)
      const admin = this.#selfRetiring(this.#kafka.admin())
      this.#adminReady = admin.connect().then(() => { this.#current = admin; return admin }, async (err: unknown) => {
        this.#adminReady = undefined
        await admin.disconnect().catch(() => {})
        throw toKafkaError(err)
      })
    }
    return this.#adminReady
  }

  /**
   * The admin client, retired by an "unknown topic" answer (retireAdmin), at most once every
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
              if (kafkaErrorType(err) !== 'UNKNOWN_TOPIC_OR_PARTITION' || !this.retireAdmin(wrapped)) throw err
              const fresh = await this.connectedAdmin() as unknown as
                Record<string, (...a: unknown[]) => Promise<unknown>>
              return await fresh[prop]?.(...args)
            }
          }
        }
        return (...args: unknown[]) => {
          const out = call(...args)
          if (out instanceof Promise) {
            out.catch((err: unknown) => { if (kafkaErrorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION') this.retireAdmin(wrapped) })
          }
          return out
        }
      }
    })
    return wrapped
  }

  /**
   * Replace the shared admin client (the next admin() call connects a new one) once it answered "unknown
   * topic". kafkajs keeps every topic a client ever asked about and names them all in each metadata refresh;
   * a topic deleted by another process (another node, the existing service) is forgotten only by the client
   * that deleted it, so every later call of this one would fail the same way. `admin` is the client that
   * failed: a caller that comes late does not retire the replacement. Unless `force` (a caller for which
   * "unknown topic" cannot be the user's mistake), at most once every ADMIN_RETIRE_INTERVAL_MS.
   */
  retireAdmin (admin: Admin, force = false): boolean {
    // Already replaced (by a caller that failed at the same time): the new client is the one to try.
    if (this.#current !== admin) return true
    const now = Date.now()
    if (!force && now - this.#retiredAt < ADMIN_RETIRE_INTERVAL_MS) return false
    this.#retiredAt = now
    this.#adminReady = undefined
    this.#current = undefined
    // In-flight calls of the old client finish first; it is dropped after a grace period (or on close).
    this.#retired.add(admin)
    setTimeout(() => { this.#retired.delete(admin); admin.disconnect().catch(() => {}) }, 30_000).unref()
    return true
  }

  /** Is a broker answering? Bounded by `timeoutMs` whatever kafkajs' retries do. */
  async ping (timeoutMs = 3000): Promise<boolean> {
    const probe = (async () => {
      const admin = await this.admin()
      const cluster = await admin.describeCluster()
      return cluster.brokers.length > 0
    })().catch(() => false)
    return raceTimeout(probe, timeoutMs, () => false)
  }

  async brokerCount (): Promise<number> {
    const admin = await this.admin()
    return (await admin.describeCluster()).brokers.length
  }

  async close (): Promise<void> {
    this.#closed = true
    const ready = this.#adminReady
    this.#adminReady = undefined
    if (ready) await ready.then(a => a.disconnect(), () => {})
    await Promise.all([...this.#retired].map(a => a.disconnect().catch(() => {})))
    this.#retired.clear()
  }
}
