// `npm run metadata -- export|import [--file PATH]`: moves the metadata between the file store and the
// DynamoDB store.
//
//   export   copies the file store's namespaces (owners) and topic records into DynamoDB
//   import   copies DynamoDB's namespaces and topic records into the file store
//
// The file is --file, else METADATA_STORE unless that says `dynamodb`, else ./data/metadata.json. DynamoDB is
// configured as for the service: USERS_TABLE_NAME, NAMESPACE_TABLE_NAME, KEYS_TABLE_NAME, AWS_REGION (or
// AWS_ACCOUNT_REGION), the SDK's credential chain and AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL;
// METADATA_CREATE_TABLES=true creates missing tables. Topics without stored settings (made by the existing
// service) are written to the file with the configured defaults (TOPIC_DEFAULT_PARTITIONS,
// TOPIC_DEFAULT_REPLICATION_FACTOR), and said so.
//
// Both directions merge and are idempotent: a namespace already held by its owner and a topic record already
// equal are left alone; a namespace held by someone else on the target side is a conflict, reported and left
// alone (exit code 1). Nothing is deleted. Stop the service that uses the file before importing into it (one
// process per file).
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { ConfigSchema } from '../plugins/config/config.js'
import { DEFAULT_TABLES, DynamoMetadataStore } from '../plugins/namespaces/dynamo-store.js'
import { FileMetadataStore } from '../plugins/namespaces/file-store.js'
import type { MetadataStore, NamespaceRecord } from '../plugins/namespaces/store.js'

/** A store that can list everything it holds (both stores can). */
export interface ListableStore extends MetadataStore {
  allNamespaces (): Promise<NamespaceRecord[]>
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
}

/** Copy every namespace and topic record of `from` into `to` (merge; idempotent; deletes nothing). */
export async function copyMetadata (from: ListableStore, to: MetadataStore): Promise<CopyReport> {
  const report: CopyReport = { namespacesCreated: 0, namespacesPresent: 0, conflicts: [], topicsWritten: 0, topicsPresent: 0, topicsWithDefaults: 0 }
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
  return report
}

export function describeReport (direction: 'export' | 'import', report: CopyReport, source: string, target: string): string[] {
  const lines = [
    `${direction}: ${source} -> ${target}`,
    `  namespaces: ${report.namespacesCreated} claimed, ${report.namespacesPresent} already there with the same owner, ${report.conflicts.length} conflicting`,
    `  topics: ${report.topicsWritten} written, ${report.topicsPresent} already there`
  ]
  if (report.topicsWithDefaults > 0) {
    lines.push(`  ${report.topicsWithDefaults} topic(s) had no stored settings at the source (created by the existing service): ` +
      'recorded with the configured defaults (TOPIC_DEFAULT_PARTITIONS, TOPIC_DEFAULT_REPLICATION_FACTOR)')
  }
  for (const c of report.conflicts) {
    lines.push(`  conflict: ${c.namespace} belongs to ${c.owner} at the source but to ${c.targetOwner ?? 'nobody known'} at the target; left alone`)
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

export async function openDynamoFromEnv (env: NodeJS.ProcessEnv = process.env): Promise<DynamoMetadataStore> {
  const region = env.AWS_ACCOUNT_REGION || env.AWS_REGION
  return DynamoMetadataStore.open({
    tables: {
      users: env.USERS_TABLE_NAME || DEFAULT_TABLES.users,
      namespaces: env.NAMESPACE_TABLE_NAME || DEFAULT_TABLES.namespaces,
      keys: env.KEYS_TABLE_NAME || DEFAULT_TABLES.keys
    },
    ...(region ? { region } : {}),
    createTables: env.METADATA_CREATE_TABLES === 'true',
    defaultSettings: {
      num_partitions: intVar(env, 'TOPIC_DEFAULT_PARTITIONS'),
      replication_factor: intVar(env, 'TOPIC_DEFAULT_REPLICATION_FACTOR'),
      configs: {}
    }
  })
}

const USAGE = 'usage: npm run metadata -- export|import [--file PATH]\n' +
  '  export: file store -> DynamoDB    import: DynamoDB -> file store'

export async function main (argv: string[], env: NodeJS.ProcessEnv = process.env, out: (line: string) => void = console.log): Promise<number> {
  const [direction, ...rest] = argv
  let file: string | undefined
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--file' && rest[i + 1] !== undefined) file = rest[++i]
    else { out(USAGE); return 2 }
  }
  if (direction !== 'export' && direction !== 'import') { out(USAGE); return 2 }
  file ??= env.METADATA_STORE && env.METADATA_STORE !== 'dynamodb' ? env.METADATA_STORE : './data/metadata.json'
  if (direction === 'export' && !existsSync(file)) {
    out(`export: there is no file store at ${path.resolve(file)} (--file PATH, or METADATA_STORE); nothing to export`)
    return 1
  }
  const fileStore = await FileMetadataStore.open(file)
  let dynamo: DynamoMetadataStore | undefined
  try {
    dynamo = await openDynamoFromEnv(env)
    const tables = `DynamoDB (${dynamo.tables.users}, ${dynamo.tables.namespaces})`
    const report = direction === 'export'
      ? await copyMetadata(fileStore, dynamo)
      : await copyMetadata(dynamo, fileStore)
    const [source, target] = direction === 'export' ? [fileStore.path, tables] : [tables, fileStore.path]
    for (const line of describeReport(direction, report, source, target)) out(line)
    return report.conflicts.length > 0 ? 1 : 0
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
