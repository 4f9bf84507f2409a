/**
 * An instance's one mapping between the user's topic names (in its namespace) and Kafka's: the namespace plugin's
 * mapping, with the user's names cached (every delivered record needs one). Plain module.
 */
import type { TopicPartition } from '../kafka/driver.js'
import type { NamespaceMapper } from './instance-deps.js'
import { tpKey } from './keys.js'

export class TopicNames {
  #users = new Map<string, string>()
  constructor (private readonly names: NamespaceMapper, private readonly namespace: string) {}

  /** A user's partition (or offset, or timestamp entry) with its topic in Kafka's name. */
  kafka<T extends TopicPartition> (p: T): T {
    return { ...p, topic: this.names.kafkaTopic(this.namespace, p.topic) }
  }

  /** The user's partitions as Kafka's, each once. */
  kafkaPartitions (list: readonly TopicPartition[]): TopicPartition[] {
    const m = new Map<string, TopicPartition>()
    for (const p of list) {
      const topic = this.names.kafkaTopic(this.namespace, p.topic)
      m.set(tpKey(topic, p.partition), { topic, partition: p.partition })
    }
    return [...m.values()]
  }

  /** The user's name of a Kafka topic (the Kafka name itself if it is outside the namespace). */
  user = (kafkaTopic: string): string => {
    let name = this.#users.get(kafkaTopic)
    if (name === undefined) {
      name = this.names.userTopic(this.namespace, kafkaTopic) ?? kafkaTopic
      this.#users.set(kafkaTopic, name)
    }
    return name
  }

  /** User names of Kafka topics, leaving out those outside the namespace, sorted. */
  users (kafkaTopics: readonly string[]): string[] {
    return kafkaTopics
      .map(t => this.names.userTopic(this.namespace, t))
      .filter((t): t is string => t !== undefined)
      .sort()
  }
}
