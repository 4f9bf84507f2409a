/** Standalone entry point: configuration, logger, graceful close, listen. */
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import closeWithGrace from 'close-with-grace'
import app, { serverOptions } from './app.js'
import { ConfigError, loadConfig, type Config } from './plugins/config/config.js'

let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
  throw err
}

const server = Fastify({
  ...serverOptions(config),
  logger: {
    level: config.LOG_LEVEL,
    // Tokens never reach the logs: redact the headers that carry them.
    redact: ['req.headers.authorization', 'req.headers.cookie']
  }
})

await server.register(fp(app))

closeWithGrace({ delay: config.CLOSE_GRACE_MS }, async ({ signal, err }) => {
  if (err) server.log.error({ err }, 'closing after error')
  else server.log.info({ signal }, 'closing')
  await server.close()
})

try {
  await server.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  server.log.error({ err }, 'failed to start')
  process.exit(1)
}
