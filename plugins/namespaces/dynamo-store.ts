/**
 * The DynamoDB metadata store (METADATA_STORE=dynamodb), over the existing Diaspora service's tables
 * (../shared/docs/seed-aws-resources.md), so several nodes can share one store and the existing service can
 * keep reading what this one writes.
 *
 * Layout (existing attributes keep their meaning; this store adds a few):
 * - users table, hash key `subject`: `namespaces` (SS), the namespaces the subject owns. The item
 *   `__global_namespaces__` lists every claimed name. Membership in a subject's set is what makes a
 *   namespace that subject's, here as in the existing service.
 * - namespace table, hash key `namespace`: `topics` (SS), the topic names; added here: `owner` (S, a cache of
 *   the owner for a one-item lookup, always checked against the owner's set), `created_at` (S), and one
 *   attribute `topic_settings#<topic>` (M: num_partitions N, replication_factor N, configs M, created_at S)
 *   per topic created here. Topics without one (created by the existing service) read as the configured
 *   defaults, flagged `inferred`.
 *
 * Every multi-item change is one TransactWriteItems with condition expressions, so it is atomic across
 * processes with no lock: a claim adds the name to the global item (on condition it is not there yet), to the
 * subject's set and to the namespace item together; a release removes all three on condition that the subject
 * still owns it and no topic is left; a topic record is written on condition that its namespace's owner still
 * owns it. A string set can never be empty in DynamoDB: removing the last member removes the attribute, and a
 * missing set reads as empty.
 *
 * Throttling and transient errors are retried by the SDK (standard mode, exponential back-off with jitter);
 * whatever still fails becomes a MetadataStoreError, which the namespace service answers with 503.
 * Plain module: no Fastify import.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  waitUntilTableExists,
  type AttributeValue,
  type DynamoDBClientConfig,
  type TransactWriteItem
} from '@aws-sdk/client-dynamodb'
import { isValidName } from './names.js'
import {
  MetadataStoreError,
  type ClaimResult,
  type KeyMatch,
  type KeyRecord,
  type MetadataStore,
  type NamespaceRecord,
  type ReleaseResult,
  type TopicRecord,
  type TopicSettings
} from './store.js'

/** The users-table item that lists every claimed namespace (names are global). */
export const GLOBAL_NAMESPACES = '__global_namespaces__'
/** Prefix of the per-topic settings attributes on a namespace item. */
export const TOPIC_SETTINGS_PREFIX = 'topic_settings#'
/** The existing service's default table names. */
export const DEFAULT_TABLES = {
  users: 'diaspora-users-table',
  namespaces: 'diaspora-namespace-table',
  keys: 'diaspora-keys-table'
} as const

/** Added to a keys-table item whose secret_key this service encrypted; the existing service's items lack it. */
export const KEY_ENCRYPTION_ATTR = 'secret_encryption'
/** Shown as createdAt of records the existing service wrote (it stored no date). */
const UNKNOWN_DATE = '1970-01-01T00:00:00.000Z'

/** A keys-table item as a KeyRecord (undefined when it lacks the access key or the secret). */
function keyRecord (subject: string, item: Item | undefined): KeyRecord | undefined {
  const accessKey = str(item, 'access_key')
  const secret = str(item, 'secret_key')
  if (accessKey === undefined || secret === undefined) return undefined
  const encryption = str(item, KEY_ENCRYPTION_ATTR)
  return {
    subject,
    access_key: accessKey,
    secret_key: secret,
    create_date: str(item, 'create_date') ?? UNKNOWN_DATE,
    ...(encryption !== undefined ? { encryption } : {})
  }
}
/** Attempts of a transaction that lost a race (TransactionConflict) or read a state that changed meanwhile. */
const TRANSACTION_ATTEMPTS = 8
/** Cancellation reasons of a transaction that are worth another attempt. */
const RETRIED_CANCELLATIONS: ReadonlySet<string> = new Set(['ConditionalCheckFailed', 'TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded', 'RequestLimitExceeded'])
/** A probe of healthy() that takes longer than this counts as a failure. */
const HEALTH_TIMEOUT_MS = 3000

export interface DynamoTables {
  users: string
  namespaces: string
  keys: string
}

export interface DynamoStoreOptions {
  tables?: Partial<DynamoTables>
  /** AWS region; unset: the SDK's chain (AWS_REGION, the profile). */
  region?: string
  /** An endpoint to use instead of the SDK's (which reads AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL itself). */
  endpoint?: string
  /** Create the tables that are missing (on demand, one string hash key). Never by default. */
  createTables?: boolean
  /** Check at start that the keys table exists too (Kafka credentials are on). */
  requireKeys?: boolean
  /** Settings reported for topics that have none stored (those created by the existing service). */
  defaultSettings: TopicSettings
  /** SDK attempts per call (first try included), with back-off in between. Default 4. */
  maxAttempts?: number
  /** Per-request timeout in ms. Default 5000. */
  requestTimeoutMs?: number
  /** Extra client settings (tests: credentials). */
  clientConfig?: DynamoDBClientConfig
}

type Item = Record<string, AttributeValue>

const S = (s: string): AttributeValue => ({ S: s })
const SS = (values: string[]): AttributeValue => ({ SS: values })

function setOf (item: Item | undefined, attr: string): string[] {
  const v = item?.[attr]
  return v !== undefined && 'SS' in v && Array.isArray(v.SS) ? [...v.SS] : []
}

function str (item: Item | undefined, attr: string): string | undefined {
  const v = item?.[attr]
  return v !== undefined && 'S' in v && typeof v.S === 'string' ? v.S : undefined
}

function byName (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function settingsAttr (topic: string): string {
  return TOPIC_SETTINGS_PREFIX + topic
}

function encodeTopic (record: TopicRecord): AttributeValue {
  const configs: Item = {}
  for (const [k, v] of Object.entries(record.settings.configs)) configs[k] = S(v)
  return {
    M: {
      num_partitions: { N: String(record.settings.num_partitions) },
      replication_factor: { N: String(record.settings.replication_factor) },
      configs: { M: configs },
      created_at: S(record.createdAt)
    }
  }
}

function decodeTopic (
  name: string,
  value: AttributeValue | undefined,
  fallback: TopicSettings,
  fallbackDate: string
): TopicRecord {
  const m = value !== undefined && 'M' in value ? value.M : undefined
  const partitions = Number(m?.num_partitions?.N)
  const replication = Number(m?.replication_factor?.N)
  const rawConfigs = m?.configs?.M
  if (
    m === undefined ||
    !Number.isInteger(partitions) || partitions < 1 ||
    !Number.isInteger(replication) || replication < 1 ||
    rawConfigs === undefined
  ) {
    return { name, settings: structuredClone(fallback), createdAt: fallbackDate, inferred: true }
  }
  const configs: Record<string, string> = {}
  for (const [k, v] of Object.entries(rawConfigs).sort(([a], [b]) => byName(a, b))) {
    if (typeof v.S === 'string') configs[k] = v.S
  }
  return {
    name,
    settings: { num_partitions: partitions, replication_factor: replication, configs },
    createdAt: str(m, 'created_at') ?? fallbackDate
  }
}

function cancellationCodes (err: TransactionCanceledException): Array<string | undefined> {
  return (err.CancellationReasons ?? []).map(r => r.Code === 'None' ? undefined : r.Code)
}

function isAbort (err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')
}

export class DynamoMetadataStore implements MetadataStore {
  readonly tables: DynamoTables
  readonly client: DynamoDBClient
  #defaults: TopicSettings
  #closed = false
  #pending = new Set<Promise<unknown>>()

  private constructor (client: DynamoDBClient, tables: DynamoTables, defaults: TopicSettings) {
    this.client = client
    this.tables = tables
    this.#defaults = structuredClone(defaults)
  }

  /**
   * Connect and check the tables (creating missing ones when asked). Throws a MetadataStoreError that names
   * the table and the variable when a table is missing or DynamoDB cannot be reached.
   */
  static async open (opts: DynamoStoreOptions): Promise<DynamoMetadataStore> {
    const tables: DynamoTables = { ...DEFAULT_TABLES, ...opts.tables }
    const client = new DynamoDBClient({
      ...opts.clientConfig,
      ...(opts.region !== undefined ? { region: opts.region } : {}),
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      maxAttempts: opts.maxAttempts ?? 4,
      retryMode: 'standard',
      requestHandler: {
        connectionTimeout: Math.min(opts.requestTimeoutMs ?? 5000, 3000),
        requestTimeout: opts.requestTimeoutMs ?? 5000
      }
    })
    const store = new DynamoMetadataStore(client, tables, opts.defaultSettings)
    try {
      await store.#checkTables(opts.createTables === true, opts.requireKeys === true)
    } catch (err) {
      client.destroy()
      throw err
    }
    return store
  }

  async namespacesOf (subject: string): Promise<string[]> {
    return this.#op('namespacesOf', async () => {
      if (subject === GLOBAL_NAMESPACES) return []
      return setOf(await this.#getUser(subject), 'namespaces').sort(byName)
    })
  }

  async getNamespace (namespace: string): Promise<NamespaceRecord | undefined> {
    return this.#op('getNamespace', async () => {
      const { owner, item } = await this.#resolveOwner(namespace)
      if (owner === undefined) return undefined
      const createdAt = str(item, 'created_at') ?? UNKNOWN_DATE
      return { name: namespace, owner, createdAt, topics: this.#topicList(item, createdAt) }
    })
  }

  /**
   * Every owned namespace with its owner and topics, sorted by name, from a consistent scan of the users
   * table (for `npm run metadata`; not for request paths).
   */
  async allNamespaces (): Promise<NamespaceRecord[]> {
    return this.#op('allNamespaces', async () => {
      const owners = new Map<string, string>()
      let start: Item | undefined
      do {
        const r = await this.client.send(new ScanCommand({
          TableName: this.tables.users,
          ConsistentRead: true,
          ProjectionExpression: 'subject, namespaces',
          ...(start !== undefined ? { ExclusiveStartKey: start } : {})
        }))
        for (const it of r.Items ?? []) {
          const subject = str(it, 'subject')
          if (subject === undefined || subject === GLOBAL_NAMESPACES) continue
          for (const ns of setOf(it, 'namespaces')) if (!owners.has(ns)) owners.set(ns, subject)
        }
        start = r.LastEvaluatedKey
      } while (start !== undefined)
      const out: NamespaceRecord[] = []
      for (const [name, owner] of [...owners].sort(([a], [b]) => byName(a, b))) {
        const item = await this.#getNamespaceItem(name)
        const createdAt = str(item, 'created_at') ?? UNKNOWN_DATE
        out.push({ name, owner, createdAt, topics: this.#topicList(item, createdAt) })
      }
      return out
    })
  }

  async ownerOf (namespace: string): Promise<string | undefined> {
    return this.#op('ownerOf', async () => (await this.#resolveOwner(namespace)).owner)
  }

  async claimNamespace (subject: string, namespace: string): Promise<ClaimResult> {
    return this.#op('claimNamespace', async () => {
      if (!isValidName(namespace)) throw new MetadataStoreError(`Invalid namespace name ${JSON.stringify(namespace)}`)
      if (subject === '' || subject === GLOBAL_NAMESPACES) throw new MetadataStoreError('Invalid subject')
      for (let attempt = 1; ; attempt++) {
        if (setOf(await this.#getUser(subject), 'namespaces').includes(namespace)) {
          await this.#cacheOwner(namespace, subject, undefined)
          return 'owned'
        }
        const now = new Date().toISOString()
        const items: TransactWriteItem[] = [
          {
            Update: {
              TableName: this.tables.users,
              Key: { subject: S(GLOBAL_NAMESPACES) },
              UpdateExpression: 'ADD namespaces :ns',
              ConditionExpression: 'NOT contains(namespaces, :n)',
              ExpressionAttributeValues: { ':ns': SS([namespace]), ':n': S(namespace) }
            }
          },
          {
            Update: {
              TableName: this.tables.users,
              Key: { subject: S(subject) },
              UpdateExpression: 'ADD namespaces :ns',
              ExpressionAttributeValues: { ':ns': SS([namespace]) }
            }
          },
          {
            Update: {
              TableName: this.tables.namespaces,
              Key: { namespace: S(namespace) },
              UpdateExpression: 'SET #owner = :s, created_at = :now',
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: { ':s': S(subject), ':now': S(now) }
            }
          }
        ]
        const outcome = await this.#transact(items)
        if (outcome === 'ok') return 'created'
        if (outcome[0] === 'ConditionalCheckFailed') {
          // The name is claimed: by this subject (a concurrent claim of its own) or by someone else.
          const owner = (await this.#resolveOwner(namespace)).owner
          if (owner === subject) return 'owned'
          if (owner !== undefined) return 'taken'
          // Listed globally but owned by nobody: a half-finished change of the existing service (it writes the
          // two sets one after the other). Someone else's claim in progress: taken, nothing changes.
          return 'taken'
        }
        if (attempt >= TRANSACTION_ATTEMPTS) throw new MetadataStoreError(`Claim of ${namespace} kept conflicting with other writes (${outcome.join(',')})`)
        await backoff(attempt)
      }
    })
  }

  async releaseNamespace (subject: string, namespace: string): Promise<ReleaseResult> {
    return this.#op('releaseNamespace', async () => {
      for (let attempt = 1; ; attempt++) {
        if (subject === GLOBAL_NAMESPACES || !setOf(await this.#getUser(subject), 'namespaces').includes(namespace)) {
          const owner = (await this.#resolveOwner(namespace)).owner
          return owner === undefined ? 'absent' : 'not-owner'
        }
        const item = await this.#getNamespaceItem(namespace)
        if (setOf(item, 'topics').length > 0) return 'not-empty'
        const items: TransactWriteItem[] = [
          {
            Update: {
              TableName: this.tables.users,
              Key: { subject: S(subject) },
              UpdateExpression: 'DELETE namespaces :ns',
              ConditionExpression: 'contains(namespaces, :n)',
              ExpressionAttributeValues: { ':ns': SS([namespace]), ':n': S(namespace) }
            }
          },
          {
            Update: {
              TableName: this.tables.users,
              Key: { subject: S(GLOBAL_NAMESPACES) },
              UpdateExpression: 'DELETE namespaces :ns',
              ExpressionAttributeValues: { ':ns': SS([namespace]) }
            }
          },
          {
            Delete: {
              TableName: this.tables.namespaces,
              Key: { namespace: S(namespace) },
              ConditionExpression: 'attribute_not_exists(topics)'
            }
          }
        ]
        const outcome = await this.#transact(items)
        if (outcome === 'ok') return 'released'
        // Changed meanwhile (released or given topics by another node): look again.
        if (attempt >= TRANSACTION_ATTEMPTS) throw new MetadataStoreError(`Release of ${namespace} kept conflicting with other writes (${outcome.join(',')})`)
        if (!outcome.includes('ConditionalCheckFailed')) await backoff(attempt)
      }
    })
  }

  async topicsOf (namespace: string): Promise<TopicRecord[]> {
    return this.#op('topicsOf', async () => {
      const item = await this.#getNamespaceItem(namespace)
      return this.#topicList(item, str(item, 'created_at') ?? UNKNOWN_DATE)
    })
  }

  async getTopic (namespace: string, topic: string): Promise<TopicRecord | undefined> {
    return this.#op('getTopic', async () => {
      const item = await this.#getNamespaceItem(namespace)
      if (!setOf(item, 'topics').includes(topic)) return undefined
      return decodeTopic(topic, item?.[settingsAttr(topic)], this.#defaults, str(item, 'created_at') ?? UNKNOWN_DATE)
    })
  }

  async putTopic (namespace: string, record: TopicRecord): Promise<void> {
    return this.#op('putTopic', async () => {
      if (!isValidName(record.name)) throw new MetadataStoreError(`Invalid topic name ${JSON.stringify(record.name)}`)
      for (let attempt = 1; ; attempt++) {
        const owner = (await this.#resolveOwner(namespace)).owner
        if (owner === undefined) throw new MetadataStoreError(`Namespace ${namespace} is not claimed`)
        const items: TransactWriteItem[] = [
          {
            ConditionCheck: {
              TableName: this.tables.users,
              Key: { subject: S(owner) },
              ConditionExpression: 'contains(namespaces, :n)',
              ExpressionAttributeValues: { ':n': S(namespace) }
            }
          },
          {
            Update: {
              TableName: this.tables.namespaces,
              Key: { namespace: S(namespace) },
              UpdateExpression: 'SET #owner = :s, #ts = :rec ADD topics :t',
              ExpressionAttributeNames: { '#owner': 'owner', '#ts': settingsAttr(record.name) },
              ExpressionAttributeValues: { ':s': S(owner), ':rec': encodeTopic(record), ':t': SS([record.name]) }
            }
          }
        ]
        const outcome = await this.#transact(items)
        if (outcome === 'ok') return
        // The owner released it meanwhile (or a race): look again; unclaimed now throws above.
        if (attempt >= TRANSACTION_ATTEMPTS) throw new MetadataStoreError(`Topic write in ${namespace} kept conflicting with other writes (${outcome.join(',')})`)
        if (!outcome.includes('ConditionalCheckFailed')) await backoff(attempt)
      }
    })
  }

  async removeTopic (namespace: string, topic: string): Promise<boolean> {
    return this.#op('removeTopic', async () => {
      try {
        await this.client.send(new UpdateItemCommand({
          TableName: this.tables.namespaces,
          Key: { namespace: S(namespace) },
          UpdateExpression: 'DELETE topics :t REMOVE #ts',
          ConditionExpression: 'contains(topics, :n) OR attribute_exists(#ts)',
          ExpressionAttributeNames: { '#ts': settingsAttr(topic) },
          ExpressionAttributeValues: { ':t': SS([topic]), ':n': S(topic) }
        }))
        return true
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return false
        throw err
      }
    })
  }

  async getKey (subject: string): Promise<KeyRecord | undefined> {
    return this.#op('getKey', async () => {
      const r = await this.client.send(
        new GetItemCommand({ TableName: this.tables.keys, Key: { subject: S(subject) }, ConsistentRead: true })
      )
      return keyRecord(subject, r.Item)
    })
  }

  /**
   * Every key record, by subject (for `npm run metadata`); undefined when the keys table does not exist
   * (Kafka credentials were never on).
   */
  async allKeys (): Promise<KeyRecord[] | undefined> {
    return this.#op('allKeys', async () => {
      const out: KeyRecord[] = []
      let start: Item | undefined
      try {
        do {
          const r = await this.client.send(new ScanCommand({
            TableName: this.tables.keys,
            ConsistentRead: true,
            ...(start !== undefined ? { ExclusiveStartKey: start } : {})
          }))
          for (const it of r.Items ?? []) {
            const subject = str(it, 'subject')
            const record = subject === undefined ? undefined : keyRecord(subject, it)
            if (record) out.push(record)
          }
          start = r.LastEvaluatedKey
        } while (start !== undefined)
      } catch (err) {
        if (err instanceof ResourceNotFoundException) return undefined
        throw err
      }
      return out.sort((a, b) => byName(a.subject, b.subject))
    })
  }

  async putKeyIfAbsent (record: KeyRecord): Promise<boolean> {
    return this.#op('putKeyIfAbsent', async () => {
      const item: Item = {
        subject: S(record.subject),
        access_key: S(record.access_key),
        secret_key: S(record.secret_key),
        create_date: S(record.create_date)
      }
      if (record.encryption !== undefined) item[KEY_ENCRYPTION_ATTR] = S(record.encryption)
      try {
        await this.client.send(new PutItemCommand({ TableName: this.tables.keys, Item: item, ConditionExpression: 'attribute_not_exists(subject)' }))
        return true
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return false
        throw err
      }
    })
  }

  async removeKey (subject: string, match?: KeyMatch): Promise<boolean> {
    return this.#op('removeKey', async () => {
      try {
        await this.client.send(new DeleteItemCommand({
          TableName: this.tables.keys,
          Key: { subject: S(subject) },
          ...(match === undefined
            ? { ConditionExpression: 'attribute_exists(subject)' }
            : { ConditionExpression: 'access_key = :k AND secret_key = :s', ExpressionAttributeValues: { ':k': S(match.access_key), ':s': S(match.secret_key) } })
        }))
        return true
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return false
        throw err
      }
    })
  }

  /** Open, and both tables answer a consistent read within a few seconds. */
  async healthy (): Promise<boolean> {
    if (this.#closed) return false
    try {
      await Promise.all([this.tables.users, this.tables.namespaces].map(async table => {
        const key = table === this.tables.users ? 'subject' : 'namespace'
        await this.client.send(new GetItemCommand({ TableName: table, Key: { [key]: S('__health__') }, ConsistentRead: true }),
          { abortSignal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
      }))
      return true
    } catch {
      return false
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled([...this.#pending])
    this.client.destroy()
  }

  // ---- Internals --------------------------------------------------------------------------------------

  /** Run one interface call: refused once closed; SDK failures become MetadataStoreErrors (503). */
  async #op<T> (what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new MetadataStoreError('The metadata store is closed')
    const p = fn().catch((err: unknown) => {
      if (err instanceof MetadataStoreError) throw err
      throw new MetadataStoreError(`DynamoDB metadata store: ${what} failed: ${describe(err)}`, { cause: err })
    })
    this.#pending.add(p)
    try {
      return await p
    } finally {
      this.#pending.delete(p)
    }
  }

  async #getUser (subject: string): Promise<Item | undefined> {
    const r = await this.client.send(
      new GetItemCommand({ TableName: this.tables.users, Key: { subject: S(subject) }, ConsistentRead: true })
    )
    return r.Item
  }

  async #getNamespaceItem (namespace: string): Promise<Item | undefined> {
    const r = await this.client.send(
      new GetItemCommand({ TableName: this.tables.namespaces, Key: { namespace: S(namespace) }, ConsistentRead: true })
    )
    return r.Item
  }

  #topicList (item: Item | undefined, createdAt: string): TopicRecord[] {
    return setOf(item, 'topics').sort(byName).map(t => decodeTopic(t, item?.[settingsAttr(t)], this.#defaults, createdAt))
  }

  /**
   * The owner of `namespace`: the subject whose `namespaces` set holds it. The namespace item's `owner`
   * attribute names the candidate in one read, and is checked against that subject's set (the existing
   * service may have released the name since). Without a valid `owner` (names claimed by the existing
   * service), the global item says whether anyone holds the name; if so the users table is scanned once, and
   * the owner found is cached on the namespace item.
   */
  async #resolveOwner (namespace: string): Promise<{ owner: string | undefined, item: Item | undefined }> {
    const item = await this.#getNamespaceItem(namespace)
    const cached = str(item, 'owner')
    if (cached !== undefined && setOf(await this.#getUser(cached), 'namespaces').includes(namespace)) {
      return { owner: cached, item }
    }
    // Only a globally listed name can have an owner: one read of the global item spares the scan for free names.
    const listed = setOf(await this.#getUser(GLOBAL_NAMESPACES), 'namespaces').includes(namespace)
    const owner = listed ? await this.#scanForOwner(namespace) : undefined
    if (owner !== cached) await this.#cacheOwner(namespace, owner, cached)
    return { owner, item: owner === cached ? item : await this.#getNamespaceItem(namespace) }
  }

  /** The subject (other than the global item) whose set holds `namespace`, by a consistent scan. */
  async #scanForOwner (namespace: string): Promise<string | undefined> {
    let start: Item | undefined
    do {
      const r = await this.client.send(new ScanCommand({
        TableName: this.tables.users,
        ConsistentRead: true,
        FilterExpression: 'contains(namespaces, :n) AND subject <> :g',
        ProjectionExpression: 'subject',
        ExpressionAttributeValues: { ':n': S(namespace), ':g': S(GLOBAL_NAMESPACES) },
        ...(start !== undefined ? { ExclusiveStartKey: start } : {})
      }))
      for (const it of r.Items ?? []) {
        const s = str(it, 'subject')
        if (s !== undefined) return s
      }
      start = r.LastEvaluatedKey
    } while (start !== undefined)
    return undefined
  }

  /**
   * Record (or clear) the cached owner on the namespace item, only when it still holds what was read, and
   * never creating an item for a free name. Best effort: the cache is always checked before it is trusted.
   */
  async #cacheOwner (namespace: string, owner: string | undefined, expected: string | undefined): Promise<void> {
    const names = { '#owner': 'owner' }
    const cond = expected === undefined ? 'attribute_not_exists(#owner)' : '#owner = :old'
    const values: Item = expected === undefined ? {} : { ':old': S(expected) }
    try {
      if (owner === undefined) {
        if (expected === undefined) return
        await this.client.send(new UpdateItemCommand({
          TableName: this.tables.namespaces,
          Key: { namespace: S(namespace) },
          UpdateExpression: 'REMOVE #owner',
          ConditionExpression: cond,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values
        }))
      } else {
        await this.client.send(new UpdateItemCommand({
          TableName: this.tables.namespaces,
          Key: { namespace: S(namespace) },
          UpdateExpression: 'SET #owner = :s',
          ConditionExpression: cond,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ':s': S(owner) }
        }))
      }
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err
    }
  }

  /** 'ok', or the per-item cancellation codes (undefined where an item was fine). */
  async #transact (items: TransactWriteItem[]): Promise<'ok' | Array<string | undefined>> {
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }))
      return 'ok'
    } catch (err) {
      if (err instanceof TransactionCanceledException) {
        const codes = cancellationCodes(err)
        // A lost race or throttling inside the transaction is retried by the caller with back-off; anything
        // else (a validation error, a size limit) surfaces as a store error (503).
        if (codes.some(c => c !== undefined && !RETRIED_CANCELLATIONS.has(c))) throw err
        return codes.length > 0 ? codes : ['TransactionConflict']
      }
      throw err
    }
  }

  async #checkTables (create: boolean, keys: boolean): Promise<void> {
    const wanted: Array<[keyof DynamoTables, string, string]> = [
      ['users', 'subject', 'USERS_TABLE_NAME'],
      ['namespaces', 'namespace', 'NAMESPACE_TABLE_NAME']
    ]
    if (create || keys) wanted.push(['keys', 'subject', 'KEYS_TABLE_NAME'])
    for (const [which, key, variable] of wanted) {
      const table = this.tables[which]
      const exists = await this.#tableExists(table)
      if (exists) continue
      if (!create) {
        throw new MetadataStoreError(`The DynamoDB table ${table} (${variable}) does not exist. Create it (on demand, hash key ` +
          `"${key}" of type S), point ${variable} at the existing one, or set METADATA_CREATE_TABLES=true to let the service create it.`)
      }
      try {
        await this.client.send(new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: key, KeyType: 'HASH' }]
        }))
      } catch (err) {
        // Another node is creating it at the same moment: wait for it like for ours.
        if (!(err instanceof ResourceInUseException)) throw this.#startError(err)
      }
      try {
        await waitUntilTableExists(
          { client: this.client, maxWaitTime: 120, minDelay: 1, maxDelay: 5 },
          { TableName: table }
        )
      } catch (err) {
        throw this.#startError(err)
      }
    }
  }

  async #tableExists (table: string): Promise<boolean> {
    try {
      await this.client.send(new DescribeTableCommand({ TableName: table }))
      return true
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return false
      throw this.#startError(err)
    }
  }

  #startError (err: unknown): MetadataStoreError {
    return new MetadataStoreError(`Cannot use the DynamoDB metadata store (METADATA_STORE=dynamodb): ${describe(err)}. ` +
      'Check AWS_REGION, the credentials and AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL).', { cause: err })
  }
}

/** An SDK error's name and message (never a request, a header or a credential). */
function describe (err: unknown): string {
  if (isAbort(err)) return 'timed out'
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    return `${err.name}${code !== undefined && code !== err.name ? ` (${code})` : ''}: ${err.message.slice(0, 300)}`
  }
  return String(err)
}

/** Wait before the next attempt of a transaction that lost a race: 20 ms doubling, with full jitter. */
async function backoff (attempt: number): Promise<void> {
  const cap = Math.min(1000, 20 * 2 ** attempt)
  await new Promise(resolve => setTimeout(resolve, Math.random() * cap))
}
