/**
 * Kafka credentials for native clients (`/api/v3/key`, the identity side of `/api/v3/user`), one key per
 * subject, with the same steps in every mode (the mode's backend does the Kafka or IAM side):
 *
 * - issue: a stored key is returned as it is (`fresh: false`). Otherwise a key is minted, stored with a
 *   conditional write (so concurrent requests, on any node, leave exactly one), then activated. The loser of
 *   a race undoes its mint, makes sure the winner's key works (`adopt`) and returns it. A failed activation
 *   removes the stored key again.
 * - delete: the credential of the stored key is revoked first, then that record is removed (a conditional
 *   write: never a key another node stored meanwhile); a failure leaves the record, and the retry finishes.
 * - namespaces claimed or released: the grants follow (NamespaceObserver, called by NamespaceService under
 *   the subject's lock; for a release before the store changes, so access is withdrawn first, and after).
 * - nodes do not lock each other out: after every change to Kafka or IAM the store is read again and the
 *   change repeated until it matches (#settle), so concurrent requests on several nodes end in the state
 *   the store holds last.
 * - secrets are sealed at rest (secret-box.ts) and never logged: errors carry names, never secrets.
 *
 * Operations of one subject run one after another in this process (KeyedMutex). Only UUID subjects (Globus
 * identities) get credentials, so a subject can never name a super user of the cluster.
 * Plain module: no Fastify import.
 */
import { ApiError } from '../errors/errors.js'
import { toKafkaApiError } from '../kafka/errors.js'
import { KeyedMutex } from '../namespaces/keyed-mutex.js'
import type { NamespaceObserver, ServiceLogger } from '../namespaces/namespace-service.js'
import { MetadataStoreError, type KeyRecord, type MetadataStore } from '../namespaces/store.js'
import type { CredentialBackend, MintedKey } from './backend.js'
import { SECRET_ENCRYPTION, type SecretBox } from './secret-box.js'

export type CredentialMode = 'off' | 'iam' | 'scram'

export interface IssuedKey {
  access_key: string
  secret_key: string
  create_date: string
  endpoint: string
  fresh: boolean
  mechanism: string
}

export interface CredentialServiceOptions {
  mode: CredentialMode
  store: MetadataStore
  /** Absent when mode is off. */
  backend?: CredentialBackend
  box?: SecretBox
  /** Bootstrap servers handed to clients (`endpoint`). */
  endpoint: string
  logger?: ServiceLogger
}

const MECHANISM = { iam: 'AWS_MSK_IAM', scram: 'SCRAM-SHA-512', off: '' } as const
const silent: ServiceLogger = { warn () {}, error () {} }
/** Canonical subjects are lower-case UUIDs (plugins/auth). */
const SUBJECT_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/** Rounds of a race with other nodes before answering 503 (each round needs another node's change). */
const MAX_ATTEMPTS = 3

/** What a request made Kafka or IAM match: the stored key (or none) and the namespaces owned. */
interface Snapshot {
  key: KeyRecord | undefined
  namespaces: readonly string[]
}

function sameKey (a: KeyRecord | undefined, b: KeyRecord | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.access_key === b.access_key && a.secret_key === b.secret_key
}

function sameSet (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000')
}

export class CredentialService implements NamespaceObserver {
  readonly mode: CredentialMode
  readonly endpoint: string
  #store: MetadataStore
  #backend: CredentialBackend | undefined
  #box: SecretBox | undefined
  #log: ServiceLogger
  #locks = new KeyedMutex()

  constructor (opts: CredentialServiceOptions) {
    this.mode = opts.mode
    this.endpoint = opts.endpoint
    this.#store = opts.store
    this.#backend = opts.backend
    this.#box = opts.box
    this.#log = opts.logger ?? silent
  }

  get enabled (): boolean {
    return this.mode !== 'off'
  }

  /** The caller's key: the stored one (`fresh: false`) or a new one (`fresh: true`). */
  async issueKey (subject: string): Promise<IssuedKey> {
    const backend = this.#require(subject)
    return this.#locks.run(subject, async () => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const stored = await this.#storeOp(s => s.getKey(subject))
        if (stored) return this.#reply(stored, false)
        const namespaces = await this.#storeOp(s => s.namespacesOf(subject))
        const minted = await this.#backendOp('create the key', () => backend.mint(subject, namespaces))
        const record = this.#seal(subject, minted)
        let won: boolean
        try {
          won = await this.#storeOp(s => s.putKeyIfAbsent(record))
        } catch (err) {
          await this.#quietly('discard a key that could not be stored', () => backend.discard(subject, minted))
          throw err
        }
        if (!won) {
          await this.#quietly('discard a key that lost a race', () => backend.discard(subject, minted))
          const winner = await this.#storeOp(s => s.getKey(subject))
          if (!winner) continue // deleted meanwhile: start again
          const reply = this.#reply(winner, false)
          const works = await this.#backendOp('activate the key', () => backend.adopt(subject, reply, namespaces))
          if (!works) {
            await this.#storeOp(s => s.removeKey(subject, winner))
            continue
          }
          await this.#settle(subject, backend, { key: winner, namespaces })
          return reply
        }
        try {
          await this.#backendOp('activate the key', () => backend.activate(subject, minted, namespaces))
        } catch (err) {
          // Leave nothing half-made: no stored key, no credential (and whatever another node stored meanwhile
          // works).
          await this.#quietly('remove a key that could not be activated', async () => {
            await this.#store.removeKey(subject, record)
            await backend.revoke(subject, minted.access_key)
            await this.#settle(subject, backend, { key: undefined, namespaces })
          })
          throw err
        }
        // A delete on another node may have removed this key meanwhile, and a POST there stored the next one:
        // the settle makes Kafka or IAM match whatever is stored now. This reply stays valid until then, as
        // if this request had come first.
        await this.#settle(subject, backend, { key: record, namespaces })
        return { ...this.#reply(record, true), secret_key: minted.secret_key }
      }
      throw new ApiError(503, 503, 'The key changed repeatedly while it was being created; retry', { code: 'KEY_CONFLICT' })
    })
  }

  /**
   * Delete the caller's key (stored and live); false when there was none stored. Idempotent. The credential
   * is revoked before the record goes, so a failure midway leaves the record and a retry finishes the job;
   * only the key read here is removed (a conditional write), never one that a POST on another node stored
   * meanwhile, and that one works when this returns (settle).
   */
  async deleteKey (subject: string): Promise<boolean> {
    const backend = this.#require(subject)
    return this.#locks.run(subject, async () => {
      const stored = await this.#storeOp(s => s.getKey(subject))
      const namespaces = await this.#storeOp(s => s.namespacesOf(subject))
      await this.#backendOp('revoke the key', () => backend.revoke(subject, stored?.access_key))
      const removed = stored !== undefined && await this.#storeOp(s => s.removeKey(subject, stored))
      await this.#settle(subject, backend, { key: undefined, namespaces })
      return removed
    })
  }

  /** POST /api/v3/user: the identity of the mode (IAM user and policy), when credentials are on. */
  async ensureUser (subject: string): Promise<void> {
    const backend = this.#backend
    if (!backend) return
    // Only IAM makes an identity here (SCRAM's comes with the key).
    if (backend.mode === 'iam') this.#requireSubject(subject)
    await this.#locks.run(subject, async () => {
      const namespaces = await this.#storeOp(s => s.namespacesOf(subject))
      await this.#backendOp('create the user', () => backend.ensureUser(subject, namespaces))
    })
  }

  /**
   * DELETE /api/v3/user: the credentials and the identity, then the stored key (so a failure midway leaves
   * the record, and the retry finishes the job). Idempotent.
   */
  async removeUser (subject: string): Promise<void> {
    const backend = this.#backend
    if (!backend) return
    await this.#locks.run(subject, async () => {
      const stored = await this.#storeOp(s => s.getKey(subject))
      const namespaces = await this.#storeOp(s => s.namespacesOf(subject))
      await this.#backendOp('remove the user', () => backend.removeUser(subject))
      if (stored) await this.#storeOp(s => s.removeKey(subject, stored))
      // A key that a POST on another node stored meanwhile: made to work, or dropped when it cannot (IAM).
      await this.#settle(subject, backend, { key: undefined, namespaces })
    })
  }

  /** NamespaceObserver: the subject's namespaces are (about to be) `namespaces`. */
  async namespacesChanged (subject: string, namespaces: readonly string[], releasing?: string): Promise<void> {
    const backend = this.#backend
    if (!backend) return
    await this.#locks.run(subject, async () => {
      const key = await this.#storeOp(s => s.getKey(subject))
      await this.#backendOp('update the Kafka permissions', () => backend.sync(subject, namespaces, key !== undefined))
      await this.#settle(subject, backend, { key, namespaces: [...namespaces] }, releasing)
    })
  }

  async close (): Promise<void> {
    await this.#backend?.close()
  }

  // ---- Internals --------------------------------------------------------------------------------------

  #require (subject: string): CredentialBackend {
    if (!this.#backend) {
      // A 4xx: nothing failed on the server; this deployment does not issue credentials.
      throw new ApiError(403, 40301, 'Kafka credentials are not enabled on this service (KAFKA_CREDENTIALS=off); ' +
        'the operator can enable them with KAFKA_CREDENTIALS=iam or scram (see /docs)', { code: 'CREDENTIALS_DISABLED' })
    }
    this.#requireSubject(subject)
    return this.#backend
  }

  /**
   * The subject names the Kafka principal or IAM user: only a Globus identity (a UUID) may have one, so no
   * token can ever name the service's own principal or another super user (`admin`, `ANONYMOUS`…).
   */
  #requireSubject (subject: string): void {
    if (!SUBJECT_RE.test(subject)) {
      throw new ApiError(403, 40301, 'Kafka credentials are issued to Globus identities (UUID subjects) only', { code: 'FORBIDDEN' })
    }
  }

  /**
   * Make Kafka or IAM match the store, which another node may change at any time: read the subject's key
   * and namespaces; while they differ from `applied` (what this request last made Kafka or IAM match),
   * apply them and read again. Every request that changes Kafka or IAM ends here, so the change that lands
   * last was made from the store's latest state. `releasing`: a namespace on its way out, whose grants go
   * although the store still lists it (NamespaceObserver).
   */
  async #settle (subject: string, backend: CredentialBackend, applied: Snapshot, releasing?: string): Promise<void> {
    for (let round = 0; round < MAX_ATTEMPTS * 2; round++) {
      const key = await this.#storeOp(s => s.getKey(subject))
      const namespaces = (await this.#storeOp(s => s.namespacesOf(subject))).filter(n => n !== releasing)
      const keyChanged = !sameKey(key, applied.key)
      if (!keyChanged && sameSet(namespaces, applied.namespaces)) return
      if (keyChanged && key) {
        const works = await this.#backendOp('activate the key', () => backend.adopt(subject, this.#reply(key, false), namespaces))
        // Deleted at IAM by a concurrent request: the record is dead, drop it (the next POST mints a key).
        if (!works) await this.#storeOp(s => s.removeKey(subject, key))
      } else if (keyChanged) {
        await this.#backendOp('revoke the key', () => backend.revoke(subject, undefined))
      }
      await this.#backendOp('update the Kafka permissions', () => backend.sync(subject, namespaces, key !== undefined))
      applied = { key, namespaces }
    }
    throw new ApiError(503, 503, 'The key or namespaces kept changing on other nodes; retry', { code: 'KEY_CONFLICT' })
  }

  #seal (subject: string, key: MintedKey): KeyRecord {
    const box = this.#box
    if (!box) throw new Error('credentials need KEYS_ENCRYPTION_KEY')
    return {
      subject,
      access_key: key.access_key,
      secret_key: box.seal(key.secret_key, subject, key.access_key),
      create_date: new Date().toISOString(),
      encryption: SECRET_ENCRYPTION
    }
  }

  #reply (record: KeyRecord, fresh: boolean): IssuedKey {
    let secret = record.secret_key
    if (record.encryption !== undefined) {
      if (record.encryption !== SECRET_ENCRYPTION || !this.#box) {
        throw new ApiError(500, 500, `The stored key is sealed with ${record.encryption}, which this service cannot open`, { code: 'KEY_UNREADABLE' })
      }
      try {
        secret = this.#box.open(record.secret_key, record.subject, record.access_key)
      } catch (err) {
        this.#log.error({ err, subject: record.subject }, 'stored key does not open')
        throw new ApiError(500, 500, 'The stored key cannot be decrypted (KEYS_ENCRYPTION_KEY changed?); delete it with DELETE /api/v3/key', { code: 'KEY_UNREADABLE' })
      }
    }
    return {
      access_key: record.access_key,
      secret_key: secret,
      create_date: record.create_date,
      endpoint: this.endpoint,
      fresh,
      mechanism: MECHANISM[this.mode]
    }
  }

  async #storeOp<T> (fn: (store: MetadataStore) => Promise<T>): Promise<T> {
    try {
      return await fn(this.#store)
    } catch (err) {
      if (err instanceof MetadataStoreError) {
        this.#log.error({ err }, 'metadata store failure')
        throw new ApiError(503, 503, 'The metadata store is unavailable; retry later', { code: 'METADATA_STORE_UNAVAILABLE' })
      }
      throw err
    }
  }

  /** Backend failures: Kafka's become the contract's errors, IAM's a 503; details are logged, not sent. */
  async #backendOp<T> (what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof ApiError) throw err
      this.#log.error({ err }, `could not ${what}`)
      if (this.mode === 'scram') {
        const api = toKafkaApiError(err)
        throw new ApiError(api.statusCode >= 500 ? 503 : api.statusCode, api.errorCode, `Could not ${what} in Kafka: ${api.message}`, { code: 'CREDENTIALS_UNAVAILABLE' })
      }
      throw new ApiError(503, 503, `Could not ${what} in AWS IAM; retry later`, { code: 'CREDENTIALS_UNAVAILABLE' })
    }
  }

  async #quietly (what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn()
    } catch (err) {
      this.#log.warn({ err }, `could not ${what}; the next request for this subject repairs it`)
    }
  }
}
