/**
 * Prometheus metrics (issue 6 item 8) on the whole app against the real broker and the Globus stand-in:
 * where /metrics is served (never unguarded on the API port), that every metric is present, and that each one
 * moves with the activity it counts.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { build } from '../helpers/app.js'
import { apiUser, producer, readAll, shortName, BINARY } from '../helpers/api.js'

const TOKEN = `metrics-${randomBytes(12).toString('hex')}`

type Labels = Record<string, string>
interface Sample { name: string, labels: Labels, value: number }

/** Parses the text exposition format (enough of it for these tests). */
function parse (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`unparsable exposition line: ${line}`)
    const labels: Labels = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k as string] = v as string
    out.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return out
}

/** Sum of the samples of `name` whose labels include `labels`. */
function value (samples: Sample[], name: string, labels: Labels = {}): number {
  return samples
    .filter(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0)
}

/** Every metric family, declared (# TYPE) from the first scrape on, samples or not. */
const METRICS = [
  'diaspora_http_requests_total', 'diaspora_http_request_duration_seconds',
  'diaspora_consumer_instances', 'diaspora_consumer_long_polls', 'diaspora_consumer_buffered_records', 'diaspora_consumer_buffered_bytes',
  'diaspora_consumer_kafka_consumers',
  'diaspora_consumer_instances_created_total', 'diaspora_consumer_instances_deleted_total', 'diaspora_consumer_instances_expired_total',
  'diaspora_consumer_fetch_duration_seconds', 'diaspora_consumer_fetches_total', 'diaspora_consumer_records_served_total',
  'diaspora_consumer_bytes_served_total', 'diaspora_consumer_commits_total', 'diaspora_consumer_commit_errors_total',
  'diaspora_consumer_rebalances_total', 'diaspora_auth_cache_hits_total', 'diaspora_auth_cache_misses_total',
  'diaspora_auth_introspection_duration_seconds', 'diaspora_forwarded_requests_total', 'diaspora_forward_duration_seconds',
  // prom-client's process and Node.js defaults
  'process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds'
]

t.test('off by default: /metrics is a plain 404 on the API port', async t => {
  const { app } = await build(t)
  t.equal(app.metrics, null)
  for (const method of ['GET', 'HEAD'] as const) {
    const res = await app.inject({ method, url: '/metrics' })
    t.equal(res.statusCode, 404, method)
    t.match(res.headers['content-type'], /^text\/plain/, 'plain text, not a Confluent-typed error')
    t.equal(res.body, method === 'GET' ? 'Not Found\n' : '')
  }
  const withToken = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(withToken.statusCode, 404, 'a token does not open it either')
  t.equal(withToken.body, 'Not Found\n')
  const docs = await app.inject({ method: 'GET', url: '/docs/json' })
  t.notOk(Object.keys(docs.json().paths).includes('/metrics'), 'not in the OpenAPI spec')
})

t.test('METRICS_TOKEN: served on the API port to the bearer of the token only, and not in the API docs', async t => {
  const { app } = await build(t, { env: { METRICS_TOKEN: TOKEN } })
  t.equal(app.metrics?.listenerUrl, undefined, 'no separate listener')
  for (const authorization of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN]) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: authorization === undefined ? {} : { authorization } })
    t.equal(res.statusCode, 401, `refused: ${authorization ?? 'no header'}`)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"')
    t.notMatch(res.body, /diaspora_|ns-/, 'nothing leaks')
  }
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `bearer ${TOKEN}` } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  parse(res.body)
  const declared = new Set([...res.body.matchAll(/^# TYPE (\S+) /gm)].map(m => m[1]))
  for (const name of METRICS) t.ok(declared.has(name), `present: ${name}`)
  const docs = await app.inject({ method: 'GET', url: '/docs/json' })
  t.notOk(Object.keys(docs.json().paths).includes('/metrics'), 'not in the OpenAPI spec')
})

t.test('METRICS_PORT: a separate listener on 127.0.0.1, nothing on the API port', async t => {
  const { app } = await build(t, { env: { METRICS_PORT: '0' } })
  const url = app.metrics?.listenerUrl as string
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'bound to loopback by default')
  const res = await fetch(`${url}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  t.ok(parse(await res.text()).some(s => s.name === 'diaspora_consumer_fetches_total'))
  t.equal((await fetch(`${url}/other`)).status, 404)
  t.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405)
  const api = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(api.statusCode, 404, 'the API port does not serve it')
  t.equal(api.body, 'Not Found\n', 'a plain 404')
})

t.test('METRICS_PORT and METRICS_TOKEN: the listener asks for the token too', async t => {
  const { app } = await build(t, { env: { METRICS_PORT: '0', METRICS_TOKEN: TOKEN } })
  const url = app.metrics?.listenerUrl as string
  const refused = await fetch(`${url}/metrics`)
  t.equal(refused.status, 401)
  t.notMatch(await refused.text(), /diaspora_/)
  t.equal((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200)
})

t.test('every metric moves with the activity it counts', async t => {
  const { app, globus } = await build(t, { env: { METRICS_TOKEN: TOKEN, CONSUMER_INSTANCE_TIMEOUT_MS: '1500' } })
  const scrape = async (): Promise<Sample[]> => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(res.statusCode, 200)
    return parse(res.body)
  }
  const waitFor = async (what: string, check: (s: Sample[]) => boolean): Promise<Sample[]> => {
    for (let i = 0; i < 100; i++) {
      const s = await scrape()
      if (check(s)) return s
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    throw new Error(`metrics never showed ${what}`)
  }
  const before = await scrape()

  const user = await apiUser(app, globus) // a fresh token: one cache miss, one introspection
  const topic = await user.topic(1)
  const group = shortName('g')
  const path = await user.subscriber(group, [topic])
  let s = await scrape()
  t.equal(value(s, 'diaspora_consumer_instances', { namespace: user.ns }), 1, 'one instance in the namespace')
  t.equal(value(s, 'diaspora_consumer_instances_created_total') - value(before, 'diaspora_consumer_instances_created_total'), 1, 'creates')
  t.ok(value(s, 'diaspora_auth_cache_misses_total') > value(before, 'diaspora_auth_cache_misses_total'), 'auth cache misses')
  t.ok(value(s, 'diaspora_auth_cache_hits_total') > value(before, 'diaspora_auth_cache_hits_total'), 'auth cache hits (the same token again)')
  t.ok(value(s, 'diaspora_auth_introspection_duration_seconds_count', { outcome: 'answered' }) >= 1, 'introspection latency observed')

  // An empty read, then records.
  const empty = await user.req('GET', `${path}/records?timeout=200`, undefined, { accept: BINARY })
  t.equal(empty.statusCode, 200)
  const prod = await producer(t)
  await prod.send({ topic: `${user.ns}.${topic}`, messages: [{ key: 'k', value: 'twelve bytes' }, { value: 'v2' }] })
  const recs = await readAll(user, path, 2)
  t.equal(recs.length, 2)
  t.equal((await user.req('POST', `${path}/offsets`)).statusCode, 200)
  s = await scrape()
  t.ok(value(s, 'diaspora_consumer_fetches_total', { result: 'empty' }) >= 1, 'empty fetches counted')
  t.ok(value(s, 'diaspora_consumer_fetches_total', { result: 'records' }) >= 1, 'non-empty fetches counted')
  t.equal(value(s, 'diaspora_consumer_records_served_total'), 2, 'records served')
  t.equal(value(s, 'diaspora_consumer_bytes_served_total'), 1 + 12 + 2, 'key + value bytes served')
  t.ok(value(s, 'diaspora_consumer_fetch_duration_seconds_count') >= 2, 'fetch latency observed')
  t.ok(value(s, 'diaspora_consumer_fetch_duration_seconds_sum') > 0)
  t.equal(value(s, 'diaspora_consumer_commits_total'), 1, 'the commit')
  t.ok(value(s, 'diaspora_consumer_rebalances_total') >= 1, 'the group join')
  const recordsRoute = '/api/v3/:namespace/consumers/:group/instances/:instance/records'
  t.ok(value(s, 'diaspora_http_requests_total', { method: 'GET', route: recordsRoute, status: '200' }) >= 2, 'requests by route pattern and status')
  t.ok(value(s, 'diaspora_http_request_duration_seconds_count', { method: 'GET', route: recordsRoute }) >= 2)

  // A commit that fails: a manually assigned instance cannot commit while the group has an active member.
  const manual = await user.consumer(group)
  t.equal((await user.req('POST', `${manual}/assignments`, { partitions: [{ topic, partition: 0 }] })).statusCode, 204)
  const refused = await user.req('POST', `${manual}/offsets`, { offsets: [{ topic, partition: 0, offset: 0 }] })
  t.equal(refused.statusCode, 409)
  s = await scrape()
  t.equal(value(s, 'diaspora_consumer_commit_errors_total'), 1, 'commit errors')
  t.equal(value(s, 'diaspora_consumer_instances', { namespace: user.ns }), 2)

  // A long poll in progress shows; a 404 is counted under no route, never under its raw URL.
  const poll = user.req('GET', `${path}/records?timeout=3000`, undefined, { accept: BINARY })
  await waitFor('a waiting long poll', x => value(x, 'diaspora_consumer_long_polls') === 1)
  await poll
  await app.inject({ method: 'GET', url: `/api/v3/${user.ns}/no/such/route` })
  s = await scrape()
  t.ok(value(s, 'diaspora_http_requests_total', { route: '(unmatched)', status: '404' }) >= 1, '404s under (unmatched)')
  t.notOk(s.some(x => x.name.startsWith('diaspora_http') && (x.labels.route ?? '').includes(user.ns)), 'no route label carries a namespace')

  // Delete one instance; the other expires.
  t.equal((await user.req('DELETE', path)).statusCode, 204)
  s = await waitFor('the expiry', x => value(x, 'diaspora_consumer_instances_expired_total') > value(before, 'diaspora_consumer_instances_expired_total'))
  t.equal(value(s, 'diaspora_consumer_instances_deleted_total') - value(before, 'diaspora_consumer_instances_deleted_total'), 1, 'deletes')
  t.equal(value(s, 'diaspora_consumer_instances', { namespace: user.ns }), 0, 'no instance left in the namespace')
  t.ok(value(s, 'diaspora_http_requests_total', { route: '/metrics', status: '200' }) >= 1, 'scrapes are requests too')
})
