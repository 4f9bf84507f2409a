import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import kafkajs from 'kafkajs'
import { produceEvents } from './channels.js'
import { ProduceEngine } from './engine.js'
import { TopicMetadataCache } from './metadata.js'
import { produceWireCounter } from './wire.js'

// kafkajs is CommonJS and Node cannot see CompressionTypes as a named export.
const { CompressionTypes } = kafkajs

declare module 'fastify' {
  interface FastifyInstance {
    producer: ProduceEngine
  }
}

const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
} as const

/**
 * The produce engine (`fastify.producer`): one kafkajs producer for the process, connected at the first
 * produce; it publishes on the diaspora:producer:* diagnostics channels (channels.ts). Shutdown: preClose drains it (new produce requests get 503 before anything is sent; queued
 * records are sent and answered), onClose disconnects it.
 */
const producerPlugin: FastifyPluginAsync = async (fastify) => {
  const { config: c, kafka } = fastify
  const log = fastify.log.child({ component: 'producer' })
  const wire = produceWireCounter()
  const client = kafka.createClient(`${c.KAFKA_CLIENT_ID}-producer`, { socketFactory: wire.socketFactory })
  const createProducer = () => client.producer({
    allowAutoTopicCreation: false,
    idempotent: false,
    // Never resend: a resend after the broker got the first attempt duplicates records (engine.ts).
    retry: { retries: 0 },
    // The engine places every record itself.
    createPartitioner: () => ({ message }) => message.partition as number
  })
  const metadata = new TopicMetadataCache({
    partitions: async (topic) => {
      const admin = await kafka.admin()
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
      return (topics[0]?.partitions ?? []).map(p => p.partitionId)
    }
  }, c.PRODUCE_METADATA_MAX_AGE_MS)
  const engine = new ProduceEngine({
    createProducer,
    metadata,
    produceWrites: () => wire.produceWrites,
    maxInFlightBytes: c.PRODUCE_MAX_IN_FLIGHT_BYTES,
    maxRecordBytes: c.PRODUCE_MAX_RECORD_BYTES,
    lingerMs: c.PRODUCE_LINGER_MS,
    requestTimeoutMs: c.PRODUCE_REQUEST_TIMEOUT_MS,
    compression: COMPRESSION[c.PRODUCE_COMPRESSION as keyof typeof COMPRESSION],
    retryAfterSeconds: c.PRODUCE_RETRY_AFTER_SECONDS,
    // The kafka plugin has applied (and asserted) kafkajs/patches.ts: ordered headers and encoded batches.
    orderedHeaders: true,
    encodedBatches: true,
    log
  })
  // Written, failed and sent records go to the diaspora:producer:* channels (channels.ts).
  engine.observe(produceEvents)
  fastify.decorate('producer', engine)
  fastify.addHook('preClose', async () => { await engine.drain() })
  fastify.addHook('onClose', async () => { await engine.close() })
}

export default fp(producerPlugin, { name: 'producer', fastify: '5.x', dependencies: ['config', 'kafka'] })
