/** Standalone entry point: configuration, logger, graceful close, listen. */
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import closeWithGrace from 'close-with-grace'
import app, { serverOptions } from './app.js'
import { ConfigError, loadConfig, type Config } from './plugins/config/config.js'
import { hasNodeFlags, NODE_FLAGS } from './node-flags.js'

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
if (!hasNodeFlags()) server.log.warn(`started without the V8 heap flags ${NODE_FLAGS.join(' ')} (node-flags.ts): draining consumers may spend a fifth of their time in garbage collection`)

// On SIGINT/SIGTERM: stop accepting, let in-flight requests finish (waiting long polls return what they hold at
// once: the consumers plugin drains them first), close every consumer instance so it leaves its group, exit 0. Past
// CLOSE_GRACE_MS close-with-grace exits with code 1 whatever is left.
closeWithGrace({ delay: config.CLOSE_GRACE_MS }, async ({ signal, err }) => {
  if (err) server.log.error({ err }, 'closing after error')
  else server.log.info({ signal }, 'closing')
  // Requests still running after 40 % of the grace period (a commit stuck on an unreachable broker, say) have
  // their connections cut, so the consumer instances keep enough time to leave their groups.
  const cut = setTimeout(() => {
    server.log.warn('in-flight requests outlived their share of CLOSE_GRACE_MS; closing their connections')
    server.server.closeAllConnections()
  }, Math.floor(config.CLOSE_GRACE_MS * 0.4))
  cut.unref()
  try {
    await server.close()
  } finally {
    clearTimeout(cut)
  }
  server.log.info('closed')
})

try {
  await server.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  server.log.error({ err }, 'failed to start')
  process.exit(1)
}
