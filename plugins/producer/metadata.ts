/**
 * Partition counts of the topics produced to, cached briefly. The engine needs the count before it sends
 * (to place keyed records and to refuse a partition_id beyond the topic), and a missing topic must be a 404
 * answered before anything is sent: sending to it would fail the whole shared Kafka request. Plain module.
 */
import { Errors } from '../errors/errors.js'
import { kafkaErrorKind, toKafkaApiError } from '../kafka/errors.js'

export interface TopicMetadataSource {
  /** Partition ids of `topic`; throws a KafkaError of kind UNKNOWN_TOPIC_OR_PARTITION when it does not exist. */
  partitions (topic: string): Promise<number[]>
}

interface Entry { count: number, at: number }

export class TopicMetadataCache {
  readonly #source: TopicMetadataSource
  readonly #maxAgeMs: number
  readonly #now: () => number
  #entries = new Map<string, Entry>()
  #pending = new Map<string, Promise<number>>()

  constructor (source: TopicMetadataSource, maxAgeMs: number, now: () => number = Date.now) {
    this.#source = source
    this.#maxAgeMs = maxAgeMs
    this.#now = now
  }

  /**
   * The partition count of `topic` (40401 when Kafka does not know it, 50302 when Kafka cannot be reached).
   * `userTopic` names the topic in messages: never the Kafka name, which carries the namespace.
   */
  async partitionCount (topic: string, userTopic: string): Promise<number> {
    const hit = this.#entries.get(topic)
    if (hit && this.#now() - hit.at < this.#maxAgeMs) return hit.count
    let pending = this.#pending.get(topic)
    if (!pending) {
      pending = this.#load(topic, userTopic).finally(() => this.#pending.delete(topic))
      this.#pending.set(topic, pending)
    }
    return pending
  }

  /** Forget a topic (after Kafka said it is unknown or its partitions changed). */
  invalidate (topic: string): void {
    this.#entries.delete(topic)
  }

  async #load (topic: string, userTopic: string): Promise<number> {
    let ids: number[]
    try {
      ids = await this.#source.partitions(topic)
    } catch (err) {
      this.#entries.delete(topic)
      const type = kafkaErrorKind(err)
      if (type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'INVALID_TOPIC_EXCEPTION') throw Errors.topicNotFound(userTopic)
      const api = toKafkaApiError(err)
      // Metadata calls send no record: any failure to get an answer is "cannot reach the cluster" (safe to retry).
      if (api.statusCode >= 500) throw Errors.brokerUnavailable(api.message)
      throw api
    }
    if (ids.length === 0) throw Errors.topicNotFound(userTopic)
    const count = Math.max(...ids) + 1
    this.#entries.set(topic, { count, at: this.#now() })
    return count
  }
}
