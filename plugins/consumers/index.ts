import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { instanceEvents } from './channels.js'
import { ConsumerRegistry } from './registry.js'
import { BufferBudget } from './record-buffer.js'
import { TopicList } from './topic-list.js'

declare module 'fastify' {
  interface FastifyInstance {
    consumers: ConsumerRegistry
  }
}

/**
 * The consumer registry for this process. Shutdown: preClose drains it (waiting long polls return what they
 * hold, no instance is created any more) before the HTTP server waits for its in-flight requests; onClose then
 * closes every instance, which leaves its group.
 */
const consumersPlugin: FastifyPluginAsync = async (fastify) => {
  const { config: c, kafka, namespaces } = fastify
  const driver = kafka.driver
  const topics = new TopicList(() => driver.listTopics())
  const registry = new ConsumerRegistry({
    kafka: driver,
    listTopics: (maxAgeMs) => topics.list(maxAgeMs),
    names: namespaces,
    budget: new BufferBudget(c.CONSUMER_TOTAL_BUFFER_BYTES),
    settings: {
      sessionTimeout: c.CONSUMER_SESSION_TIMEOUT_MS,
      heartbeatInterval: c.CONSUMER_HEARTBEAT_INTERVAL_MS,
      fetchMaxWaitMs: c.CONSUMER_FETCH_MAX_WAIT_MS,
      fetchMaxBytes: c.CONSUMER_FETCH_MAX_BYTES,
      bufferBytes: c.CONSUMER_BUFFER_BYTES,
      bufferRecords: c.CONSUMER_BUFFER_RECORDS,
      autoCommitIntervalMs: c.CONSUMER_AUTO_COMMIT_INTERVAL_MS,
      refreshIntervalMs: c.CONSUMER_PATTERN_REFRESH_MS,
      joinWaitMs: c.CONSUMER_JOIN_WAIT_MS,
      parkAfterMs: c.CONSUMER_PARK_AFTER_MS,
      fetchStallMs: c.CONSUMER_FETCH_STALL_MS
    },
    log: fastify.log.child({ component: 'consumers' }),
    // Reads, commits and joins go to the diaspora:consumers:* channels (channels.ts).
    observer: instanceEvents
  }, {
    instanceTimeoutMs: c.CONSUMER_INSTANCE_TIMEOUT_MS,
    maxPerSubject: c.CONSUMER_MAX_INSTANCES_PER_SUBJECT,
    // Shutdown (server.ts): in-flight requests get 40 % of CLOSE_GRACE_MS, leaving the groups the next 40 %.
    closeTimeoutMs: Math.floor(c.CLOSE_GRACE_MS * 0.4),
    // Several nodes: generated ids name this node, requested names are claimed across the nodes, so any node
    // can send a request to the instance's holder.
    ...(fastify.cluster ? { instanceName: fastify.cluster.instanceName, claims: fastify.cluster.claims } : {})
  })
  fastify.decorate('consumers', registry)
  fastify.addHook('preClose', async () => { registry.drain() })
  fastify.addHook('onClose', async () => { await registry.closeAll() })
}

export default fp(consumersPlugin, { name: 'consumers', fastify: '5.x', dependencies: ['config', 'kafka', 'namespaces', 'cluster'] })
