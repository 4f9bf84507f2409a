/**
 * The metadata store: who owns which namespace, and which topics (with the settings they were created with)
 * each namespace holds. Kafka is the source of truth for data; the store is the source of truth for
 * ownership. The file store (file-store.ts) is the embedded default; the DynamoDB store (dynamo-store.ts)
 * keeps it in the existing service's tables, shared by several nodes (docs/metadata-store.md).
 * Plain module: no Fastify import.
 */

/** Settings a topic was created with, kept so that recreate can reproduce them. */
export interface TopicSettings {
  num_partitions: number
  replication_factor: number
  /** Kafka topic configs, values as Kafka strings (e.g. `{ 'retention.ms': '86400000' }`). */
  configs: Record<string, string>
}

export interface TopicRecord {
  /** The user's topic name (without the namespace prefix). */
  name: string
  settings: TopicSettings
  /** ISO 8601. */
  createdAt: string
  /**
   * True when no settings were stored for the topic (created by the existing service, which kept none):
   * `settings` are then the configured defaults, and recreate resolves them against the cluster.
   */
  inferred?: boolean
}

export interface NamespaceRecord {
  name: string
  /** Globus subject that claimed it. */
  owner: string
  createdAt: string
  topics: TopicRecord[]
}

/**
 * A Kafka credential handed to a subject (`POST /api/v3/key`), one per subject. The fields are the existing
 * service's keys-table item: `access_key` (IAM access key id, or SCRAM user name), `secret_key` as stored
 * (encrypted by plugins/credentials unless `encryption` is absent: plain text written by the existing
 * service), `create_date` (ISO 8601). The store never looks inside `secret_key`.
 */
export interface KeyRecord {
  subject: string
  access_key: string
  secret_key: string
  create_date: string
  /** How `secret_key` is encrypted (e.g. `aes-256-gcm:v1`); absent: plain text. */
  encryption?: string
}

/** What identifies one stored key (see removeKey). */
export type KeyMatch = Pick<KeyRecord, 'access_key' | 'secret_key'>

export type ClaimResult = 'created' | 'owned' | 'taken'
export type ReleaseResult = 'released' | 'absent' | 'not-owner' | 'not-empty'

export interface MetadataStore {
  /** Namespaces owned by `subject`, sorted by name. */
  namespacesOf (subject: string): Promise<string[]>
  /** The namespace's record, or undefined when nobody owns it. */
  getNamespace (namespace: string): Promise<NamespaceRecord | undefined>
  /** Owner of `namespace`, or undefined. */
  ownerOf (namespace: string): Promise<string | undefined>
  /**
   * Atomically claim `namespace` for `subject`: 'created' when it was free, 'owned' when `subject` already
   * holds it (idempotent), 'taken' when another subject does (nothing changes).
   */
  claimNamespace (subject: string, namespace: string): Promise<ClaimResult>
  /**
   * Atomically release `namespace`, only when `subject` owns it and it holds no topics. 'absent' when nobody
   * owns it, 'not-owner' when someone else does, 'not-empty' when topics remain; nothing changes then.
   */
  releaseNamespace (subject: string, namespace: string): Promise<ReleaseResult>
  /** Topics of `namespace`, sorted by name (empty when the namespace is unknown). */
  topicsOf (namespace: string): Promise<TopicRecord[]>
  getTopic (namespace: string, topic: string): Promise<TopicRecord | undefined>
  /** Add or replace a topic record. Throws when the namespace is not claimed. */
  putTopic (namespace: string, record: TopicRecord): Promise<void>
  /** Remove a topic record; false when it was not there. */
  removeTopic (namespace: string, topic: string): Promise<boolean>
  /** The subject's stored key, or undefined. */
  getKey (subject: string): Promise<KeyRecord | undefined>
  /**
   * Store `record` only when the subject has no key yet (a conditional write, atomic across nodes): true when
   * it was stored, false when another key was there first (nothing changes then).
   */
  putKeyIfAbsent (record: KeyRecord): Promise<boolean>
  /**
   * Remove the subject's key; with `match`, only when the stored key is that one (same access key and same
   * stored secret: a SCRAM key's access key is its subject's name, the sealed secret tells two keys apart).
   * A conditional write, atomic across nodes. False when nothing (or another key) was there.
   */
  removeKey (subject: string, match?: KeyMatch): Promise<boolean>
  /** Can the store serve reads and persist writes right now? */
  healthy (): Promise<boolean>
  /** Waits for pending writes, then refuses further calls. */
  close (): Promise<void>
}

/** Raised for store-level failures (corrupt file, unwritable directory, use after close). */
export class MetadataStoreError extends Error {
  readonly path: string | undefined
  constructor (message: string, opts: { path?: string, cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'MetadataStoreError'
    this.path = opts.path
  }
}
