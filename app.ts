/**
 * The whole application as one plugin (no listen): plugins in dependency order, then the public routes and
 * the authenticated API. server.ts and the test helper register it with fastify-plugin so its error handler
 * applies at the root.
 */
import { LogController, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import configPlugin from './plugins/config/index.js'
import errorsPlugin, { clientErrorHandler, frameworkErrors } from './plugins/errors/index.js'
import httpPlugin, { MAX_PARAM_LENGTH } from './plugins/http/index.js'
import docsPlugin from './plugins/docs/index.js'
import kafkaPlugin, { type KafkaPluginOptions } from './plugins/kafka/index.js'
import authPlugin, { type AuthPluginOptions } from './plugins/auth/index.js'
import namespacesPlugin from './plugins/namespaces/index.js'
import credentialsPlugin from './plugins/credentials/index.js'
import consumersPlugin from './plugins/consumers/index.js'
import clusterPlugin from './plugins/cluster/index.js'
import producerPlugin from './plugins/producer/index.js'
import metricsPlugin from './plugins/metrics/index.js'
import healthRoutes from './routes/health.js'
import apiRoutes, { apiV2 } from './routes/api.js'
import type { Config } from './plugins/config/config.js'

export interface AppOptions {
  /** Environment to configure from (process.env when absent). */
  env?: Record<string, string | undefined>
  kafka?: KafkaPluginOptions
  auth?: AuthPluginOptions
}

/** Fastify server options that depend on configuration. */
export function serverOptions (config: Config): FastifyServerOptions {
  return {
    bodyLimit: config.BODY_LIMIT,
    // No whole-request bound from Node: it would cut a streaming produce request, which may run however long.
    // Headers keep Node's headersTimeout (60 s); bodies are bounded per request by plugins/http (a total
    // REQUEST_BODY_TIMEOUT_MS, or PRODUCE_STREAM_IDLE_TIMEOUT_MS between chunks of a produce stream).
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    // Failures before routing and in the HTTP parser answer in the route family's JSON shape too.
    frameworkErrors,
    clientErrorHandler,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Several nodes: a request this node only forwards is logged by its owner; this node writes one line of
    // its own (plugins/cluster), not Fastify's two.
    // (Some early failures hand Fastify's logger a request without `server`.)
    logController: new LogController({
      disableRequestLogging: request => (request as Partial<typeof request>).server?.cluster?.forwards(request) === true
    }),
    ajv: {
      customOptions: {
        // Reject unknown fields (Confluent answers 422 "Unrecognized field") instead of silently dropping them.
        removeAdditional: false,
        // Scalars coerce as in Jackson ("1024" -> 1024); a string where a list belongs stays a type error (400).
        // null and booleans are kept from turning into numbers by plugins/http/strict-json.ts.
        coerceTypes: true,
        useDefaults: true,
        allErrors: false
      }
    }
  }
}

const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  await fastify.register(configPlugin, opts.env ? { env: opts.env } : {})
  await fastify.register(errorsPlugin)
  await fastify.register(httpPlugin)
  await fastify.register(docsPlugin)
  await fastify.register(kafkaPlugin, opts.kafka ?? {})
  await fastify.register(authPlugin, opts.auth ?? {})
  await fastify.register(namespacesPlugin)
  await fastify.register(credentialsPlugin)
  // Before the consumers (whose instance ids name this node, and whose preClose drains the long polls): on
  // close, the node leaves the node directory first, so the other nodes stop forwarding here (NODE_URL set).
  await fastify.register(clusterPlugin)
  // preClose (before the HTTP server waits for its in-flight requests): waiting long polls return what they
  // hold and no instance is created any more; onClose closes every instance, which leaves its group.
  await fastify.register(consumersPlugin)
  // Its preClose hook drains the engine (new produce requests get 503, queued records are sent and answered)
  // and its onClose hook disconnects the Kafka producer.
  await fastify.register(producerPlugin)
  // After the plugins it observes (it subscribes to their diagnostics channels and reads their stats), before
  // the routes whose requests it counts.
  await fastify.register(metricsPlugin)

  await fastify.register(healthRoutes)
  await fastify.register(apiRoutes, { prefix: '/api/v3' })
  await fastify.register(apiV2, { prefix: '/api/v2' })
}

export default app
