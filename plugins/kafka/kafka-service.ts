/**
 * Process-wide Kafka access, and the one place that picks the adapter: the ports (driver.ts for the engines,
 * admin.ts for namespaces and credentials) implemented by the kafkajs folder. A second adapter would be a new
 * folder and a change here. Plain module: tests, scripts and benchmarks construct it directly.
 */
import type { Config } from '../config/config.js'
import type { KafkaAdmin, ScramUsers } from './admin.js'
import type { KafkaDriver, ProducerClient } from './driver.js'
import { toKafkaApiError } from './errors.js'
import { KafkajsClients } from './kafkajs/clients.js'
import { registerCodecs } from './kafkajs/codecs.js'
import { kafkajsDriver } from './kafkajs/driver.js'
import { KafkajsProducer } from './kafkajs/producer.js'
import { KafkajsScramUsers } from './kafkajs/scram.js'
import { createCachedTokenProvider, mskIamSigner } from './msk-iam.js'
import type { MinimalLogger, TokenProvider } from './options.js'
import { raceTimeout } from './waits.js'

export interface KafkaServiceOptions {
  logger?: MinimalLogger
  tokenProvider?: TokenProvider
}

export class KafkaService {
  readonly config: Config
  /** The adapter's client factory (benchmarks wrap its createClient to count requests). */
  readonly clients: KafkajsClients
  /** The Kafka driver port of the consumer engine, over these clients (kafkajs/driver.ts). */
  readonly driver: KafkaDriver

  constructor (config: Config, opts: KafkaServiceOptions = {}) {
    registerCodecs()
    this.config = config
    const clients = this.clients = new KafkajsClients(config, opts)
    this.driver = kafkajsDriver({
      createClient: (clientId) => clients.createClient(clientId),
      admin: () => clients.rawAdmin()
    })
  }

  /** Resolve the MSK IAM signer when configured (async import of the AWS SDK). */
  async init (): Promise<void> {
    if (!this.clients.hasTokenProvider && this.config.KAFKA_SASL_MECHANISM === 'AWS_MSK_IAM') {
      this.clients.useTokenProvider(createCachedTokenProvider(await mskIamSigner(this.config.AWS_ACCOUNT_REGION ?? '')))
    }
  }

  /**
   * The producer side of the port (kafkajs/producer.ts): one Kafka producer, connected at its first send. It
   * needs kafkajs/patches.ts in place, which the kafka plugin applies and asserts at start.
   */
  producerClient (clientId: string, log?: { warn (obj: object, msg: string): void }): ProducerClient {
    return new KafkajsProducer({
      createClient: (socketFactory) => this.clients.createClient(clientId, { socketFactory }),
      ...(log !== undefined ? { log } : {})
    })
  }

  /** SCRAM users over a connection of their own (kafkajs/scram.ts). */
  scramUsers (clientId: string): ScramUsers {
    return new KafkajsScramUsers(this.clients.createClient(clientId))
  }

  /**
   * The shared admin client, connected on first use; a failed connect is retried by the next caller and rejects
   * with the contract's error (503/50302 when no broker answers). Its calls fail with the port's KafkaError.
   */
  async admin (): Promise<KafkaAdmin> {
    try {
      return await this.clients.admin()
    } catch (err) {
      throw toKafkaApiError(err)
    }
  }

  /** Replace the shared admin client after it answered "unknown topic" (KafkajsClients.retire says why). */
  retireAdmin (admin: KafkaAdmin, force = false): boolean {
    return this.clients.retire(admin, force)
  }

  /** Is a broker answering? Bounded by `timeoutMs` whatever the client's retries do. */
  async ping (timeoutMs = 3000): Promise<boolean> {
    const probe = (async () => (await (await this.admin()).brokerCount()) > 0)().catch(() => false)
    return raceTimeout(probe, timeoutMs, () => false)
  }

  async close (): Promise<void> {
    await this.clients.close()
  }
}
