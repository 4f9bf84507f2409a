/**
 * Prometheus metrics (issue 6 item 8). Off unless METRICS_PORT or METRICS_TOKEN is set: namespace names are
 * not public, so `/metrics` is never served unguarded on the API port.
 *
 * - METRICS_PORT: a separate listener on METRICS_HOST (127.0.0.1 by default) serves `GET /metrics`.
 * - METRICS_TOKEN: the API port serves `GET /metrics` to `Authorization: Bearer <METRICS_TOKEN>` only (401
 *   otherwise); the separate listener asks for it too. Without METRICS_TOKEN, `/metrics` on the API port is a
 *   plain-text 404 (not the Confluent-typed JSON 404 of unknown routes: it is no API route, and a scraper
 *   pointed at it should see a bare "not found").
 *
 * Decorates `fastify.metrics` (null when off). Feeds the metrics from an onResponse hook (requests by route
 * pattern and status), from the diagnostics channels the auth, consumers, producer and cluster plugins publish
 * on (subscriptions.ts; unsubscribed on close), and from the stats the plugins it depends on keep (read at
 * scrape time). Registered after the plugins it observes and before the routes, whose requests it counts.
 */
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { ApiError } from '../errors/errors.js'
import { bearerMatches, ServiceMetrics } from './metrics.js'
import { startMetricsListener, type MetricsListener } from './listener.js'
import { subscribeMetrics } from './subscriptions.js'

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

/** `GET /metrics` on the API port when no METRICS_TOKEN opens it there. */
const PLAIN_NOT_FOUND = 'Not Found\n'

const metricsPlugin: FastifyPluginAsync = async (fastify) => {
  const c = fastify.config
  if (c.METRICS_TOKEN === undefined) {
    fastify.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      return reply.code(404).type('text/plain; charset=utf-8').send(PLAIN_NOT_FOUND)
    })
  }
  if (c.METRICS_PORT === undefined && c.METRICS_TOKEN === undefined) {
    fastify.decorate('metrics', null)
    return
  }
  const service = new ServiceMetrics()
  let listener: MetricsListener | undefined
  const api: MetricsApi = { service, get listenerUrl () { return listener?.url } }
  fastify.decorate('metrics', api)

  service.bindConsumers(fastify.consumers)
  service.bindAuth(fastify.auth)
  service.bindProducer(fastify.producer)
  const unsubscribe = subscribeMetrics(service)

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
    unsubscribe()
    await listener?.close()
  })
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x', dependencies: ['config', 'auth', 'consumers', 'producer'] })
