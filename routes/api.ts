/**
 * The authenticated context: every route registered here runs the Globus auth hook first. Public routes
 * (/health, /ready, /docs) live outside it, so no URL checks are needed inside the hook.
 */
import type { FastifyPluginAsync } from 'fastify'
import userRoutes from './users.js'
import keyRoutes from './keys.js'
import namespaceRoutes from './namespaces.js'
import topicRoutes from './topics.js'
import consumerRoutes from './consumers.js'
import produceRoutes from './produce.js'

const api: FastifyPluginAsync = async (fastify) => {
  // Several nodes: forged forwarding headers are refused, another node's generated instance is served by that
  // node, which authenticates the request (so it goes before authentication here: one token check, not two);
  // routing by an instance name's claim (a store read, and the caller's namespace) comes after it.
  if (fastify.cluster) fastify.addHook('onRequest', fastify.cluster.onRequest)
  fastify.addHook('onRequest', fastify.authenticate)
  if (fastify.cluster) fastify.addHook('onRequest', fastify.cluster.onAuthenticated)
  await fastify.register(userRoutes)
  await fastify.register(keyRoutes)
  await fastify.register(namespaceRoutes)
  await fastify.register(consumerRoutes, { family: 'v3' })
  await fastify.register(produceRoutes)
  await fastify.register(topicRoutes)
}

/**
 * /api/v2: the consumer endpoints in the caller's default namespace, as the Diaspora SDK (0.5.1) calls them.
 * The same route plugin as under /api/v3, with the same authentication.
 */
export const apiV2: FastifyPluginAsync = async (fastify) => {
  if (fastify.cluster) fastify.addHook('onRequest', fastify.cluster.onRequest)
  fastify.addHook('onRequest', fastify.authenticate)
  if (fastify.cluster) fastify.addHook('onRequest', fastify.cluster.onAuthenticated)
  await fastify.register(consumerRoutes, { family: 'v2' })
}

export default api
