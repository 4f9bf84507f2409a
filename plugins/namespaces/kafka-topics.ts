/**
 * Kafka's side of the topic lifecycle, for the namespace service (which holds the locks and keeps the metadata
 * in step): a create whose outcome is unknown is settled by asking Kafka, a delete returns once Kafka no longer
 * lists the topic, a create right after a delete waits out Kafka's "already exists", and every failure comes
 * out as the contract's error. Calls go through the admin side of the Kafka port (plugins/kafka/admin.ts).
 * Plain module: no Fastify, no kafkajs.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { KafkaAdmin, NewTopic } from '../kafka/admin.js'
import { kafkaErrorKind, toKafkaApiError } from '../kafka/errors.js'
import { ApiError, Errors } from '../errors/errors.js'
import { metricName } from './names.js'
import type { TopicSettings } from './store.js'

/** What the service needs from plugins/kafka (KafkaService satisfies it): the admin side of the port. */
export interface KafkaAdminSource {
  admin (): Promise<KafkaAdmin>
  /** Replace an admin client that answered "unknown topic" (KafkaService.retireAdmin); optional for fakes. */
  retireAdmin? (admin: KafkaAdmin, force?: boolean): boolean
}

export interface ServiceLogger {
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

const POLL_MIN_MS = 50
const POLL_MAX_MS = 500

export class KafkaTopics {
  readonly #kafka: KafkaAdminSource
  readonly #timeoutMs: number
  readonly #log: ServiceLogger

  /** `timeoutMs`: how long a deletion may take before it counts as pending (TOPIC_RECREATE_TIMEOUT_MS). */
  constructor (kafka: KafkaAdminSource, timeoutMs: number, log: ServiceLogger) {
    this.#kafka = kafka
    this.#timeoutMs = timeoutMs
    this.#log = log
  }

  /**
   * 'created', or 'exists' when Kafka already had the topic. A name Kafka would see as colliding with another
   * topic ('.' and '_' are alike in its metric names) is refused up front. An unknown outcome (timeout, lost
   * connection) is settled by asking Kafka whether the topic exists.
   */
  async create (admin: KafkaAdmin, name: string, settings: TopicSettings): Promise<'created' | 'exists'> {
    const listed = await admin.listTopics()
    if (listed.includes(name)) return 'exists'
    const metric = metricName(name)
    if (listed.some(other => metricName(other) === metric)) throw collision()
    try {
      const created = await admin.createTopic(topicSpec(name, settings))
      return created ? 'created' : 'exists'
    } catch (err) {
      const rejected = createRejection(err)
      if (rejected) throw rejected
      const exists = await admin.listTopics().then(ts => ts.includes(name), () => false)
      if (exists) {
        this.#log.warn({ err, topic: name }, 'topic create reported an error but the topic exists; keeping it')
        return 'created'
      }
      throw err
    }
  }

  /**
   * Create after a delete: Kafka may still answer "already exists" while the old topic is being removed, so
   * retry until it creates a new one or the deadline passes.
   */
  async createAfterDelete (admin: KafkaAdmin, name: string, settings: TopicSettings, deadline: number): Promise<void> {
    let wait = POLL_MIN_MS
    for (;;) {
      const created = await admin.createTopic(topicSpec(name, settings))
        .catch((err: unknown) => {
          throw createRejection(err) ?? err
        })
      if (created) return
      if (Date.now() + wait > deadline) throw deletionTimeout(name, this.#timeoutMs)
      await sleep(wait)
      wait = Math.min(wait * 2, POLL_MAX_MS)
    }
  }

  /**
   * Delete `name` from Kafka if it exists and wait until Kafka no longer lists it; false when it did not
   * exist. A deletion Kafka accepted but did not finish within TOPIC_RECREATE_TIMEOUT_MS is logged and counted
   * as done: Kafka finishes it on its own, and keeping the metadata would leave it dangling.
   */
  async deleteIfListed (admin: KafkaAdmin, name: string): Promise<boolean> {
    const listed = await admin.listTopics()
    if (!listed.includes(name)) return false
    await this.delete(admin, [name])
    if (!await this.waitGone(admin, [name], Date.now() + this.#timeoutMs)) {
      this.#log.warn({ topic: name }, 'Kafka accepted the topic deletion but still lists the topic')
    }
    return true
  }

  async delete (admin: KafkaAdmin, names: string[]): Promise<void> {
    try {
      await admin.deleteTopics(names)
    } catch (err) {
      // Gone between our listing and the delete: the outcome we wanted. Unless they are still listed: then the
      // client asked about a topic another node deleted (#kafkaOp tries again with a new one).
      if (kafkaErrorKind(err) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err
      const listed = new Set(await admin.listTopics())
      if (names.some(n => listed.has(n))) throw err
    }
  }

  /** Poll the topic list (backing off from 50 ms to 500 ms) until none of `names` is listed, or the deadline. */
  async waitGone (admin: KafkaAdmin, names: string[], deadline: number): Promise<boolean> {
    let wait = POLL_MIN_MS
    for (;;) {
      const listed = new Set(await admin.listTopics())
      if (!names.some(n => listed.has(n))) return true
      if (Date.now() + wait > deadline) return false
      await sleep(wait)
      wait = Math.min(wait * 2, POLL_MAX_MS)
    }
  }

  /** Run a Kafka call; the port's errors become the contract's errors (503/50302 when no broker answers). */
  async run<T> (fn: (admin: KafkaAdmin) => Promise<T>): Promise<T> {
    let admin: KafkaAdmin | undefined
    try {
      admin = await this.#kafka.admin()
      return await fn(admin)
    } catch (err) {
      if (err instanceof ApiError) throw err
      // "Unknown topic" from a client that still asks about a topic another node deleted (kafkajs/clients.ts,
      // retireAdmin): once more with a new client. Every operation here starts by reading Kafka's state, so
      // a second run continues where the first stopped.
      if (admin !== undefined && kafkaErrorKind(err) === 'UNKNOWN_TOPIC_OR_PARTITION' && this.#kafka.retireAdmin) {
        this.#kafka.retireAdmin(admin, true)
        try {
          return await fn(await this.#kafka.admin())
        } catch (again) {
          if (again instanceof ApiError) throw again
          throw toKafkaApiError(again)
        }
      }
      throw toKafkaApiError(err)
    }
  }
}

function topicSpec (name: string, s: TopicSettings): NewTopic {
  return { name, partitions: s.num_partitions, replicationFactor: s.replication_factor, configs: s.configs }
}

function collision (): ApiError {
  // Never name the other topic: it may belong to another namespace.
  return Errors.conflict("Topic name collides with an existing Kafka topic (Kafka treats '.' and '_' alike in topic names); choose another name", 'TOPIC_NAME_COLLISION')
}

/** Kafka refusing the request itself (bad settings, name collision): a client error, nothing was created. */
function createRejection (err: unknown): ApiError | undefined {
  const type = kafkaErrorKind(err)
  // Our names are always valid Kafka names, so an invalid-topic answer means a collision (the broker's own
  // message, which would say so, may not reach us).
  if (type === 'INVALID_TOPIC_EXCEPTION') return collision()
  if (type === 'INVALID_REPLICATION_FACTOR' || type === 'INVALID_PARTITIONS' || type === 'INVALID_CONFIG' || type === 'POLICY_VIOLATION') {
    const message = (err as Error).message
    return new ApiError(422, 42204, `Kafka refused the topic settings: ${message.slice(0, 300)}`, { code: 'INVALID_TOPIC_SETTINGS' })
  }
  return undefined
}

export function deletionTimeout (name: string, ms: number): ApiError {
  return new ApiError(503, 50302, `Kafka did not finish deleting ${name.slice(name.indexOf('.') + 1)} within ${ms} ms; retry later`, { code: 'TOPIC_DELETE_PENDING' })
}
