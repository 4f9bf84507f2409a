// `npm run metadata -- export|import [--file PATH]`: moves the metadata between the file store and the
// DynamoDB store.
//
//   export   copies the file store's namespaces (owners), topic records and key records into DynamoDB
//   import   copies DynamoDB's namespaces, topic records and key records into the file store
//
// Key records (Kafka credentials, POST /api/v3/key) are copied as stored: a secret this service sealed stays
// sealed (the same KEYS_ENCRYPTION_KEY opens it on either side), a plain-text item of the existing service
// stays plain text and readable. No secret is ever printed. Without a keys table in DynamoDB, import has no
// keys to copy, and export of a file holding keys asks for it (KEYS_TABLE_NAME, or METADATA_CREATE_TABLES).
//
// The file is --file, else METADATA_STORE unless that says `dynamodb`, else ./data/metadata.json. DynamoDB is
// configured as for the service: USERS_TABLE_NAME, NAMESPACE_TABLE_NAME, KEYS_TABLE_NAME, AWS_REGION (or
// AWS_ACCOUNT_REGION), the SDK's credential chain and AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL;
// METADATA_CREATE_TABLES=true creates missing tables. Topics without stored settings (made by the existing
// service) are written to the file with the configured defaults (TOPIC_DEFAULT_PARTITIONS,
// TOPIC_DEFAULT_REPLICATION_FACTOR), and said so.
//
// Both directions merge and are idempotent: a namespace already held by its owner and a topic or key record
// already equal are left alone; a namespace held by someone else, or another key of the same subject, on the
// target side is a conflict, reported and left alone (exit code 1). Nothing is deleted. Stop the service that
// uses the file before importing into it (one process per file).
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { ConfigSchema, parseMetadataStore } from '../plugins/config/config.js'
import { DEFAULT_TABLES, DynamoMetadataStore } from '../plugins/namespaces/dynamo-store.js'
import { FileMetadataStore } from '../plugins/namespaces/file-store.js'
import type { KeyRecord, MetadataStore, NamespaceRecord } from '../plugins/namespaces/store.js'

/** A store that can list everything it holds (both stores can). */
export interface ListableStore extends MetadataStore {
  allNamespaces (): Promise<NamespaceRecord[]>
  /** Undefined when the store has no place for keys (DynamoDB without a keys table). */
  allKeys (): Promise<KeyRecord[] | undefined>
}

export interface CopyReport {
  namespacesCreated: number
  namespacesPresent: number
  /** Namespaces the target gives another owner: left alone. */
  conflicts: Array<{ namespace: string, owner: string, targetOwner: string | undefined }>
  topicsWritten: number
  topicsPresent: number
  /** Topics whose settings were not stored at the source (written with the configured defaults). */
  topicsWithDefaults: number
  keysWritten: number
  keysPresent: number
  /** Key records in plain text at the source (the existing service's), copied as they are. */
  keysPlain: number
  /** Subjects whose key at the target is another one: left alone. */
  keyConflicts: string[]
  /** The source has no keys table. */
  noKeys: boolean
}

function sameKey (a: KeyRecord, b: KeyRecord): boolean {
  return a.access_key === b.access_key && a.secret_key === b.secret_key && a.encryption === b.encryption
}

/** Copy every namespace and topic record of `from` into `to` (merge; idempotent; deletes nothing). */
export async function copyMetadata (from: ListableStore, to: MetadataStore): Promise<CopyReport> {
  const report: CopyReport = {
    namespacesCreated: 0,
    namespacesPresent: 0,
    conflicts: [],
    topicsWritten: 0,
    topicsPresent: 0,
    topicsWithDefaults: 0,
    keysWritten: 0,
    keysPresent: 0,
    keysPlain: 0,
    keyConflicts: [],
    noKeys: false
  }
  for (const ns of await from.allNamespaces()) {
    const claimed = await to.claimNamespace(ns.owner, ns.name)
    if (claimed === 'taken') {
      report.conflicts.push({ namespace: ns.name, owner: ns.owner, targetOwner: await to.ownerOf(ns.name) })
      continue
    }
    if (claimed === 'created') report.namespacesCreated++
    else report.namespacesPresent++
    for (const topic of ns.topics) {
      if (topic.inferred === true) report.topicsWithDefaults++
      const have = await to.getTopic(ns.name, topic.name)
      if (have !== undefined && have.inferred !== true && isDeepStrictEqual(have.settings, topic.settings)) {
        report.topicsPresent++
        continue
      }
      if (have !== undefined && topic.inferred === true) {
        // The target knows more than the source's defaults: keep what it has.
        report.topicsPresent++
        continue
      }
      await to.putTopic(ns.name, { name: topic.name, settings: topic.settings, createdAt: topic.createdAt })
      report.topicsWritten++
    }
  }
  const keys = await from.allKeys()
  if (keys === undefined) report.noKeys = true
  for (const key of keys ?? []) {
    // As stored: the sealed form is bound to the subject and access key, which do not change.
    if (key.encryption === undefined) report.keysPlain++
    if (await to.putKeyIfAbsent(key)) {
      report.keysWritten++
      continue
    }
    const have = await to.getKey(key.subject)
    if (have !== undefined && sameKey(have, key)) report.keysPresent++
    else report.keyConflicts.push(key.subject)
  }
  return report
}

export function describeReport (direction: 'export' | 'import', report: CopyReport, source: string, target: string): string[] {
  const lines = [
    `${direction}: ${source} -> ${target}`,
    `  namespaces: ${report.namespacesCreated} claimed, ${report.namespacesPresent} already there with the same owner, ${report.conflicts.length} conflicting`,
    `  topics: ${report.topicsWritten} written, ${report.topicsPresent} already there`,
    report.noKeys
      ? '  keys: none (no keys table at the source)'
      : `  keys: ${report.keysWritten} written, ${report.keysPresent} already there, ${report.keyConflicts.length} conflicting`
  ]
  if (report.keysPlain > 0) {
    lines.push(`  ${report.keysPlain} key(s) are in plain text at the source (written by the existing service): copied as they are`)
  }
  if (report.topicsWithDefaults > 0) {
    lines.push(`  ${report.topicsWithDefaults} topic(s) had no stored settings at the source (created by the existing service): ` +
      'recorded with the configured defaults (TOPIC_DEFAULT_PARTITIONS, TOPIC_DEFAULT_REPLICATION_FACTOR)')
  }
  for (const c of report.conflicts) {
    lines.push(`  conflict: ${c.namespace} belongs to ${c.owner} at the source but to ${c.targetOwner ?? 'nobody known'} at the target; left alone`)
  }
  for (const subject of report.keyConflicts) {
    lines.push(`  conflict: ${subject} has another key at the target; left alone (DELETE /api/v3/key there, or remove one, and run again)`)
  }
  return lines
}

function intVar (env: NodeJS.ProcessEnv, name: 'TOPIC_DEFAULT_PARTITIONS' | 'TOPIC_DEFAULT_REPLICATION_FACTOR'): number {
  const raw = env[name]
  const fallback = ConfigSchema.properties[name].default as number
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (got ${JSON.stringify(raw)})`)
  return n
}

export async function openDynamoFromEnv (
  env: NodeJS.ProcessEnv = process.env,
  opts: { requireKeys?: boolean } = {}
): Promise<DynamoMetadataStore> {
  const region = env.AWS_ACCOUNT_REGION || env.AWS_REGION
  return DynamoMetadataStore.open({
    tables: {
      users: env.USERS_TABLE_NAME || DEFAULT_TABLES.users,
      namespaces: env.NAMESPACE_TABLE_NAME || DEFAULT_TABLES.namespaces,
      keys: env.KEYS_TABLE_NAME || DEFAULT_TABLES.keys
    },
    ...(region ? { region } : {}),
    createTables: env.METADATA_CREATE_TABLES === 'true',
    requireKeys: opts.requireKeys === true,
    defaultSettings: {
      num_partitions: intVar(env, 'TOPIC_DEFAULT_PARTITIONS'),
      replication_factor: intVar(env, 'TOPIC_DEFAULT_REPLICATION_FACTOR'),
      configs: {}
    }
  })
}

const USAGE = 'usage: npm run metadata -- export|import [--file PATH]\n' +
  '  export: file store -> DynamoDB    import: DynamoDB -> file store'

export async function main (
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = console.log
): Promise<number> {
  const [direction, ...rest] = argv
  let file: string | undefined
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--file' && rest[i + 1] !== undefined) file = rest[++i]
    else { out(USAGE); return 2 }
  }
  if (direction !== 'export' && direction !== 'import') { out(USAGE); return 2 }
  if (file === undefined) {
    // METADATA_STORE read as the service reads it (a file: URL is a path too).
    const configured = env.METADATA_STORE ? parseMetadataStore(env.METADATA_STORE) : { store: 'dynamodb' }
    if ('problem' in configured) { out(`METADATA_STORE: ${configured.problem}`); return 2 }
    file = configured.store === 'dynamodb' ? './data/metadata.json' : configured.store
  }
  if (direction === 'export' && !existsSync(file)) {
    out(`export: there is no file store at ${path.resolve(file)} (--file PATH, or METADATA_STORE); nothing to export`)
    return 1
  }
  const fileStore = await FileMetadataStore.open(file)
  let dynamo: DynamoMetadataStore | undefined
  try {
    // Exporting keys needs the keys table: checked (or created) at the start, before anything is copied.
    const requireKeys = direction === 'export' && (await fileStore.allKeys()).length > 0
    dynamo = await openDynamoFromEnv(env, { requireKeys })
    const tables = `DynamoDB (${dynamo.tables.users}, ${dynamo.tables.namespaces}, ${dynamo.tables.keys})`
    const report = direction === 'export'
      ? await copyMetadata(fileStore, dynamo)
      : await copyMetadata(dynamo, fileStore)
    const [source, target] = direction === 'export' ? [fileStore.path, tables] : [tables, fileStore.path]
    for (const line of describeReport(direction, report, source, target)) out(line)
    return report.conflicts.length > 0 || report.keyConflicts.length > 0 ? 1 : 0
  } finally {
    await dynamo?.close()
    await fileStore.close()
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: unknown) => {
    console.error(`[metadata] ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  })
}
