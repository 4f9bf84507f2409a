import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { sharedSchemas } from '../../schemas/common.js'

/**
 * OpenAPI 3 generated from the same TypeBox schemas that validate requests; Swagger UI at /docs and the
 * spec at /docs/json. Registered before any route so every route is collected.
 * @see {@link https://github.com/fastify/fastify-swagger}
 */
const docsPlugin: FastifyPluginAsync = async (fastify) => {
  for (const schema of sharedSchemas) fastify.addSchema(schema)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'diaspora-service',
        description: 'HTTP gateway to Apache Kafka for Globus users. The consumer API follows Confluent REST Proxy v2 ' +
          'under /api/v3/{namespace}/consumers; management routes follow the existing Diaspora service.',
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
        { name: 'consumers', description: 'Confluent REST Proxy v2 consumer API' }
      ]
    },
    hideUntagged: true,
    // Name components after their $id instead of def-N.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } })
}

export default fp(docsPlugin, { name: 'docs', fastify: '5.x' })
