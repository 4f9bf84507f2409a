/**
 * Namespace ownership and the topic lifecycle, keeping the metadata store and Kafka consistent:
 *
 * - create: Kafka first, then metadata. A failed Kafka create leaves no metadata; a failed metadata write
 *   deletes the Kafka topic again. A create whose outcome is unknown (timeout) is settled by asking Kafka.
 * - delete: Kafka first, then metadata. A failed Kafka delete keeps the metadata and returns the error, so a
 *   Kafka topic is never left without an owner. The call returns once Kafka no longer lists the topic, so a
 *   create right after it cannot meet the old topic.
 * - recreate: delete, poll until Kafka no longer lists the topic (no fixed sleep), create with the stored
 *   settings.
 * - Every operation on a namespace runs under that namespace's lock (claims and releases also under the
 *   subject's lock, taken first), so concurrent requests in this process end in a consistent state.
 *
 * Leftover Kafka topics carrying a namespace's prefix without metadata (a crash between the two writes) are
 * adopted by the next create of that name, removed by delete, and removed before a namespace is released,
 * so they never pass to a later owner of the name.
 * Plain module: no Fastify import.
 */
import { ApiError, Errors } from '../errors/errors.js'
import { toKafkaApiError } from '../kafka/errors.js'
import { deletionTimeout, KafkaTopics, type KafkaAdminSource, type ServiceLogger } from './kafka-topics.js'
export type { KafkaAdminSource, ServiceLogger } from './kafka-topics.js'
import { KeyedMutex } from './keyed-mutex.js'
import {
  DEFAULT_NAMESPACE_RE,
  RESERVED_NAMESPACES,
  assertName,
  defaultNamespace,
  isValidName,
  kafkaGroup,
  kafkaTopic,
  userTopic
} from './names.js'
import { scopePattern, type ScopedPattern } from './pattern.js'
import { MetadataStoreError, type MetadataStore, type TopicRecord, type TopicSettings } from './store.js'
import { resolveSettings, settingsConflicts, type TopicLimits, type TopicRequest } from './topic-settings.js'

/**
 * Told when a subject's set of namespaces changes, to keep grants outside the store in step (Kafka ACLs, IAM
 * policies: plugins/credentials). Called under the subject's lock: after a claim; before a release, with the
 * set as it will be and `releasing` naming the namespace on its way out (the store still lists it), so
 * access is withdrawn before a name can pass to someone else; and again after the release is stored, so a
 * grant that another node computed from the store before the release is withdrawn too. A failure fails the
 * claim (which a retry repeats, idempotently) or stops the release; after the release it is only logged.
 */
export interface NamespaceObserver {
  namespacesChanged (subject: string, namespaces: readonly string[], releasing?: string): Promise<void>
}

export interface NamespaceServiceOptions {
  store: MetadataStore
  kafka: KafkaAdminSource
  limits: TopicLimits & { TOPIC_RECREATE_TIMEOUT_MS: number }
  logger?: ServiceLogger
  /** How long `requireOwnedOnDataPath` trusts a confirmed owner (0: always ask the store). */
  ownerCacheMs?: number
  now?: () => number
}

export interface CreateUserResult { namespace: string, created: boolean }
export interface DeleteUserResult { namespace: string, deleted: boolean, topics: string[] }
export interface ClaimResultT { namespace: string, created: boolean, namespaces: string[] }
export interface ReleaseResultT { namespace: string, namespaces: string[] }
export interface CreateTopicResult { topic: string, created: boolean, settings: TopicSettings, topics: string[] }
export interface DeleteTopicResult { topic: string, deleted: boolean, topics: string[] }
export interface RecreateTopicResult { topic: string, settings: TopicSettings }

const OWNER_CACHE_MAX = 10_000

const silent: ServiceLogger = { warn () {}, error () {} }

export class NamespaceService {
  readonly store: MetadataStore
  readonly kafka: KafkaAdminSource
  readonly limits: NamespaceServiceOptions['limits']
  #log: ServiceLogger
  #topics: KafkaTopics
  #nsLocks = new KeyedMutex()
  #subjectLocks = new KeyedMutex()
  #observers: NamespaceObserver[] = []
  #ownerCacheMs: number
  #now: () => number
  /** namespace → the owner the store confirmed, until when (insertion order: oldest first). */
  #owners = new Map<string, { subject: string, until: number }>()

  constructor (opts: NamespaceServiceOptions) {
    this.#ownerCacheMs = opts.ownerCacheMs ?? 0
    this.#now = opts.now ?? Date.now
    this.store = opts.store
    this.kafka = opts.kafka
    this.limits = opts.limits
    this.#log = opts.logger ?? silent
    this.#topics = new KafkaTopics(opts.kafka, opts.limits.TOPIC_RECREATE_TIMEOUT_MS, this.#log)
  }

  /** Add an observer of namespace claims and releases. */
  observe (observer: NamespaceObserver): void {
    this.#observers.push(observer)
  }

  // ---- Used by the consumer engine -------------------------------------------------------------------

  /**
   * Resolves when `subject` owns `namespace`; otherwise throws `Errors.namespaceNotFound` (404, 40401), the
   * same for an unknown and a foreign namespace so the answer never tells them apart.
   */
  async requireOwned (subject: string, namespace: string): Promise<void> {
    if (!isValidName(namespace)) throw Errors.namespaceNotFound(namespace)
    const owner = await this.#storeOp(s => s.ownerOf(namespace))
    if (owner === undefined || owner !== subject) throw Errors.namespaceNotFound(namespace)
  }

  /**
   * `requireOwned` for the record paths (produce, the consumer routes), which ask on every request: with a
   * remote store (DynamoDB) a confirmed owner is trusted for `ownerCacheMs`. Only confirmations are kept, so
   * a namespace claimed on another node is usable at once; this node's releases drop their entry, and another
   * node's release reaches this one within `ownerCacheMs`. Management changes always ask the store.
   */
  async requireOwnedOnDataPath (subject: string, namespace: string): Promise<void> {
    if (this.#ownerCacheMs <= 0) return this.requireOwned(subject, namespace)
    const now = this.#now()
    const hit = this.#owners.get(namespace)
    if (hit !== undefined && hit.subject === subject && hit.until > now) return
    await this.requireOwned(subject, namespace)
    this.#owners.delete(namespace)
    this.#owners.set(namespace, { subject, until: now + this.#ownerCacheMs })
    if (this.#owners.size > OWNER_CACHE_MAX) {
      const oldest = this.#owners.keys().next().value
      if (oldest !== undefined) this.#owners.delete(oldest)
    }
  }

  kafkaTopic (namespace: string, topic: string): string {
    return kafkaTopic(namespace, topic)
  }

  kafkaGroup (namespace: string, group: string): string {
    return kafkaGroup(namespace, group)
  }

  userTopic (namespace: string, topic: string): string | undefined {
    return userTopic(namespace, topic)
  }

  scopePattern (namespace: string, pattern: string): ScopedPattern {
    return scopePattern(namespace, pattern)
  }

  async storeHealthy (): Promise<boolean> {
    return this.store.healthy().catch(() => false)
  }

  defaultNamespace (subject: string): string {
    return defaultNamespace(subject)
  }

  // ---- Users ------------------------------------------------------------------------------------------

  /** Claim the caller's default namespace (idempotent; needs only the store). */
  async createUser (subject: string): Promise<CreateUserResult> {
    const namespace = defaultNamespace(subject)
    return this.#subjectLocks.run(subject, () => this.#nsLocks.run(namespace, async () => {
      const result = await this.#storeOp(s => s.claimNamespace(subject, namespace))
      if (result === 'taken') throw Errors.conflict(`Namespace already taken: ${namespace}`, 'NAMESPACE_TAKEN')
      return { namespace, created: result === 'created' }
    }))
  }

  /**
   * Refuses while the caller owns namespaces besides the default one; otherwise deletes the default
   * namespace's topics from Kafka, then their metadata, then the namespace. Idempotent.
   */
  async deleteUser (subject: string): Promise<DeleteUserResult> {
    const namespace = defaultNamespace(subject)
    return this.#subjectLocks.run(subject, async () => {
      const owned = await this.#storeOp(s => s.namespacesOf(subject))
      const others = owned.filter(n => n !== namespace)
      if (others.length > 0) {
        throw Errors.conflict(`Cannot delete user ${subject}: user has ${others.length} additional namespace(s). Delete namespaces first.`, 'USER_HAS_NAMESPACES')
      }
      if (!owned.includes(namespace)) return { namespace, deleted: false, topics: [] }
      return this.#nsLocks.run(namespace, async () => {
        await this.#notify(subject, [], namespace)
        const removed = await this.#purgeNamespace(namespace)
        const result = await this.#storeOp(s => s.releaseNamespace(subject, namespace))
        await this.#resync(subject)
        if (result !== 'released' && result !== 'absent') {
          throw Errors.conflict(`Namespace ${namespace} changed while the user was being deleted; retry`, 'CONFLICT')
        }
        return { namespace, deleted: true, topics: removed }
      })
    })
  }

  // ---- Namespaces -------------------------------------------------------------------------------------

  /** `{namespace: [topics…]}` for every namespace the caller owns. */
  async listNamespaces (subject: string): Promise<Record<string, string[]>> {
    const names = await this.#storeOp(s => s.namespacesOf(subject))
    const out: Record<string, string[]> = {}
    for (const ns of names) out[ns] = (await this.#storeOp(s => s.topicsOf(ns))).map(t => t.name)
    return out
  }

  /**
   * Claim an additional namespace. The name is global: 409 when another subject holds it, or when Kafka
   * already has topics under it (created outside this service). Names shaped like a default namespace are
   * reserved for the subject they derive from.
   */
  async claimNamespace (subject: string, namespace: string): Promise<ClaimResultT> {
    assertName('namespace', namespace)
    if (RESERVED_NAMESPACES.has(namespace)) {
      throw new ApiError(422, 42204, `Namespace name ${JSON.stringify(namespace)} is reserved`, { code: 'INVALID_NAME' })
    }
    const own = defaultNamespace(subject)
    if (DEFAULT_NAMESPACE_RE.test(namespace) && namespace !== own) {
      throw Errors.conflict(`Namespace names of the form ns-<12 hex digits> are reserved for default namespaces: ${namespace}`, 'NAMESPACE_RESERVED')
    }
    return this.#subjectLocks.run(subject, () => this.#nsLocks.run(namespace, async () => {
      const owner = await this.#storeOp(s => s.ownerOf(namespace))
      if (owner !== undefined && owner !== subject) throw Errors.conflict(`Namespace already taken: ${namespace}`, 'NAMESPACE_TAKEN')
      if (owner === undefined && namespace !== own) {
        const leftovers = (await this.#topics.run(async admin => admin.listTopics()))
          .filter(t => userTopic(namespace, t) !== undefined)
        if (leftovers.length > 0) throw Errors.conflict(`Namespace already taken: ${namespace}`, 'NAMESPACE_TAKEN')
      }
      const result = await this.#storeOp(s => s.claimNamespace(subject, namespace))
      if (result === 'taken') throw Errors.conflict(`Namespace already taken: ${namespace}`, 'NAMESPACE_TAKEN')
      const namespaces = await this.#storeOp(s => s.namespacesOf(subject))
      await this.#notify(subject, namespaces)
      return { namespace, created: result === 'created', namespaces }
    }))
  }

  /** Release an owned namespace that holds no topics (leftover Kafka topics under its prefix are deleted). */
  async releaseNamespace (subject: string, namespace: string): Promise<ReleaseResultT> {
    return this.#subjectLocks.run(subject, () => this.#nsLocks.run(namespace, async () => {
      await this.requireOwned(subject, namespace)
      const topics = await this.#storeOp(s => s.topicsOf(namespace))
      if (topics.length > 0) {
        throw Errors.conflict(`Namespace ${namespace} still has ${topics.length} topic(s); delete them first`, 'NAMESPACE_NOT_EMPTY')
      }
      const before = await this.#storeOp(s => s.namespacesOf(subject))
      await this.#notify(subject, before.filter(n => n !== namespace), namespace)
      let result: Awaited<ReturnType<MetadataStore['releaseNamespace']>>
      try {
        await this.#purgeNamespace(namespace)
        result = await this.#storeOp(s => s.releaseNamespace(subject, namespace))
      } catch (err) {
        await this.#resync(subject)
        throw err
      }
      if (result === 'not-empty' || result === 'not-owner') await this.#resync(subject)
      if (result === 'not-empty') throw Errors.conflict(`Namespace ${namespace} is not empty`, 'NAMESPACE_NOT_EMPTY')
      if (result === 'not-owner') throw Errors.namespaceNotFound(namespace)
      await this.#resync(subject)
      const namespaces = await this.#storeOp(s => s.namespacesOf(subject))
      return { namespace, namespaces }
    }))
  }

  // ---- Topics -----------------------------------------------------------------------------------------

  /**
   * Create topic `topic` in an owned namespace, idempotently: an existing topic answers `created: false`
   * unless the request explicitly asks for different settings (409).
   */
  async createTopic (
    subject: string,
    namespace: string,
    topic: string,
    request?: TopicRequest
  ): Promise<CreateTopicResult> {
    await this.requireOwned(subject, namespace)
    assertName('topic', topic)
    const name = kafkaTopic(namespace, topic)
    return this.#nsLocks.run(namespace, async () => {
      await this.requireOwned(subject, namespace) // it may have been released while we waited
      const existing = await this.#storeOp(s => s.getTopic(namespace, topic))
      const brokers = await this.#topics.run(admin => admin.brokerCount())
      if (existing) {
        if (request) {
          const conflicts = settingsConflicts(
            request,
            resolveSettings(request, this.limits, brokers),
            existing.settings
          )
          if (conflicts.length > 0) {
            throw Errors.conflict(`Topic ${topic} already exists in ${namespace} with other settings: ${conflicts.join('; ')}`, 'TOPIC_SETTINGS_CONFLICT')
          }
        }
        // Ensure Kafka has it too (normally "already exists"; re-creates a topic removed behind our back).
        const outcome = await this.#topics.run(admin => this.#topics.create(admin, name, existing.settings))
        if (outcome === 'created') this.#log.warn({ topic: name }, 're-created a Kafka topic that its metadata listed but Kafka did not')
        return { topic, created: false, settings: existing.settings, topics: await this.#topicNames(namespace) }
      }
      const settings = resolveSettings(request, this.limits, brokers)
      const outcome = await this.#topics.run(admin => this.#topics.create(admin, name, settings))
      if (outcome === 'exists') this.#log.warn({ topic: name }, 'adopting a Kafka topic that had no metadata')
      const record: TopicRecord = { name: topic, settings, createdAt: new Date().toISOString() }
      try {
        await this.#storeOp(s => s.putTopic(namespace, record))
      } catch (err) {
        // Undo the Kafka create so no topic is left without metadata.
        await this.#topics.run(admin => this.#topics.deleteIfListed(admin, name)).catch((e: unknown) => {
          this.#log.error({ err: e, topic: name }, 'could not delete a Kafka topic after its metadata write failed; it is orphaned until its owner creates or deletes it again')
        })
        throw err
      }
      return { topic, created: true, settings, topics: await this.#topicNames(namespace) }
    })
  }

  /** Delete a topic: Kafka first; on failure the metadata stays and the error is returned. Idempotent. */
  async deleteTopic (subject: string, namespace: string, topic: string): Promise<DeleteTopicResult> {
    await this.requireOwned(subject, namespace)
    assertName('topic', topic)
    const name = kafkaTopic(namespace, topic)
    return this.#nsLocks.run(namespace, async () => {
      await this.requireOwned(subject, namespace)
      const inKafka = await this.#topics.run(admin => this.#topics.deleteIfListed(admin, name))
      const inStore = await this.#storeOp(s => s.removeTopic(namespace, topic))
      return { topic, deleted: inKafka || inStore, topics: await this.#topicNames(namespace) }
    })
  }

  /**
   * Delete the topic, wait until Kafka no longer lists it, and create it again with the stored settings.
   * If the create fails the metadata goes too (Kafka and metadata agree that the topic is gone) and the
   * error says so.
   */
  async recreateTopic (subject: string, namespace: string, topic: string): Promise<RecreateTopicResult> {
    await this.requireOwned(subject, namespace)
    assertName('topic', topic)
    const name = kafkaTopic(namespace, topic)
    return this.#nsLocks.run(namespace, async () => {
      await this.requireOwned(subject, namespace)
      const record = await this.#storeOp(s => s.getTopic(namespace, topic))
      if (!record) throw new ApiError(404, 40401, `Topic ${topic} not found in ${namespace}`, { code: 'TOPIC_NOT_FOUND' })
      // Check before deleting anything: the cluster may have shrunk below the stored replication factor.
      const brokers = await this.#topics.run(admin => admin.brokerCount())
      // A topic created by the existing service has no stored settings: it gets the configured defaults.
      const settings = record.inferred === true ? resolveSettings(undefined, this.limits, brokers) : record.settings
      if (settings.replication_factor > brokers) {
        throw Errors.conflict(`Topic ${topic} has replication factor ${settings.replication_factor} but the cluster has ${brokers} broker(s); it was not deleted`, 'TOPIC_SETTINGS_CONFLICT')
      }
      const deadline = Date.now() + this.limits.TOPIC_RECREATE_TIMEOUT_MS
      // Until Kafka accepts the deletion nothing has changed: a failure there keeps topic and metadata.
      await this.#topics.run(async admin => {
        if ((await admin.listTopics()).includes(name)) await this.#topics.delete(admin, [name])
      })
      try {
        await this.#topics.run(async admin => {
          if (!await this.#topics.waitGone(admin, [name], deadline)) {
            throw deletionTimeout(name, this.limits.TOPIC_RECREATE_TIMEOUT_MS)
          }
          await this.#topics.createAfterDelete(admin, name, settings, deadline)
        })
      } catch (err) {
        // The old topic is gone (or going): drop the metadata too, so both agree, and say so.
        await this.#storeOp(s => s.removeTopic(namespace, topic)).catch((e: unknown) => {
          this.#log.error({ err: e, topic: name }, 'could not remove the metadata of a topic that failed to be recreated')
        })
        const api = err instanceof ApiError ? err : toKafkaApiError(err)
        throw new ApiError(api.statusCode, api.errorCode,
          `Topic ${topic} was deleted but could not be created again (${api.message}); create it again with POST`, { code: api.code })
      }
      if (record.inferred === true) {
        // Keep the settings it now has, so the next recreate reproduces them.
        const recreated = { name: topic, settings, createdAt: new Date().toISOString() }
        await this.#storeOp(s => s.putTopic(namespace, recreated)).catch((e: unknown) => {
          this.#log.warn({ err: e, topic: name }, 'could not store the settings of a recreated topic')
        })
      }
      return { topic, settings }
    })
  }

  // ---- Internals -------------------------------------------------------------------------------------

  async #notify (subject: string, namespaces: readonly string[], releasing?: string): Promise<void> {
    // A change of this subject's namespaces (a release, the user's deletion) ends what this node trusted.
    for (const [namespace, entry] of this.#owners) {
      if (entry.subject === subject && !namespaces.includes(namespace)) this.#owners.delete(namespace)
    }
    for (const o of this.#observers) await o.namespacesChanged(subject, namespaces, releasing)
  }

  /**
   * After a release, done or not: make the grants match what the store now says the subject owns (best
   * effort, logged): grant again what a failed release kept, withdraw what another node granted meanwhile.
   */
  async #resync (subject: string): Promise<void> {
    try {
      await this.#notify(subject, await this.#storeOp(s => s.namespacesOf(subject)))
    } catch (err) {
      this.#log.warn({ err }, 'could not bring the Kafka permissions in step with the namespaces owned; the next claim or release of the subject repairs them')
    }
  }

  async #topicNames (namespace: string): Promise<string[]> {
    return (await this.#storeOp(s => s.topicsOf(namespace))).map(t => t.name)
  }

  /**
   * Delete every Kafka topic of `namespace` (metadata-listed ones and leftovers under its prefix), then
   * their metadata. On a Kafka failure, metadata is only removed for topics Kafka no longer lists.
   * Caller holds the namespace lock.
   */
  async #purgeNamespace (namespace: string): Promise<string[]> {
    const records = await this.#storeOp(s => s.topicsOf(namespace))
    try {
      await this.#topics.run(async admin => {
        const listed = await admin.listTopics()
        const names = listed.filter(t => userTopic(namespace, t) !== undefined)
        if (names.length === 0) return
        await this.#topics.delete(admin, names)
        await this.#topics.waitGone(admin, names, Date.now() + this.limits.TOPIC_RECREATE_TIMEOUT_MS)
      })
    } catch (err) {
      const left = await this.#topics.run(async admin => new Set(await admin.listTopics())).catch(() => undefined)
      if (left) {
        for (const r of records) {
          if (!left.has(kafkaTopic(namespace, r.name))) {
            await this.#storeOp(s => s.removeTopic(namespace, r.name)).catch(() => {})
          }
        }
      }
      throw err
    }
    for (const r of records) await this.#storeOp(s => s.removeTopic(namespace, r.name))
    return records.map(r => r.name)
  }

  /** Run a store call; store failures become 503 METADATA_STORE_UNAVAILABLE (details are logged, not sent). */
  async #storeOp<T> (fn: (store: MetadataStore) => Promise<T>): Promise<T> {
    try {
      return await fn(this.store)
    } catch (err) {
      if (err instanceof MetadataStoreError) {
        this.#log.error({ err }, 'metadata store failure')
        throw new ApiError(503, 503, 'The metadata store is unavailable; retry later', { code: 'METADATA_STORE_UNAVAILABLE' })
      }
      throw err
    }
  }
}
