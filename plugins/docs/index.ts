import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TSchema } from '@sinclair/typebox'

declare module 'fastify' {
  interface FastifySchema {
    /**
     * The request body may be left out (the route applies defaults). @fastify/swagger marks every declared
     * body as required; this marker makes the OpenAPI document say `requestBody.required: false`.
     */
    'x-body-optional'?: boolean
    /**
     * JSON Schema of a body that a GET route reads itself (Confluent's GET committed offsets): Fastify
     * validates no GET body, so the route cannot declare `body`. Documented as an optional JSON request body.
     */
    'x-get-body'?: TSchema
  }
}

const BODY_OPTIONAL = 'x-body-optional'
const GET_BODY = 'x-get-body'
const GET_BODY_TYPES = ['application/vnd.kafka.v2+json', 'application/json']

/** Apply the body markers above to the generated document, then drop them. */
function applyBodyMarkers<T> (document: T): T {
  const paths = (document as { paths?: Record<string, Record<string, Record<string, unknown>>> }).paths ?? {}
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      if (operation === null || typeof operation !== 'object') continue
      if (BODY_OPTIONAL in operation) {
        const body = operation.requestBody as { required?: boolean } | undefined
        if (operation[BODY_OPTIONAL] === true && body) body.required = false
        delete operation[BODY_OPTIONAL]
      }
      if (GET_BODY in operation) {
        // A plain JSON copy (TypeBox's symbol keys go) in OpenAPI 3.0's dialect: `example`, not `examples`.
        const schema = JSON.parse(JSON.stringify(operation[GET_BODY]), (_key, value: unknown) => {
          if (value === null || typeof value !== 'object' || !Array.isArray((value as { examples?: unknown }).examples)) return value
          const { examples, ...rest } = value as { examples: unknown[] }
          return { ...rest, example: examples[0] }
        }) as object
        operation.requestBody = {
          required: false,
          content: Object.fromEntries(GET_BODY_TYPES.map(type => [type, { schema }]))
        }
        delete operation[GET_BODY]
      }
    }
  }
  return document
}

/**
 * OpenAPI 3 generated from the same TypeBox schemas that validate requests; Swagger UI at /docs and the
 * spec at /docs/json. Registered before any route so every route is collected. The shared `$id` schemas it
 * shows as named components are registered by the errors plugin.
 * @see {@link https://github.com/fastify/fastify-swagger}
 */
const docsPlugin: FastifyPluginAsync = async (fastify) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'diaspora-service',
        description: 'HTTP gateway to Apache Kafka for Globus users. The consumer API follows Confluent REST Proxy v2 ' +
          'under /api/v3/{namespace}/consumers, and under /api/v2/consumers in the caller\'s default namespace (the Diaspora ' +
          'SDK\'s RESTConsumer); produce follows Confluent v3 (and v2) under /api/v3/{namespace}/topics/{topic}; ' +
          'management routes follow the existing Diaspora service.',
        version: '0.1.0'
      },
      components: {
        securitySchemes: {
          globus: { type: 'http', scheme: 'bearer', description: 'Globus access token for the Diaspora resource server' }
        }
      },
      tags: [
        { name: 'health', description: 'Liveness and readiness (public)' },
        { name: 'management', description: 'User, namespace and topic management' },
        { name: 'consumers', description: 'Confluent REST Proxy v2 consumer API' },
        { name: 'produce', description: 'Produce records: Confluent v3 (one, streaming, batch) and v2' }
      ]
    },
    hideUntagged: true,
    transformObject: (doc) => applyBodyMarkers('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
    // Name components after their $id instead of def-N.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } })
}

export default fp(docsPlugin, { name: 'docs', fastify: '5.x', dependencies: ['errors'] })
