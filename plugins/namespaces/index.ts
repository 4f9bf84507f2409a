import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { ApiError } from '../errors/errors.js'
import { FileMetadataStore } from './file-store.js'
import { NamespaceService } from './namespace-service.js'
import type { MetadataStore } from './store.js'

declare module 'fastify' {
  interface FastifyInstance {
    namespaces: NamespaceService
  }
}

export interface NamespacesPluginOptions {
  /** Use this store instead of opening the file store at METADATA_STORE (tests; a later DynamoDB store). */
  store?: MetadataStore
}

/**
 * Namespace ownership, name mapping, pattern scoping and the topic lifecycle (`fastify.namespaces`). Opens
 * the metadata store at start (a corrupt METADATA_STORE file fails `ready()` with a message naming it) and
 * closes it when the app closes.
 */
const namespacesPlugin: FastifyPluginAsync<NamespacesPluginOptions> = async (fastify, opts) => {
  const { config, kafka } = fastify
  const store = opts.store ?? await FileMetadataStore.open(config.METADATA_STORE)
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
    logger: fastify.log.child({ component: 'namespaces' })
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
