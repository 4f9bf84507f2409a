import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Compression } from '../kafka/driver.js'
import { produceEvents } from './channels.js'
import { ProduceEngine } from './engine.js'
import { TopicMetadataCache } from './metadata.js'

declare module 'fastify' {
  interface FastifyInstance {
    producer: ProduceEngine
  }
}

/**
 * The produce engine (`fastify.producer`): one Kafka producer for the process (the port's producer side,
 * `kafka.producerClient`), connected at the first produce; it publishes on the diaspora:producer:*
 * diagnostics channels (channels.ts). Shutdown: preClose drains it (new produce requests get 503 before
 * anything is sent; queued records are sent and answered), onClose disconnects it.
 */
const producerPlugin: FastifyPluginAsync = async (fastify) => {
  const { config: c, kafka } = fastify
  const log = fastify.log.child({ component: 'producer' })
  const client = kafka.producerClient(`${c.KAFKA_CLIENT_ID}-producer`, log)
  const metadata = new TopicMetadataCache({
    partitions: async (topic) => {
      const count = (await kafka.driver.partitionCounts([topic])).get(topic) ?? 0
      return Array.from({ length: count }, (_, i) => i)
    }
  }, c.PRODUCE_METADATA_MAX_AGE_MS)
  const engine = new ProduceEngine({
    client,
    metadata,
    maxInFlightBytes: c.PRODUCE_MAX_IN_FLIGHT_BYTES,
    maxRecordBytes: c.PRODUCE_MAX_RECORD_BYTES,
    lingerMs: c.PRODUCE_LINGER_MS,
    requestTimeoutMs: c.PRODUCE_REQUEST_TIMEOUT_MS,
    compression: c.PRODUCE_COMPRESSION as Compression,
    retryAfterSeconds: c.PRODUCE_RETRY_AFTER_SECONDS,
    log
  })
  // Written, failed and sent records go to the diaspora:producer:* channels (channels.ts).
  engine.observe(produceEvents)
  fastify.decorate('producer', engine)
  fastify.addHook('preClose', async () => { await engine.drain() })
  fastify.addHook('onClose', async () => { await engine.close() })
}

export default fp(producerPlugin, { name: 'producer', fastify: '5.x', dependencies: ['config', 'kafka'] })
