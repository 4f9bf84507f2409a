import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

const Ready = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not ready')]),
  checks: Type.Object({
    kafka: Type.Boolean(),
    metadata_store: Type.Boolean(),
    node_registry: Type.Optional(Type.Boolean({ description: 'several nodes only: the other nodes see this node live (its heartbeat in the node table is current)' }))
  })
})

/** Public routes (outside the authenticated context): process liveness and dependency readiness. */
const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health', {
    schema: {
      tags: ['health'],
      summary: 'Liveness',
      description: 'The process is up and serving HTTP.',
      response: { 200: Type.Object({ status: Type.Literal('ok') }) }
    }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/ready', {
    schema: {
      tags: ['health'],
      summary: 'Readiness',
      description: 'A Kafka broker answers and the metadata store is usable (with several nodes: and this node\'s heartbeat in the node table is current). 503 when one is not.',
      response: { 200: Ready, 503: Ready }
    }
  }, async (_request, reply) => {
    const [kafka, store] = await Promise.all([fastify.kafka.ping(2000), fastify.namespaces.storeHealthy()])
    const node = fastify.cluster?.registry.current
    const ok = kafka && store && node !== false
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks: { kafka, metadata_store: store, ...(node === undefined ? {} : { node_registry: node }) } })
  })
}

export default health
