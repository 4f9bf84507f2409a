/**
 * Process-wide Kafka access: builds per-use kafkajs clients and owns the shared admin client.
 * Plain module: tests, scripts and benchmarks construct it directly.
 */
import { Kafka, type Admin, type KafkaConfig } from 'kafkajs'
import type { Config } from '../config/config.js'
import { kafkaClientConfig, type MinimalLogger, type TokenProvider } from './client-options.js'
import { registerCodecs } from './codecs.js'
import { createCachedTokenProvider, mskIamSigner } from './msk-iam.js'
import { toKafkaApiError } from './errors.js'

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
  #closed = false

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
    if (this.#closed) throw new Error('Kafka service is closed')
    if (!this.#adminReady) {
      this.#kafka ??= this.createClient(`${this.config.KAFKA_CLIENT_ID}-admin`)
      const admin = this.#kafka.admin()
      this.#adminReady = admin.connect().then(() => admin, async (err: unknown) => {
        this.#adminReady = undefined
        await admin.disconnect().catch(() => {})
        throw toKafkaApiError(err)
      })
    }
    return this.#adminReady
  }

  /** Is a broker answering? Bounded by `timeoutMs` whatever kafkajs' retries do. */
  async ping (timeoutMs = 3000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), timeoutMs) })
    const probe = (async () => {
      const admin = await this.admin()
      const cluster = await admin.describeCluster()
      return cluster.brokers.length > 0
    })().catch(() => false)
    try {
      return await Promise.race([probe, timeout])
    } finally {
      clearTimeout(timer)
    }
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
  }
}
