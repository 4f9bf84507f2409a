import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { ApiError } from '../errors/errors.js'
import type { Config } from '../config/config.js'
import { DynamoMetadataStore } from './dynamo-store.js'
import { FileMetadataStore } from './file-store.js'
import { NamespaceService } from './namespace-service.js'
import type { MetadataStore } from './store.js'

declare module 'fastify' {
  interface FastifyInstance {
    namespaces: NamespaceService
  }
}

export interface NamespacesPluginOptions {
  /** Use this store instead of opening the one METADATA_STORE names (tests). */
  store?: MetadataStore
}

/**
 * The store METADATA_STORE names: `dynamodb` for the DynamoDB store over the existing service's tables
 * (missing tables or an unreachable DynamoDB fail the start with a message that says so), anything else is
 * the file store's path.
 */
export async function openStore (config: Config): Promise<MetadataStore> {
  if (config.METADATA_STORE === 'dynamodb') {
    return DynamoMetadataStore.open({
      tables: { users: config.USERS_TABLE_NAME, namespaces: config.NAMESPACE_TABLE_NAME, keys: config.KEYS_TABLE_NAME },
      // Unset: the SDK's own chain (AWS_REGION, the profile). The endpoint and the credentials always come
      // from the SDK's chains (AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL, env, profile, container, instance).
      ...(config.AWS_ACCOUNT_REGION !== undefined ? { region: config.AWS_ACCOUNT_REGION } : {}),
      createTables: config.METADATA_CREATE_TABLES,
      requireKeys: config.KAFKA_CREDENTIALS !== 'off',
      defaultSettings: {
        num_partitions: config.TOPIC_DEFAULT_PARTITIONS,
        replication_factor: config.TOPIC_DEFAULT_REPLICATION_FACTOR,
        configs: {}
      }
    })
  }
  return FileMetadataStore.open(config.METADATA_STORE)
}

/**
 * Namespace ownership, name mapping, pattern scoping and the topic lifecycle (`fastify.namespaces`). Opens
 * the metadata store at start (a corrupt METADATA_STORE file or missing DynamoDB tables fail `ready()` with
 * a message naming them) and closes it when the app closes.
 */
const namespacesPlugin: FastifyPluginAsync<NamespacesPluginOptions> = async (fastify, opts) => {
  const { config, kafka } = fastify
  const store = opts.store ?? await openStore(config)
  const service = new NamespaceService({
    store,
    kafka,
    limits: {
      TOPIC_DEFAULT_PARTITIONS: config.TOPIC_DEFAULT_PARTITIONS,
      TOPIC_MAX_PARTITIONS: config.TOPIC_MAX_PARTITIONS,
      TOPIC_DEFAULT_REPLICATION_FACTOR: config.TOPIC_DEFAULT_REPLICATION_FACTOR,
      TOPIC_MAX_RETENTION_MS: config.TOPIC_MAX_RETENTION_MS,
      TOPIC_RECREATE_TIMEOUT_MS: config.TOPIC_RECREATE_TIMEOUT_MS
    },
    logger: fastify.log.child({ component: 'namespaces' }),
    // The file store answers from memory; only a remote store is worth trusting for a moment.
    ownerCacheMs: config.METADATA_STORE === 'dynamodb' ? config.NAMESPACE_OWNER_CACHE_MS : 0
  })
  fastify.decorate('namespaces', service)
  // The plugin closes the store it opened; a store passed in belongs to the caller.
  if (!opts.store) fastify.addHook('onClose', async () => { await store.close() })
}

export default fp(namespacesPlugin, { name: 'namespaces', fastify: '5.x', dependencies: ['config', 'kafka'] })

/** The authenticated caller's subject; the auth hook of routes/api.ts has set it before any handler runs. */
export function subjectOf (request: FastifyRequest): string {
  const p = request.principal
  if (!p) throw new ApiError(401, 401, 'Authentication required', { code: 'UNAUTHORIZED' })
  return p.subject
}
