import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { loadConfig, type Config } from './config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface ConfigPluginOptions {
  /** Environment to read; process.env when absent. */
  env?: Record<string, string | undefined>
}

/** Validates the environment once and decorates `fastify.config`; a bad value fails `ready()`. */
const configPlugin: FastifyPluginAsync<ConfigPluginOptions> = async (fastify, opts) => {
  fastify.decorate('config', loadConfig(opts.env ?? process.env))
}

export default fp(configPlugin, { name: 'config', fastify: '5.x' })
