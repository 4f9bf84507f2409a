/**
 * Prometheus metrics (issue 6 item 8). Off unless METRICS_PORT or METRICS_TOKEN is set: namespace names are
 * not public, so `/metrics` is never served unguarded on the API port.
 *
 * - METRICS_PORT: a separate listener on METRICS_HOST (127.0.0.1 by default) serves `GET /metrics`.
 * - METRICS_TOKEN: the API port serves `GET /metrics` to `Authorization: Bearer <METRICS_TOKEN>` only (401
 *   otherwise); the separate listener asks for it too. With neither set, `/metrics` is a plain 404.
 *
 * Decorates `fastify.metrics` (null when off). Feeds the metrics from an onResponse hook (requests by route
 * pattern and status), the consumer registry's observer and stats, and the auth plugin's stats; app.ts hands
 * the introspection observer to the auth plugin.
 */
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { ApiError } from '../errors/errors.js'
import { bearerMatches, ServiceMetrics } from './metrics.js'
import { startMetricsListener, type MetricsListener } from './listener.js'

export interface MetricsApi {
  readonly service: ServiceMetrics
  /** URL of the separate listener once the app is ready (METRICS_PORT set), else undefined. */
  readonly listenerUrl: string | undefined
}

declare module 'fastify' {
  interface FastifyInstance {
    /** null when metrics are off (neither METRICS_PORT nor METRICS_TOKEN is set). */
    metrics: MetricsApi | null
  }
}

const metricsPlugin: FastifyPluginAsync = async (fastify) => {
  const c = fastify.config
  if (c.METRICS_PORT === undefined && c.METRICS_TOKEN === undefined) {
    fastify.decorate('metrics', null)
    return
  }
  const service = new ServiceMetrics()
  let listener: MetricsListener | undefined
  const api: MetricsApi = { service, get listenerUrl () { return listener?.url } }
  fastify.decorate('metrics', api)

  // The route pattern (routeOptions.url), never the raw URL: that would carry namespace and instance names.
  fastify.addHook('onResponse', (request, reply, done) => {
    service.httpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })

  const token = c.METRICS_TOKEN
  if (token !== undefined) {
    // Operational, not part of the API: hidden from /docs (and so from the API fuzzing).
    fastify.get('/metrics', {
      schema: { hide: true, summary: 'Prometheus metrics', description: 'Text exposition format; needs Authorization: Bearer <METRICS_TOKEN>.' }
    }, async (request, reply) => {
      if (!bearerMatches(request.headers.authorization, token)) {
        throw new ApiError(401, 40101, 'Metrics need Authorization: Bearer <METRICS_TOKEN>', { code: 'UNAUTHORIZED', headers: { 'www-authenticate': 'Bearer realm="metrics"' } })
      }
      return reply.type(service.contentType).send(await service.render())
    })
  }

  fastify.addHook('onReady', async () => {
    // Plugins registered after this one (consumers, auth) exist by now.
    if (fastify.hasDecorator('consumers')) {
      fastify.consumers.observe(service.consumerObserver)
      service.bindConsumers(fastify.consumers)
    }
    if (fastify.hasDecorator('auth')) service.bindAuth(fastify.auth)
    if (fastify.hasDecorator('producer')) {
      fastify.producer.observe(service.producerObserver)
      service.bindProducer(fastify.producer)
    }
    if (c.METRICS_PORT !== undefined) {
      const log = fastify.log.child({ component: 'metrics' })
      listener = await startMetricsListener({
        host: c.METRICS_HOST,
        port: c.METRICS_PORT,
        render: () => service.render(),
        contentType: service.contentType,
        ...(token === undefined ? {} : { token }),
        onError: (err) => log.error({ err }, 'metrics collection failed')
      })
      log.info({ url: `${listener.url}/metrics` }, 'metrics listener started')
    }
  })
  fastify.addHook('onClose', async () => {
    await listener?.close()
  })
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x', dependencies: ['config'] })
