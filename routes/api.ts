/**
 * The authenticated context: every route registered here runs the Globus auth hook first. Public routes
 * (/health, /ready, /docs) live outside it, so no URL checks are needed inside the hook.
 */
import type { FastifyPluginAsync } from 'fastify'
import userRoutes from './users.js'
import namespaceRoutes from './namespaces.js'
import topicRoutes from './topics.js'
import consumerRoutes from './consumers.js'
import produceRoutes from './produce.js'

const api: FastifyPluginAsync = async (fastify) => {
  fastify.addHook('onRequest', fastify.authenticate)
  await fastify.register(userRoutes)
  await fastify.register(namespaceRoutes)
  await fastify.register(consumerRoutes)
  await fastify.register(produceRoutes)
  await fastify.register(topicRoutes)
}

export default api
