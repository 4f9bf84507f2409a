/**
 * Auth faults under concurrency (issue 6 item 5), on the whole app. test/integration/auth.test.ts proves every
 * row of the introspection error table one request at a time; this file proves there is no pile-up: many
 * concurrent requests, many tokens, while Globus is slow, down or failing. Every request answers 503 before the
 * slow stand-in would have answered, Globus sees at most one call per token per wave (single flight), nothing
 * stays in flight afterwards, liveness is unaffected, and everything recovers when Globus does.
 */
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { build } from '../helpers/app.js'
import { fakeGlobusToken, type GlobusStandIn, type IntrospectionDoc } from '../helpers/globus.js'

const TOKENS = 20
const PER_TOKEN = 25
const TIMEOUT_MS = 2000
/** Far past the introspection timeout: an answer this late means a request waited for Globus. */
const SLOW_MS = 20_000
const METRICS_TOKEN = `metrics-${randomBytes(12).toString('hex')}`

/** e.g. "503 AUTH_UNAVAILABLE retry-after=9: 480, 200: 20", for assertion messages. */
function tally (results: LightMyRequestResponse[]): string {
  const counts = new Map<string, number>()
  for (const r of results) {
    const code = r.statusCode >= 400 ? ` ${String((r.json() as { code?: string }).code)}` : ''
    const key = `${r.statusCode}${code}${r.headers['retry-after'] !== undefined ? ` retry-after=${String(r.headers['retry-after'])}` : ''}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].map(([k, n]) => `${k}: ${n}`).join(', ')
}

function goodDoc (globus: GlobusStandIn, subject: string): IntrospectionDoc {
  const now = Math.floor(Date.now() / 1000)
  return { active: true, token_type: 'Bearer', scope: globus.scope, sub: subject, username: 'u@example.edu', aud: [globus.clientId], iss: 'https://auth.globus.org', exp: now + 3600, iat: now, nbf: now }
}

t.test('slow, down and failing Globus: prompt 503s, one call per token, no pile-up, recovery', async t => {
  const { app, globus } = await build(t, { env: { AUTH_INTROSPECTION_TIMEOUT_MS: String(TIMEOUT_MS), METRICS_TOKEN } })
  const tokens = Array.from({ length: TOKENS }, () => ({ token: fakeGlobusToken(), subject: randomUUID() }))
  const get = (token: string): Promise<LightMyRequestResponse> =>
    app.inject({ method: 'GET', url: '/api/v3/namespace', headers: { authorization: `Bearer ${token}` } })

  /** TOKENS × PER_TOKEN concurrent requests; the slowest answer's time and the answers. */
  const wave = async (): Promise<{ slowest: number, results: LightMyRequestResponse[] }> => {
    const began = Date.now()
    let slowest = 0
    const results = await Promise.all(tokens.flatMap(({ token }) => Array.from({ length: PER_TOKEN }, async () => {
      const res = await get(token)
      slowest = Math.max(slowest, Date.now() - began)
      return res
    })))
    return { slowest, results }
  }
  const introspectionFailures = async (): Promise<number> => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    const line = res.body.split('\n').find(l => l.startsWith('diaspora_auth_introspection_duration_seconds_count{outcome="failed"}'))
    return line === undefined ? 0 : Number(line.split(' ')[1])
  }

  await t.test('slow: every request answers 503 at the introspection timeout; one call per token', async t => {
    for (const { token, subject } of tokens) globus.setToken(token, { fault: 'delay', ms: SLOW_MS, doc: goodDoc(globus, subject) })
    const calls = globus.calls
    const stats = app.auth.stats()
    const health = (async () => { await new Promise(resolve => setTimeout(resolve, 50)); return app.inject({ method: 'GET', url: '/health' }) })()
    const { slowest, results } = await wave()
    t.ok(results.every(r => r.statusCode === 503 && r.json().code === 'AUTH_UNAVAILABLE'), `all 503 AUTH_UNAVAILABLE (${tally(results)})`)
    t.ok(results.every(r => r.headers['retry-after'] !== undefined), 'all with Retry-After')
    t.ok(slowest < SLOW_MS, `none waited for the slow stand-in (slowest ${slowest} ms, timeout ${TIMEOUT_MS} ms)`)
    t.equal(globus.calls - calls, TOKENS, `${TOKENS * PER_TOKEN} requests, ${TOKENS} introspections: single flight per token`)
    const after = app.auth.stats()
    t.equal(after.misses - stats.misses, TOKENS * PER_TOKEN, 'every request missed the cache (failures are not cached)')
    t.equal(after.introspections - stats.introspections, TOKENS)
    t.equal(after.inflight, 0, 'nothing left in flight')
    t.equal(after.size, stats.size, 'nothing cached')
    t.equal((await health).statusCode, 200, 'liveness answered meanwhile')
    t.equal(await introspectionFailures(), TOKENS, 'the failed introspections show in the metrics')

    const again = await wave()
    t.ok(again.results.every(r => r.statusCode === 503))
    t.equal(globus.calls - calls, 2 * TOKENS, 'a second wave: again one call per token, not one per request')
  })

  await t.test('down: prompt 503 without any call; cached tokens keep working', async t => {
    const cached = { token: globus.userToken(), subject: '' }
    t.equal((await get(cached.token)).statusCode, 200, 'cached before the outage')
    await globus.suspend()
    t.teardown(() => globus.resume().catch(() => {}))
    const calls = globus.calls
    const { slowest, results } = await wave()
    t.ok(results.every(r => r.statusCode === 503 && r.json().code === 'AUTH_UNAVAILABLE'), `all 503 (${tally(results)})`)
    t.ok(slowest < SLOW_MS, `prompt (slowest ${slowest} ms)`)
    t.equal(globus.calls, calls, 'nothing reached Globus')
    t.equal(app.auth.stats().inflight, 0, 'nothing left in flight')
    const hits = await Promise.all(Array.from({ length: 50 }, () => get(cached.token)))
    t.ok(hits.every(r => r.statusCode === 200), 'cached tokens are served during the outage')
    await globus.resume()
  })

  await t.test('failing (503 from Globus): 503 with its Retry-After; at most one call per token', async t => {
    for (const { token } of tokens) globus.setToken(token, { fault: 'status', status: 503, retryAfter: 9 })
    const calls = globus.calls
    const { results } = await wave()
    t.ok(results.every(r => r.statusCode === 503 && r.headers['retry-after'] === '9'), `all 503, Retry-After passed through (${tally(results)})`)
    t.ok(globus.calls - calls <= TOKENS, `${globus.calls - calls} calls for ${TOKENS * PER_TOKEN} requests`)
    t.equal(app.auth.stats().inflight, 0)
  })

  await t.test('recovery: every token works once Globus answers, and is then cached', async t => {
    for (const { token, subject } of tokens) globus.setToken(token, goodDoc(globus, subject))
    const calls = globus.calls
    const { results } = await wave()
    t.ok(results.every(r => r.statusCode === 200), `all 200 (${tally(results)})`)
    t.equal(globus.calls - calls, TOKENS, 'one introspection per token')
    const cachedWave = await wave()
    t.ok(cachedWave.results.every(r => r.statusCode === 200))
    t.equal(globus.calls - calls, TOKENS, 'then served from the cache')
  })
})
