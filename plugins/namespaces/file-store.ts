/**
 * The embedded metadata store: one JSON file (METADATA_STORE), needing nothing installed.
 *
 * - Every change is written atomically: a temp file in the same directory is written and fsynced, renamed
 *   over the store, then the directory is fsynced, so a crash leaves either the old or the new file.
 * - Changes are serialized within the process (one queue), and the in-memory state only moves on after the
 *   file is on disk, so a failed write changes nothing. One process per file: several service processes
 *   must not share a file (use the DynamoDB store for that, docs/metadata-store.md).
 * - A file that is not valid JSON or not in this format stops the start with a message naming the path:
 *   starting empty instead would silently free every namespace for anyone to claim.
 * Plain module: no Fastify import.
 */
import { randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { isValidName } from './names.js'
import {
  MetadataStoreError,
  type ClaimResult,
  type KeyMatch,
  type KeyRecord,
  type MetadataStore,
  type NamespaceRecord,
  type ReleaseResult,
  type TopicRecord
} from './store.js'

const FORMAT = 'diaspora-metadata'

const SettingsSchema = Type.Object({
  num_partitions: Type.Integer({ minimum: 1 }),
  replication_factor: Type.Integer({ minimum: 1 }),
  configs: Type.Record(Type.String(), Type.String())
}, { additionalProperties: false })

const TopicSchema = Type.Object({
  settings: SettingsSchema,
  createdAt: Type.String()
}, { additionalProperties: false })

const NamespaceSchema = Type.Object({
  owner: Type.String({ minLength: 1 }),
  createdAt: Type.String(),
  topics: Type.Record(Type.String(), TopicSchema)
}, { additionalProperties: false })

const KeySchema = Type.Object({
  access_key: Type.String({ minLength: 1 }),
  secret_key: Type.String(),
  create_date: Type.String(),
  encryption: Type.Optional(Type.String())
}, { additionalProperties: false })

const FileSchema = Type.Object({
  format: Type.Literal(FORMAT),
  version: Type.Literal(1),
  namespaces: Type.Record(Type.String(), NamespaceSchema),
  /** Kafka credentials by subject (absent in files written before they existed). */
  keys: Type.Optional(Type.Record(Type.String(), KeySchema))
}, { additionalProperties: false })

type FileState = Static<typeof FileSchema>

/** The file-system calls the store makes; tests replace one of them to inject a failure. */
export interface FileStoreIo {
  readFile: (path: string, encoding: 'utf8') => Promise<string>
  open: typeof fsp.open
  rename: (from: string, to: string) => Promise<void>
  rm: (path: string, opts: { force: boolean }) => Promise<void>
  mkdir: (path: string, opts: { recursive: boolean }) => Promise<unknown>
  readdir: (path: string) => Promise<string[]>
}

const defaultIo: FileStoreIo = {
  readFile: (p, e) => fsp.readFile(p, e),
  open: fsp.open,
  rename: fsp.rename,
  rm: fsp.rm,
  mkdir: fsp.mkdir,
  readdir: (p) => fsp.readdir(p)
}

export interface FileStoreOptions {
  io?: Partial<FileStoreIo>
}

function emptyState (): FileState {
  return { format: FORMAT, version: 1, namespaces: {} }
}

export class FileMetadataStore implements MetadataStore {
  readonly path: string
  readonly io: FileStoreIo
  #state: FileState
  #bySubject = new Map<string, Set<string>>()
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false

  private constructor (path: string, state: FileState, io: FileStoreIo) {
    this.path = path
    this.#state = state
    this.io = io
    this.#reindex()
  }

  /** Load (or start) the store at `path`; throws a MetadataStoreError naming the path when it is unusable. */
  static async open (path: string, opts: FileStoreOptions = {}): Promise<FileMetadataStore> {
    const io = { ...defaultIo, ...opts.io }
    const abs = resolve(path)
    let text: string | undefined
    try {
      text = await io.readFile(abs, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') {
        throw new MetadataStoreError(`Cannot read the metadata store ${abs} (METADATA_STORE): ${(err as Error).message}`, { path: abs, cause: err })
      }
    }
    try {
      await io.mkdir(dirname(abs), { recursive: true })
    } catch (err) {
      throw new MetadataStoreError(`Cannot create the directory of the metadata store ${abs} (METADATA_STORE): ${(err as Error).message}`, { path: abs, cause: err })
    }
    const state = text === undefined ? emptyState() : parseState(abs, text)
    const store = new FileMetadataStore(abs, state, io)
    await store.#removeStaleTemps()
    return store
  }

  async namespacesOf (subject: string): Promise<string[]> {
    this.#assertOpen()
    return [...(this.#bySubject.get(subject) ?? [])].sort()
  }

  async getNamespace (namespace: string): Promise<NamespaceRecord | undefined> {
    this.#assertOpen()
    const ns = this.#ns(this.#state, namespace)
    if (!ns) return undefined
    return { name: namespace, owner: ns.owner, createdAt: ns.createdAt, topics: topicList(ns) }
  }

  /** Every namespace with its owner and topics, sorted by name (for `npm run metadata`). */
  async allNamespaces (): Promise<NamespaceRecord[]> {
    this.#assertOpen()
    return Object.keys(this.#state.namespaces).sort().map(name => {
      const ns = this.#state.namespaces[name] as FileState['namespaces'][string]
      return { name, owner: ns.owner, createdAt: ns.createdAt, topics: topicList(ns) }
    })
  }

  /** Every key record, by subject (for `npm run metadata`). */
  async allKeys (): Promise<KeyRecord[]> {
    this.#assertOpen()
    const keys = this.#state.keys ?? {}
    return Object.keys(keys).sort().flatMap(subject => {
      const k = keys[subject]
      return k === undefined ? [] : [{ subject, ...structuredClone(k) }]
    })
  }

  async ownerOf (namespace: string): Promise<string | undefined> {
    this.#assertOpen()
    return this.#ns(this.#state, namespace)?.owner
  }

  claimNamespace (subject: string, namespace: string): Promise<ClaimResult> {
    return this.#mutate(draft => {
      if (!isValidName(namespace)) throw new MetadataStoreError(`Invalid namespace name ${JSON.stringify(namespace)}`)
      const ns = this.#ns(draft, namespace)
      if (ns) return { result: ns.owner === subject ? 'owned' : 'taken', changed: false }
      draft.namespaces[namespace] = { owner: subject, createdAt: new Date().toISOString(), topics: {} }
      return { result: 'created', changed: true }
    })
  }

  releaseNamespace (subject: string, namespace: string): Promise<ReleaseResult> {
    return this.#mutate(draft => {
      const ns = this.#ns(draft, namespace)
      if (!ns) return { result: 'absent', changed: false }
      if (ns.owner !== subject) return { result: 'not-owner', changed: false }
      if (Object.keys(ns.topics).length > 0) return { result: 'not-empty', changed: false }
      delete draft.namespaces[namespace]
      return { result: 'released', changed: true }
    })
  }

  async topicsOf (namespace: string): Promise<TopicRecord[]> {
    this.#assertOpen()
    const ns = this.#ns(this.#state, namespace)
    return ns ? topicList(ns) : []
  }

  async getTopic (namespace: string, topic: string): Promise<TopicRecord | undefined> {
    this.#assertOpen()
    const ns = this.#ns(this.#state, namespace)
    const t = ns && Object.hasOwn(ns.topics, topic) ? ns.topics[topic] : undefined
    return t ? { name: topic, settings: structuredClone(t.settings), createdAt: t.createdAt } : undefined
  }

  putTopic (namespace: string, record: TopicRecord): Promise<void> {
    return this.#mutate(draft => {
      const ns = this.#ns(draft, namespace)
      if (!ns) throw new MetadataStoreError(`Namespace ${namespace} is not claimed`)
      if (!isValidName(record.name)) throw new MetadataStoreError(`Invalid topic name ${JSON.stringify(record.name)}`)
      ns.topics[record.name] = { settings: structuredClone(record.settings), createdAt: record.createdAt }
      return { result: undefined, changed: true }
    })
  }

  removeTopic (namespace: string, topic: string): Promise<boolean> {
    return this.#mutate(draft => {
      const ns = this.#ns(draft, namespace)
      if (!ns || !Object.hasOwn(ns.topics, topic)) return { result: false, changed: false }
      delete ns.topics[topic]
      return { result: true, changed: true }
    })
  }

  async getKey (subject: string): Promise<KeyRecord | undefined> {
    this.#assertOpen()
    const keys = this.#state.keys
    const k = keys !== undefined && Object.hasOwn(keys, subject) ? keys[subject] : undefined
    return k === undefined ? undefined : { subject, ...structuredClone(k) }
  }

  putKeyIfAbsent (record: KeyRecord): Promise<boolean> {
    return this.#mutate(draft => {
      const keys = draft.keys ??= {}
      if (Object.hasOwn(keys, record.subject)) return { result: false, changed: false }
      const { subject, ...rest } = record
      keys[subject] = structuredClone(rest)
      return { result: true, changed: true }
    })
  }

  removeKey (subject: string, match?: KeyMatch): Promise<boolean> {
    return this.#mutate(draft => {
      const keys = draft.keys
      const k = keys !== undefined && Object.hasOwn(keys, subject) ? keys[subject] : undefined
      if (
        keys === undefined || k === undefined ||
        (match !== undefined && (k.access_key !== match.access_key || k.secret_key !== match.secret_key))
      ) {
        return { result: false, changed: false }
      }
      delete keys[subject]
      return { result: true, changed: true }
    })
  }

  /** Open, and a probe file can be created and removed next to the store (disk full, read-only mount…). */
  async healthy (): Promise<boolean> {
    if (this.#closed) return false
    const probe = this.#tempName('probe')
    try {
      const fh = await this.io.open(probe, 'wx', 0o600)
      await fh.close()
      await this.io.rm(probe, { force: true })
      return true
    } catch {
      await this.io.rm(probe, { force: true }).catch(() => {})
      return false
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    await this.#queue.catch(() => {})
    this.#closed = true
  }

  #ns (state: FileState, namespace: string) {
    return Object.hasOwn(state.namespaces, namespace) ? state.namespaces[namespace] : undefined
  }

  #assertOpen (): void {
    if (this.#closed) throw new MetadataStoreError('The metadata store is closed', { path: this.path })
  }

  /** Run `fn` on a copy of the state; persist and adopt the copy only when it changed and the write succeeded. */
  #mutate<T> (fn: (draft: FileState) => { result: T, changed: boolean }): Promise<T> {
    const run = async (): Promise<T> => {
      this.#assertOpen()
      const draft = structuredClone(this.#state)
      const { result, changed } = fn(draft)
      if (changed) {
        await this.#persist(draft)
        this.#state = draft
        this.#reindex()
      }
      return result
    }
    const next = this.#queue.then(run, run)
    this.#queue = next.catch(() => {})
    return next
  }

  async #persist (state: FileState): Promise<void> {
    const dir = dirname(this.path)
    const tmp = this.#tempName('tmp')
    let renamed = false
    try {
      const fh = await this.io.open(tmp, 'wx', 0o600)
      try {
        await fh.writeFile(JSON.stringify(state, null, 2) + '\n', 'utf8')
        await fh.sync()
      } finally {
        await fh.close()
      }
      await this.io.rename(tmp, this.path)
      renamed = true
      await this.#syncDir(dir)
    } catch (err) {
      if (!renamed) await this.io.rm(tmp, { force: true }).catch(() => {})
      throw new MetadataStoreError(`Cannot write the metadata store ${this.path}: ${(err as Error).message}`, { path: this.path, cause: err })
    }
  }

  /** fsync the directory so the rename itself is durable; some platforms cannot open a directory for that. */
  async #syncDir (dir: string): Promise<void> {
    let fh: fsp.FileHandle | undefined
    try {
      fh = await this.io.open(dir, 'r')
      await fh.sync()
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err
    } finally {
      await fh?.close()
    }
  }

  #tempName (kind: 'tmp' | 'probe'): string {
    return join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.${kind}`)
  }

  /** Temp files left by a crash between write and rename are never the store; remove them at start. */
  async #removeStaleTemps (): Promise<void> {
    const prefix = `.${basename(this.path)}.`
    let names: string[] = []
    try {
      names = await this.io.readdir(dirname(this.path))
    } catch {
      return
    }
    for (const name of names) {
      if (name.startsWith(prefix) && (name.endsWith('.tmp') || name.endsWith('.probe'))) {
        await this.io.rm(join(dirname(this.path), name), { force: true }).catch(() => {})
      }
    }
  }

  #reindex (): void {
    this.#bySubject.clear()
    for (const [name, ns] of Object.entries(this.#state.namespaces)) {
      let set = this.#bySubject.get(ns.owner)
      if (!set) this.#bySubject.set(ns.owner, set = new Set())
      set.add(name)
    }
  }
}

function topicList (ns: FileState['namespaces'][string]): TopicRecord[] {
  return Object.entries(ns.topics)
    .map(([name, t]) => ({ name, settings: structuredClone(t.settings), createdAt: t.createdAt }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

function corrupt (path: string, detail: string): MetadataStoreError {
  return new MetadataStoreError(
    `The metadata store ${path} (METADATA_STORE) is corrupt: ${detail}. Refusing to start, because starting ` +
    'empty would free every namespace for anyone to claim. Restore the file from a backup, or move it aside to ' +
    'start with an empty store.', { path })
}

function parseState (path: string, text: string): FileState {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    // V8 quotes an excerpt of the text after the first comma: keep the reason only, as the file holds
    // secrets (sealed, or plain text imported from the existing service's keys table).
    throw corrupt(path, text.trim() === '' ? 'the file is empty' : `not valid JSON (${(err as Error).message.split(/, *(?:\.\.\.)?"/)[0]})`)
  }
  if (!Value.Check(FileSchema, raw)) {
    const first = Value.Errors(FileSchema, raw).First()
    throw corrupt(path, first ? `unexpected content at ${first.path || '/'}: ${first.message}` : 'unexpected content')
  }
  for (const [name, ns] of Object.entries(raw.namespaces)) {
    if (!isValidName(name)) throw corrupt(path, `invalid namespace name ${JSON.stringify(name)}`)
    for (const t of Object.keys(ns.topics)) {
      if (!isValidName(t)) throw corrupt(path, `invalid topic name ${JSON.stringify(t)} in namespace ${name}`)
    }
  }
  return raw
}
