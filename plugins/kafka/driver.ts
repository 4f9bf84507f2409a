/**
 * The Kafka driver port: everything the consumer engine (plugins/consumers) and the produce engine
 * (plugins/producer) ask of Kafka, in the engines' own terms. Offsets and timestamps are numbers, records arrive
 * as `BufferedRecord`s and leave as `ProduceRecord`s, and every failure is a `KafkaError` carrying what the
 * engine decides on (retriable, rejoin, outage) plus Kafka's error name. The kafkajs adapter implements it
 * (kafkajs/driver.ts, kafkajs/producer.ts); unit tests use fakes (test/helpers/fake-kafka.ts, the producer's
 * in test/unit/producer/engine.test.ts).
 * HTTP codes are not chosen here: errors.ts maps a KafkaError to the contract's answer, at the edge.
 * Plain module: no Fastify, no kafkajs.
 */

export interface TopicPartition { topic: string, partition: number }
export interface PartitionOffset extends TopicPartition { offset: number, metadata?: string | null }

/** One record header, in wire order; a null value is Kafka's null. */
export interface KafkaHeader { name: string, value: Buffer | null }

/** A fetched record as the engine buffers it. */
export interface BufferedRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Array<[string, Buffer | null]> | undefined
  /** key + value bytes, Confluent's max_bytes measure. */
  size: number
}

/**
 * A record as the fetch decoder (kafkajs/fetch-decoder.ts) hands it over: key and value are ranges of a block
 * shared by the records of one Kafka record batch (its bytes, copied out of the fetch response once), so that
 * buffering a record allocates one object and no Buffer views; a view is made only when `key` or `value` is
 * asked for. The render of a binary answer reads the ranges directly (consumers/format.ts). `isControlRecord`
 * is what kafkajs' Batch filters on.
 */
export class FetchedRecord implements BufferedRecord {
  constructor (
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly timestamp: number,
    readonly block: Buffer,
    /** Start and end of the key in `block`; keyEnd -1 for a null key. */
    readonly keyStart: number,
    readonly keyEnd: number,
    readonly valueStart: number,
    /** -1 for a null value. */
    readonly valueEnd: number,
    readonly headers: Array<[string, Buffer | null]> | undefined,
    readonly isControlRecord: boolean
  ) {
    this.size = (keyEnd < 0 ? 0 : keyEnd - keyStart) + (valueEnd < 0 ? 0 : valueEnd - valueStart)
  }

  readonly size: number
  get key (): Buffer | null { return this.keyEnd < 0 ? null : this.block.subarray(this.keyStart, this.keyEnd) }
  get value (): Buffer | null { return this.valueEnd < 0 ? null : this.block.subarray(this.valueStart, this.valueEnd) }
}

/**
 * Kafka error names meaning "the group moved on": the member must rejoin (or, without membership, the group is
 * not empty).
 */
const REJOIN_KINDS: ReadonlySet<string> = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID'])

export interface KafkaErrorFlags {
  /** Kafka's error name (`UNKNOWN_TOPIC_OR_PARTITION`, `REBALANCE_IN_PROGRESS`, …) when Kafka answered one. */
  kind?: string | undefined
  /** Trying again later may succeed. */
  retriable?: boolean
  /** No broker or coordinator could be reached (down, frozen, partitioned away). */
  outage?: boolean
}

/** The only error the driver fails with. */
export class KafkaError extends Error {
  readonly kind: string | undefined
  readonly retriable: boolean
  readonly outage: boolean
  /** The group moved on (a rebalance): a member rejoins; a commit without membership met active members. */
  readonly rejoin: boolean

  constructor (message: string, flags: KafkaErrorFlags = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'KafkaError'
    this.kind = flags.kind
    this.retriable = flags.retriable ?? false
    this.outage = flags.outage ?? false
    this.rejoin = flags.kind !== undefined && REJOIN_KINDS.has(flags.kind)
  }

  get unknownTopic (): boolean { return this.kind === 'UNKNOWN_TOPIC_OR_PARTITION' }
}

export function isKafkaError (err: unknown): err is KafkaError {
  return err instanceof KafkaError
}

export interface SessionHandlers {
  /** Called synchronously inside the join, before the first fetch: seeks issued here apply at once. */
  onJoin (assignment: TopicPartition[]): void
  /** A fetched batch of one partition (offsets ascending); return quickly. */
  onRecords (topic: string, partition: number, records: BufferedRecord[]): void
  onRebalancing (): void
  /** The session failed; `willRestart`: the driver is rejoining on its own (an outage, typically). */
  onCrash (err: KafkaError, willRestart: boolean): void
}

export interface SessionSpec {
  groupId: string
  topics: string[]
  /** Where a partition the group never committed starts: its first offset (else its end). */
  fromBeginning: boolean
  /** Fixed partitions (manual assignment), in a group of its own; absent: a member of `groupId` (subscribe). */
  fixed?: Record<string, number[]>
  sessionTimeout: number
  heartbeatInterval: number
  maxWaitTimeInMs: number
  maxBytes: number
  handlers: SessionHandlers
}

/** One running consumer for a fixed topic set (a new topic set is a new session). */
export interface ConsumerSession {
  readonly topics: string[]
  readonly running: boolean
  /**
   * When the oldest fetch still waiting for the broker began (Date.now() ms); undefined when none is under way.
   * Waits while parked or held do not count.
   */
  readonly fetchingSince: number | undefined
  /** Connect and start fetching. Resolves once running, not once joined (see onJoin). */
  start (): Promise<void>
  seek (topic: string, partition: number, offset: number): void
  /** Fetch nothing more until release() (the buffer is full); membership and heartbeats go on. */
  hold (): void
  release (): void
  /** Fetch nothing while nobody reads (membership and heartbeats go on); unpark() undoes it at once. */
  park (): void
  unpark (): void
  /** Commit as a member of the session's group. */
  commit (offsets: PartitionOffset[]): Promise<void>
  /** Leave the group and close the connections. */
  stop (): Promise<void>
}

/** Kafka access of one consumer instance (its own connections). */
export interface ConsumerClient {
  /** A session with `fixed` partitions runs in a private group of the driver's naming, removed on close(). */
  openSession (spec: SessionSpec): ConsumerSession
  /**
   * Commit without group membership (generation -1), as Java's assign() does: only while the group has no
   * members.
   */
  commitDetached (groupId: string, offsets: PartitionOffset[]): Promise<void>
  close (): Promise<void>
}

export interface PartitionEdges { partition: number, low: number, high: number }
export interface CommittedOffset { topic: string, partition: number, offset: number, metadata: string | null }

/** The one port: per-instance clients, and the look-ups every instance shares (one admin connection). */
export interface KafkaDriver {
  connect (clientId: string): ConsumerClient
  listTopics (): Promise<string[]>
  /** Partition count of each topic; fails with an unknown-topic KafkaError if any topic does not exist. */
  partitionCounts (topics: string[]): Promise<Map<string, number>>
  /** The group's committed offsets (the next offset to read) of the topics, only partitions it committed. */
  committedOffsets (groupId: string, topics: string[]): Promise<CommittedOffset[]>
  /** Log start (low) and end (high) of each partition of the topic. */
  edges (topic: string): Promise<PartitionEdges[]>
  /** Per partition, the first offset whose timestamp is at or after `timestamp`; absent when there is none. */
  offsetsForTimestamp (topic: string, timestamp: number): Promise<Map<number, number>>
}

/** A record to produce, as the engine queued it. */
export interface ProduceRecord {
  key: Buffer | null
  value: Buffer | null
  /** In order; repeated names and null values are kept. */
  headers: KafkaHeader[]
  /** CreateTime, ms since the epoch. */
  timestamp: number
}

/** One partition's records of a send, in order: they become one record batch. */
export interface PartitionRecords {
  topic: string
  partition: number
  records: readonly ProduceRecord[]
}

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'

export interface SendOptions {
  /** -1: all in-sync replicas, 1: the leader, 0: none. */
  acks: number
  timeoutMs: number
  compression: Compression
}

/** Kafka's acknowledgement of one partition's records. */
export interface PartitionAck {
  /** The offset of the partition's first record; the others follow it. */
  baseOffset: number
  /** The broker's LogAppendTime (ms since the epoch), -1 when the topic keeps CreateTime. */
  logAppendTime: number
}

/**
 * The process's Kafka producer: never resends a failed request on its own (a resend after the broker got the
 * first attempt duplicates records; the engine decides, with `requestsWritten`). A producer that a deleted
 * topic has broken is replaced inside the adapter.
 */
export interface ProducerClient {
  /**
   * Produce requests written to the wire so far (process-wide): unchanged across a failed send means no record
   * can have reached a broker.
   */
  readonly requestsWritten: number
  /** Connect (once; a failed connect is tried again by the next call). */
  connect (): Promise<void>
  /**
   * One Kafka request per leader for all the partitions' records. Resolves with one entry per entry of
   * `partitions` (same order): its acknowledgement, or undefined when Kafka did not acknowledge it.
   */
  send (partitions: readonly PartitionRecords[], opts: SendOptions): Promise<Array<PartitionAck | undefined>>
  /** Disconnect, once no send is in flight. */
  close (): Promise<void>
}
