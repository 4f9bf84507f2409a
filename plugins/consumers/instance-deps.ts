/**
 * What a consumer instance is made of: its options (one create request), its settings (configuration), and its
 * dependencies (the Kafka driver port, the namespace mapping, the process-wide buffer budget, a log and an
 * observer). Plain module.
 */
import type { KafkaDriver } from '../kafka/driver.js'
import type { ConsumerFormat } from './format.js'
import type { BufferBudget } from './record-buffer.js'

export interface NamespaceMapper {
  kafkaTopic (ns: string, topic: string): string
  kafkaGroup (ns: string, group: string): string
  userTopic (ns: string, kafkaTopic: string): string | undefined
  scopePattern (ns: string, pattern: string): { source: string, matches (kafkaTopic: string): boolean }
}

export interface InstanceSettings {
  sessionTimeout: number
  heartbeatInterval: number
  fetchMaxWaitMs: number
  fetchMaxBytes: number
  bufferBytes: number
  bufferRecords: number
  autoCommitIntervalMs: number
  refreshIntervalMs: number
  joinWaitMs: number
  /** Park the session (no fetching, membership kept) after this long without a read; 0 = never. */
  parkAfterMs: number
  /**
   * A fetch still unanswered this long beyond fetchMaxWaitMs means the broker has stopped answering (frozen,
   * partitioned away): a read that then ends empty answers 503/50302 instead of an empty 200.
   */
  fetchStallMs: number
}

/**
 * Optional instrumentation (the consumers plugin passes one that publishes on diagnostics channels,
 * channels.ts). Called synchronously on the engine's paths, so it must be cheap and must not throw.
 */
export interface InstanceObserver {
  /** A read (long poll) answered: how long it waited, and the records and key + value bytes it returned. */
  read? (ms: number, records: number, bytes: number): void
  /** A commit reached Kafka (explicit, commit-all, auto or final): whether it succeeded. */
  commit? (ok: boolean): void
  /** The instance's kafkajs consumer joined its group (GROUP_JOIN): a new assignment after a rebalance. */
  join? (): void
}

export interface InstanceDeps {
  /** Kafka, through the driver port (kafkajsDriver in production, a fake in unit tests: test/helpers/fake-kafka.ts). */
  kafka: KafkaDriver
  /**
   * The cluster's topic names from a listing at most `maxAgeMs` old (0: a new one), shared by the instances of
   * the process (TopicList); without it each instance asks the driver.
   */
  listTopics? (maxAgeMs: number): Promise<string[]>
  names: NamespaceMapper
  budget: BufferBudget
  settings: InstanceSettings
  log?: { warn (obj: object, msg: string): void, debug (obj: object, msg: string): void }
  /** Told of reads, commits and joins (channels.ts in production). */
  observer?: InstanceObserver
}

export interface InstanceOptions {
  namespace: string
  group: string
  name: string
  subject: string
  format: ConsumerFormat
  /** none: a partition the group never committed fails the read (409/40905) until the client seeks or commits. */
  autoOffsetReset: 'earliest' | 'latest' | 'none'
  autoCommit: boolean
  /** Bytes buffered before a read returns early; -1 = wait the whole timeout. */
  fetchMinBytes: number
  requestTimeoutMs: number
}
