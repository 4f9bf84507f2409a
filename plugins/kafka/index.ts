import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { KafkaService, type KafkaServiceOptions } from './kafka-service.js'
import { applyKafkajsPatches } from './kafkajs/patches.js'

declare module 'fastify' {
  interface FastifyInstance {
    kafka: KafkaService
  }
}

export interface KafkaPluginOptions {
  /** Override the MSK IAM / OAUTHBEARER token source (tests). */
  tokenProvider?: KafkaServiceOptions['tokenProvider']
}

/**
 * Kafka clients for the whole app; the shared admin is closed when the app closes. kafkajs is patched first
 * (kafkajs/patches.ts): a kafkajs that does not match the patches fails the boot here, with the reason.
 */
const kafkaPlugin: FastifyPluginAsync<KafkaPluginOptions> = async (fastify, opts) => {
  await applyKafkajsPatches()
  const serviceOpts: KafkaServiceOptions = { logger: fastify.log.child({ component: 'kafka' }) }
  if (opts.tokenProvider) serviceOpts.tokenProvider = opts.tokenProvider
  const service = new KafkaService(fastify.config, serviceOpts)
  await service.init()
  fastify.decorate('kafka', service)
  fastify.addHook('onClose', async () => { await service.close() })
}

export default fp(kafkaPlugin, { name: 'kafka', fastify: '5.x', dependencies: ['config'] })
