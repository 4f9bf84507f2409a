/**
 * The metrics module on its own: a registry per instance (two never share samples), the observers, counters
 * mirrored from cumulative stats, route labels, the bearer check, and the separate listener.
 */
import t from 'tap'
import { ServiceMetrics, bearerMatches, UNMATCHED_ROUTE, type ConsumerSource } from '../../../plugins/metrics/metrics.js'
import { startMetricsListener } from '../../../plugins/metrics/listener.js'

function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('each instance has its own registry', async t => {
  const a = new ServiceMetrics({ defaultMetrics: false })
  const b = new ServiceMetrics({ defaultMetrics: false })
  a.consumerObserver.join?.()
  t.equal(sample(await a.render(), 'diaspora_consumer_rebalances_total'), 1)
  t.equal(sample(await b.render(), 'diaspora_consumer_rebalances_total'), 0)
  t.notOk(/^process_/m.test(await a.render()), 'no default metrics when disabled')
  const withDefaults = new ServiceMetrics()
  t.match(await withDefaults.render(), /^process_resident_memory_bytes /m)
  t.match(withDefaults.contentType, /^text\/plain; version=0\.0\.4/)
})

t.test('observers: reads, commits, introspections, HTTP requests', async t => {
  const m = new ServiceMetrics({ defaultMetrics: false })
  m.consumerObserver.read?.(20, 0, 0)
  m.consumerObserver.read?.(1500, 3, 300)
  m.consumerObserver.commit?.(true)
  m.consumerObserver.commit?.(false)
  m.consumerObserver.commit?.(true)
  m.introspectionObserver(0.05, 'answered')
  m.introspectionObserver(5, 'failed')
  m.httpRequest('GET', '/api/v3/:namespace/consumers/:group/instances/:instance/records', 200, 1.5)
  m.httpRequest('GET', undefined, 404, 0.001)
  const text = await m.render()
  t.equal(sample(text, 'diaspora_consumer_fetches_total{result="empty"}'), 1)
  t.equal(sample(text, 'diaspora_consumer_fetches_total{result="records"}'), 1)
  t.equal(sample(text, 'diaspora_consumer_records_served_total'), 3)
  t.equal(sample(text, 'diaspora_consumer_bytes_served_total'), 300)
  t.equal(sample(text, 'diaspora_consumer_fetch_duration_seconds_count'), 2)
  t.equal(sample(text, 'diaspora_consumer_fetch_duration_seconds_bucket{le="0.025"}'), 1, 'milliseconds become seconds')
  t.equal(sample(text, 'diaspora_consumer_commits_total'), 2)
  t.equal(sample(text, 'diaspora_consumer_commit_errors_total'), 1)
  t.equal(sample(text, 'diaspora_auth_introspection_duration_seconds_count{outcome="answered"}'), 1)
  t.equal(sample(text, 'diaspora_auth_introspection_duration_seconds_count{outcome="failed"}'), 1)
  t.equal(sample(text, 'diaspora_http_requests_total{method="GET",route="/api/v3/:namespace/consumers/:group/instances/:instance/records",status="200"}'), 1)
  t.equal(sample(text, `diaspora_http_requests_total{method="GET",route="${UNMATCHED_ROUTE}",status="404"}`), 1)
})

t.test('registry and auth stats become monotonic counters and gauges at scrape time', async t => {
  const m = new ServiceMetrics({ defaultMetrics: false })
  const instances = [
    { opts: { namespace: 'ns-a' }, activeReads: 1, bufferedBytes: 10, bufferedRecords: 1, started: true, parked: false },
    { opts: { namespace: 'ns-a' }, activeReads: 0, bufferedBytes: 5, bufferedRecords: 2, started: true, parked: true },
    { opts: { namespace: 'ns-b' }, activeReads: 2, bufferedBytes: 0, bufferedRecords: 0, started: false, parked: false }
  ]
  const consumers: ConsumerSource = { stats: { created: 3, deleted: 0, expired: 0 }, all: () => instances }
  const auth = { hits: 10, misses: 2 }
  m.bindConsumers(consumers)
  m.bindAuth({ stats: () => auth })
  let text = await m.render()
  t.equal(sample(text, 'diaspora_consumer_instances{namespace="ns-a"}'), 2)
  t.equal(sample(text, 'diaspora_consumer_instances{namespace="ns-b"}'), 1)
  t.equal(sample(text, 'diaspora_consumer_long_polls'), 3)
  t.equal(sample(text, 'diaspora_consumer_buffered_bytes'), 15)
  t.equal(sample(text, 'diaspora_consumer_buffered_records'), 3)
  t.equal(sample(text, 'diaspora_consumer_kafka_consumers{state="fetching"}'), 1)
  t.equal(sample(text, 'diaspora_consumer_kafka_consumers{state="parked"}'), 1, 'not started: neither')
  t.equal(sample(text, 'diaspora_consumer_instances_created_total'), 3)
  t.equal(sample(text, 'diaspora_auth_cache_hits_total'), 10)
  t.equal(sample(text, 'diaspora_auth_cache_misses_total'), 2)

  instances.splice(2, 1)
  instances.pop()
  consumers.stats.deleted = 1
  consumers.stats.expired = 1
  auth.hits = 15
  text = await m.render()
  t.equal(sample(text, 'diaspora_consumer_instances{namespace="ns-a"}'), 1)
  t.equal(sample(text, 'diaspora_consumer_instances{namespace="ns-b"}'), undefined, 'a namespace without instances disappears')
  t.equal(sample(text, 'diaspora_consumer_instances_deleted_total'), 1)
  t.equal(sample(text, 'diaspora_consumer_instances_expired_total'), 1)
  t.equal(sample(text, 'diaspora_auth_cache_hits_total'), 15)
  t.equal(sample(await m.render(), 'diaspora_auth_cache_hits_total'), 15, 'scraping twice does not count twice')
})

t.test('bearerMatches', async t => {
  const token = 'a-metrics-token-0123456789'
  t.ok(bearerMatches(`Bearer ${token}`, token))
  t.ok(bearerMatches(`bearer ${token}`, token), 'scheme is case-insensitive')
  for (const h of [undefined, '', token, `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Bearer ${token} extra`, 'Bearer']) {
    t.notOk(bearerMatches(h, token), `refused: ${String(h)}`)
  }
})

t.test('the separate listener: GET /metrics only, token when configured', async t => {
  const open = await startMetricsListener({ host: '127.0.0.1', port: 0, render: async () => 'x_total 1\n', contentType: 'text/plain; version=0.0.4' })
  t.teardown(() => open.close())
  t.match(open.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const ok = await fetch(`${open.url}/metrics?x=1`)
  t.equal(ok.status, 200)
  t.equal(await ok.text(), 'x_total 1\n')
  t.equal((await fetch(`${open.url}/metrics`, { method: 'HEAD' })).status, 200)
  t.equal((await fetch(`${open.url}/`)).status, 404)
  t.equal((await fetch(`${open.url}/metrics`, { method: 'DELETE' })).status, 405)

  const errors: unknown[] = []
  const guarded = await startMetricsListener({
    host: '127.0.0.1',
    port: 0,
    render: async () => { throw new Error('collect failed') },
    contentType: 'text/plain',
    token: 'a-metrics-token-0123456789',
    onError: (err) => errors.push(err)
  })
  t.teardown(() => guarded.close())
  const no = await fetch(`${guarded.url}/metrics`)
  t.equal(no.status, 401)
  t.equal(no.headers.get('www-authenticate'), 'Bearer realm="metrics"')
  const failed = await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer a-metrics-token-0123456789' } })
  t.equal(failed.status, 500, 'a failing collection is a 500, not a crash')
  t.equal(errors.length, 1)
})
