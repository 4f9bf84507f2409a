// The auth plugin on a bare Fastify (config + errors + auth, no Kafka), talking over real HTTP to the Globus
// stand-in. Two throwaway routes, one per error family, prove the §6 table row by row in both body shapes;
// then caching (via the stand-in's call counts), timeouts, recovery and dev mode.
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { serverOptions } from '../../app.js'
import configPlugin from '../../plugins/config/index.js'
import errorsPlugin from '../../plugins/errors/index.js'
import authPlugin, { type AuthPluginOptions } from '../../plugins/auth/index.js'
import { loadConfig, SECRET_VARIABLES } from '../../plugins/config/config.js'
import { recordSecret, testLogSink } from '../../scripts/log-leaks.js'
import { fakeGlobusToken, REFUSED_URL, startGlobus, type GlobusStandIn, type IntrospectionDoc } from '../helpers/globus.js'

interface Teardown { teardown (fn: () => unknown): void }

const CONSUMER_URL = '/api/v3/ns-auth/consumers/g/instances/i/records'
const MANAGEMENT_URL = '/api/v3/namespace'
const FAMILIES = [
  { family: 'consumer', url: CONSUMER_URL },
  { family: 'management', url: MANAGEMENT_URL }
] as const
const REALM = 'Bearer realm="diaspora"'
const KAFKA_V2_JSON = 'application/vnd.kafka.v2+json'

interface Harness {
  app: FastifyInstance
  globus: GlobusStandIn
  /** Added to Date.now() by the plugin's clock. */
  clock: { offset: number }
  /** Every log line the app wrote (level trace). */
  logs: string[]
  stderr: string[]
  get (url: string, headers?: Record<string, string>): Promise<LightMyRequestResponse>
  bearer (token: string, url?: string, extra?: Record<string, string>): Promise<LightMyRequestResponse>
}

interface HarnessOptions {
  env?: Record<string, string | undefined>
  globus?: GlobusStandIn
  auth?: AuthPluginOptions
  /** Extra routes, registered before ready(). */
  routes?: (app: FastifyInstance) => void
}

async function harness (t: Teardown, opts: HarnessOptions = {}): Promise<Harness> {
  const globus = opts.globus ?? await startGlobus(t)
  const env: Record<string, string | undefined> = {
    LOG_LEVEL: 'trace',
    SERVER_CLIENT_ID: globus.clientId,
    SERVER_SECRET: globus.clientSecret,
    GLOBUS_AUTH_URL: globus.url,
    ...opts.env
  }
  const logs: string[] = []
  const stderr: string[] = []
  const clock = { offset: 0 }
  for (const name of SECRET_VARIABLES) recordSecret(env[name])
  const sink = testLogSink('auth-harness')
  const app = Fastify({ ...serverOptions(loadConfig(env)), logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line); sink?.write(line) } } } })
  await app.register(configPlugin, { env })
  await app.register(errorsPlugin)
  await app.register(authPlugin, {
    now: () => Date.now() + clock.offset,
    stderr: { write: (s: string) => stderr.push(s) },
    ...opts.auth
  })
  app.get(CONSUMER_URL, { onRequest: app.authenticate, config: { family: 'consumer' } }, async (request) => ({ principal: request.principal }))
  app.get(MANAGEMENT_URL, { onRequest: app.authenticate, config: { family: 'management' } }, async (request) => ({ status: 'success', principal: request.principal }))
  opts.routes?.(app)
  t.teardown(() => app.close())
  await app.ready()
  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers })
  return {
    app,
    globus,
    clock,
    logs,
    stderr,
    get,
    bearer: (token, url = MANAGEMENT_URL, extra = {}) => get(url, { authorization: `Bearer ${token}`, ...extra })
  }
}

/** A document the stand-in would issue for a good token of `subject`. */
function goodDoc (globus: GlobusStandIn, subject: string, over: Partial<IntrospectionDoc> = {}): IntrospectionDoc {
  const now = Math.floor(Date.now() / 1000)
  return { active: true, token_type: 'Bearer', scope: globus.scope, sub: subject, username: 'carol@example.edu', aud: [globus.clientId], iss: 'https://auth.globus.org', exp: now + 3600, iat: now, nbf: now, ...over }
}

// ---------------------------------------------------------------------------------------------------------
// §6, every row, both families

interface Expect {
  status: number
  errorCode: number
  code: string
  message: string
  /** Exact WWW-Authenticate, or null when it must be absent. */
  www: string | null
  /** Retry-After: exact value, or true for "present". */
  retryAfter?: string | true
  /** Stand-in calls the request may cause (0 when rejected before introspection). */
  calls: number
}

interface Row {
  name: string
  /** Which harness: the default one, or one configured for the row. */
  setup?: 'timeout' | 'refused' | 'misconfigured'
  /** Headers for the request (the token, when there is one, is returned to check it is never echoed). */
  prepare (h: Harness): { headers: Record<string, string>, token?: string }
  expect: Expect
}

const inactive = { status: 401, errorCode: 40101, code: 'TOKEN_INACTIVE', message: 'Token is invalid, expired, or revoked', www: `${REALM}, error="invalid_token"`, calls: 1 }
const malformed = { status: 401, errorCode: 40101, code: 'MALFORMED_TOKEN', message: 'Bearer token is malformed', www: `${REALM}, error="invalid_token"`, calls: 0 }
const unreachable = { status: 503, errorCode: 503, code: 'AUTH_UNAVAILABLE', message: 'Globus Auth is unreachable; retry later', www: null, retryAfter: true as const }
const unavailable = { status: 503, errorCode: 503, code: 'AUTH_UNAVAILABLE', message: 'Globus Auth is temporarily unavailable', www: null, calls: 1 }
const badResponse = { status: 502, errorCode: 502, code: 'AUTH_BAD_RESPONSE', message: 'Unexpected response from Globus Auth', www: null, calls: 1 }
const misconfigured = { status: 500, errorCode: 500, code: 'AUTH_MISCONFIGURED', message: 'Service authentication is misconfigured', www: null, calls: 1 }

function scripted (script: Parameters<GlobusStandIn['setToken']>[1]) {
  return (h: Harness) => {
    const token = fakeGlobusToken()
    h.globus.setToken(token, script)
    return { headers: { authorization: `Bearer ${token}` }, token }
  }
}

const ROWS: Row[] = [
  {
    name: '#1 no Authorization header',
    prepare: () => ({ headers: {} }),
    expect: { status: 401, errorCode: 40101, code: 'MISSING_TOKEN', message: 'Authorization header is required', www: REALM, calls: 0 }
  },
  {
    name: '#2 Basic scheme',
    prepare: () => ({ headers: { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` } }),
    expect: { status: 401, errorCode: 40101, code: 'INVALID_AUTH_SCHEME', message: 'Authorization must use the Bearer scheme', www: `${REALM}, error="invalid_request"`, calls: 0 }
  },
  { name: '#3 empty bearer token', prepare: () => ({ headers: { authorization: 'Bearer' } }), expect: malformed },
  {
    name: '#3 several parts',
    prepare: (h) => { const token = h.globus.userToken(); return { headers: { authorization: `Bearer ${token} ${token}` }, token } },
    expect: malformed
  },
  { name: '#3 bad characters', prepare: () => ({ headers: { authorization: 'Bearer Ag$ecret;token' }, token: 'Ag$ecret;token' }), expect: malformed },
  {
    name: '#3 too long',
    prepare: () => { const token = `Ag${'x'.repeat(4095)}`; return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: malformed
  },
  {
    name: '#4 subject header not a UUID',
    prepare: (h) => { const token = h.globus.userToken(); return { headers: { authorization: `Bearer ${token}`, subject: 'alice@example.edu' }, token } },
    expect: { status: 400, errorCode: 400, code: 'INVALID_SUBJECT', message: 'subject header must be a UUID', www: null, calls: 0 }
  },
  {
    name: '#5 unknown token',
    prepare: () => { const token = fakeGlobusToken(); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: inactive
  },
  { name: '#5 revoked token (active: false)', prepare: scripted({ active: false }), expect: inactive },
  {
    name: '#5 active is not JSON true',
    prepare: (h) => { const token = h.globus.userToken(undefined, { active: 'true' as unknown as boolean }); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: inactive
  },
  {
    name: '#6 expired by our exp check',
    prepare: (h) => { const token = h.globus.userToken(undefined, { exp: Math.floor(Date.now() / 1000) - 10 }); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: { status: 401, errorCode: 40101, code: 'TOKEN_EXPIRED', message: 'Token has expired', www: `${REALM}, error="invalid_token"`, calls: 1 }
  },
  {
    name: '#7 subject header names someone else',
    prepare: (h) => { const token = h.globus.userToken(randomUUID()); return { headers: { authorization: `Bearer ${token}`, subject: randomUUID() }, token } },
    expect: { status: 403, errorCode: 40301, code: 'SUBJECT_MISMATCH', message: 'Token does not belong to the given subject', www: null, calls: 1 }
  },
  {
    name: '#8 token issued for another service',
    prepare: (h) => { const token = h.globus.userToken(undefined, { aud: ['auth.globus.org', randomUUID()] }); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: { status: 403, errorCode: 40301, code: 'WRONG_AUDIENCE', message: 'Token was not issued for this service', www: null, calls: 1 }
  },
  {
    name: '#8 aud null',
    prepare: (h) => { const token = h.globus.userToken(undefined, { aud: null }); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: { status: 403, errorCode: 40301, code: 'WRONG_AUDIENCE', message: 'Token was not issued for this service', www: null, calls: 1 }
  },
  {
    name: '#9 required scope missing',
    prepare: (h) => { const token = h.globus.userToken(undefined, { scope: `openid ${h.globus.scope}_extra` }); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: {
      status: 403,
      errorCode: 40301,
      code: 'INSUFFICIENT_SCOPE',
      message: 'Token lacks the required scope',
      www: `${REALM}, error="insufficient_scope", scope="https://auth.globus.org/scopes/2b9d2f5c-fa32-45b5-875b-b24cd343b917/action_all"`,
      calls: 1
    }
  },
  { name: '#10 introspection timeout', setup: 'timeout', prepare: scripted({ fault: 'delay', ms: 10_000 }), expect: { ...unreachable, calls: 1 } },
  {
    name: '#10 connection refused',
    setup: 'refused',
    prepare: () => { const token = fakeGlobusToken(); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: { ...unreachable, calls: 0 }
  },
  { name: '#11 Globus 429 with Retry-After', prepare: scripted({ fault: 'status', status: 429, retryAfter: 42 }), expect: { ...unavailable, retryAfter: '42' } },
  { name: '#11 Globus 500', prepare: scripted({ fault: 'status', status: 500 }), expect: { ...unavailable, retryAfter: true } },
  { name: '#11 Globus 502', prepare: scripted({ fault: 'status', status: 502 }), expect: { ...unavailable, retryAfter: true } },
  { name: '#11 Globus 503 with Retry-After', prepare: scripted({ fault: 'status', status: 503, retryAfter: 7 }), expect: { ...unavailable, retryAfter: '7' } },
  { name: '#12 non-JSON body', prepare: scripted({ fault: 'garbage' }), expect: badResponse },
  { name: '#12 JSON without active', prepare: scripted({ fault: 'no-active' }), expect: badResponse },
  { name: '#12 unexpected 4xx', prepare: scripted({ fault: 'status', status: 404 }), expect: badResponse },
  {
    name: '#13 Globus rejects our client credentials',
    setup: 'misconfigured',
    prepare: (h) => { const token = h.globus.userToken(); return { headers: { authorization: `Bearer ${token}` }, token } },
    expect: misconfigured
  },
  { name: '#13 Globus answers 403 to our credentials', prepare: scripted({ fault: 'status', status: 403 }), expect: misconfigured }
]

t.test('§6 error table, both route families', async (t) => {
  const harnesses = new Map<string, Harness>()
  const harnessFor = async (setup: Row['setup']): Promise<Harness> => {
    const key = setup ?? 'default'
    let h = harnesses.get(key)
    if (h) return h
    if (setup === 'timeout') h = await harness(t, { env: { AUTH_INTROSPECTION_TIMEOUT_MS: '200' } })
    else if (setup === 'refused') h = await harness(t, { env: { GLOBUS_AUTH_URL: REFUSED_URL } })
    else if (setup === 'misconfigured') h = await harness(t, { env: { SERVER_SECRET: 'not-the-secret' } })
    else h = await harness(t)
    harnesses.set(key, h)
    return h
  }

  for (const row of ROWS) {
    for (const { family, url } of FAMILIES) {
      await t.test(`${row.name} (${family})`, async (t) => {
        const h = await harnessFor(row.setup)
        const { headers, token } = row.prepare(h)
        const before = h.globus.calls
        const res = await h.get(url, headers)
        const e = row.expect
        t.equal(res.statusCode, e.status, 'status')
        if (family === 'consumer') {
          t.same(res.json(), { error_code: e.errorCode, message: e.message }, 'Confluent body')
          t.match(res.headers['content-type'], KAFKA_V2_JSON)
        } else {
          t.same(res.json(), { status: 'failure', code: e.code, message: e.message, reason: e.message }, 'management body')
          t.match(res.headers['content-type'], 'application/json')
        }
        if (e.www === null) t.notOk(res.headers['www-authenticate'], 'no challenge')
        else t.equal(res.headers['www-authenticate'], e.www, 'WWW-Authenticate')
        if (e.status === 401) t.ok(res.headers['www-authenticate'], 'every 401 challenges')
        if (e.retryAfter === true) t.match(res.headers['retry-after'], /^\d+$/, 'Retry-After present')
        else if (e.retryAfter !== undefined) t.equal(res.headers['retry-after'], e.retryAfter, 'Retry-After passed through')
        else t.notOk(res.headers['retry-after'], 'no Retry-After')
        t.equal(h.globus.calls - before, e.calls, 'introspection calls')
        if (token !== undefined) {
          t.notMatch(res.body, token, 'body never echoes the token')
          t.notMatch(JSON.stringify(res.headers), token, 'headers never echo the token')
          t.notOk(h.logs.some(l => l.includes(token)), 'logs never contain the token')
        }
      })
    }
  }
})

t.test('§6 headers over a real HTTP connection', async (t) => {
  const h = await harness(t)
  const url = await h.app.listen({ port: 0, host: '127.0.0.1' })
  const missing = await fetch(`${url}${CONSUMER_URL}`)
  t.equal(missing.status, 401)
  t.equal(missing.headers.get('www-authenticate'), REALM)
  t.same(await missing.json(), { error_code: 40101, message: 'Authorization header is required' })
  const scopeless = h.globus.userToken(undefined, { scope: 'openid' })
  const forbidden = await fetch(`${url}${MANAGEMENT_URL}`, { headers: { authorization: `Bearer ${scopeless}` } })
  t.equal(forbidden.status, 403)
  t.match(forbidden.headers.get('www-authenticate'), /error="insufficient_scope", scope="https:\/\/auth\.globus\.org\/scopes\//)
  t.match(await forbidden.json(), { status: 'failure', code: 'INSUFFICIENT_SCOPE' })
  const subject = randomUUID()
  const ok = await fetch(`${url}${MANAGEMENT_URL}`, { headers: { authorization: `Bearer ${h.globus.userToken(subject)}`, Subject: subject } })
  t.equal(ok.status, 200)
  t.match(await ok.json(), { principal: { subject } })
})

t.test('§6 #13 is logged loudly at error level', async (t) => {
  const h = await harness(t, { env: { SERVER_SECRET: 'not-the-secret' } })
  const res = await h.bearer(h.globus.userToken())
  t.equal(res.statusCode, 500)
  t.ok(h.logs.some(l => { const o = JSON.parse(l) as { level: number, msg: string }; return o.level === 50 && /SERVER_SECRET/.test(o.msg) }))
})

// ---------------------------------------------------------------------------------------------------------
// success

t.test('a good token: principal set, subject header optional and compared canonically', async (t) => {
  const h = await harness(t)
  const subject = randomUUID()
  const token = h.globus.userToken(subject, { username: 'alice@example.edu' })
  const expectedPrincipal = { subject, username: 'alice@example.edu' }
  for (const { url } of FAMILIES) {
    const res = await h.bearer(token, url)
    t.equal(res.statusCode, 200)
    t.match(res.json(), { principal: expectedPrincipal })
    t.type(res.json().principal.expiresAt, 'number')
  }
  for (const form of [subject, subject.toUpperCase(), `{${subject}}`, subject.replace(/-/g, ''), `urn:uuid:${subject}`]) {
    const res = await h.bearer(token, MANAGEMENT_URL, { subject: form })
    t.equal(res.statusCode, 200, `subject header ${form}`)
  }
  const lower = await h.bearer(token, MANAGEMENT_URL, { authorization: `bearer ${token}` })
  t.equal(lower.statusCode, 200, 'scheme is case-insensitive')
  t.equal(h.globus.calls, 1, 'one introspection for all of it')
})

t.test('aud as a plain string and extra fields are accepted; client_id is not enforced', async (t) => {
  const h = await harness(t)
  const bot = randomUUID()
  const token = h.globus.userToken(bot, { aud: h.globus.clientId, client_id: bot, username: `${bot}@clients.auth.globus.org`, new_field: [1, 2] })
  const res = await h.bearer(token)
  t.equal(res.statusCode, 200)
  t.equal(res.json().principal.subject, bot)
})

t.test('request.principal is null before authentication and on public routes', async (t) => {
  const seen: unknown[] = []
  const h = await harness(t, {
    routes: (app) => {
      app.get('/public', async (request) => ({ principal: request.principal }))
      app.get('/api/v3/hooked', {
        onRequest: [async (request) => { seen.push(request.principal) }, app.authenticate],
        config: { family: 'management' }
      }, async (request) => ({ principal: request.principal }))
    }
  })
  t.same((await h.get('/public')).json(), { principal: null })
  const subject = randomUUID()
  const res = await h.bearer(h.globus.userToken(subject), '/api/v3/hooked')
  t.equal(res.json().principal.subject, subject)
  t.same(seen, [null], 'null until authenticate ran')
})

// ---------------------------------------------------------------------------------------------------------
// caching

t.test('cache hit: the second request does not introspect', async (t) => {
  const h = await harness(t)
  const subject = randomUUID()
  const token = h.globus.userToken(subject)
  t.equal((await h.bearer(token)).statusCode, 200)
  t.equal((await h.bearer(token, CONSUMER_URL)).statusCode, 200)
  t.equal(h.globus.calls, 1)
  t.match(h.app.auth.stats(), { hits: 1, misses: 1, introspections: 1, size: 1 })
  t.equal(h.app.auth.size, 1)

  const mismatch = await h.bearer(token, MANAGEMENT_URL, { subject: randomUUID() })
  t.equal(mismatch.statusCode, 403, 'subject checked on a hit too')
  t.equal(h.globus.calls, 1, 'still from the cache')

  const other = h.globus.userToken()
  await h.bearer(other)
  t.equal(h.globus.calls, 2, 'another token is another introspection')
})

t.test('TTL expiry (clock): re-introspects after AUTH_CACHE_TTL_MS, and sees a revocation then', async (t) => {
  const h = await harness(t, { env: { AUTH_CACHE_TTL_MS: '1000' } })
  const token = h.globus.userToken()
  t.equal((await h.bearer(token)).statusCode, 200)
  h.globus.setToken(token, { active: false }) // revoked
  h.clock.offset = 500
  t.equal((await h.bearer(token)).statusCode, 200, 'within the TTL the revocation is not yet seen')
  t.equal(h.globus.calls, 1)
  h.clock.offset = 1000
  const res = await h.bearer(token)
  t.equal(h.globus.calls, 2, 'introspected again at the TTL')
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'TOKEN_INACTIVE')
})

t.test('TTL expiry (real time): a short AUTH_CACHE_TTL_MS', async (t) => {
  const h = await harness(t, { env: { AUTH_CACHE_TTL_MS: '50' } })
  const token = h.globus.userToken()
  await h.bearer(token)
  await h.bearer(token)
  t.equal(h.globus.calls, 1, 'hit within the TTL')
  await new Promise(resolve => setTimeout(resolve, 120))
  t.equal((await h.bearer(token)).statusCode, 200)
  t.equal(h.globus.calls, 2, 'expired entry re-introspected')
})

t.test('AUTH_CACHE_TTL_MS=0 disables the cache', async (t) => {
  const h = await harness(t, { env: { AUTH_CACHE_TTL_MS: '0' } })
  const token = h.globus.userToken()
  for (let i = 0; i < 3; i++) t.equal((await h.bearer(token)).statusCode, 200)
  t.equal(h.globus.calls, 3)
})

t.test('never cached past exp', async (t) => {
  const h = await harness(t, { env: { AUTH_CACHE_TTL_MS: '60000' } })
  const token = h.globus.userToken(undefined, { exp: Math.floor(Date.now() / 1000) + 5 })
  t.equal((await h.bearer(token)).statusCode, 200)
  h.clock.offset = 2000
  t.equal((await h.bearer(token)).statusCode, 200)
  t.equal(h.globus.calls, 1, 'cached before exp')
  h.clock.offset = 6000
  const res = await h.bearer(token)
  t.equal(h.globus.calls, 2, 'the entry ended at exp although the TTL is 60 s')
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'TOKEN_EXPIRED', 'Globus still says active; our exp check refuses it')
})

t.test('1000 concurrent requests with one fresh token: exactly one introspection', async (t) => {
  const h = await harness(t)
  const subject = randomUUID()
  const token = fakeGlobusToken()
  // A slow answer keeps the introspection in flight while the requests pile up.
  h.globus.setToken(token, { fault: 'delay', ms: 300, doc: goodDoc(h.globus, subject) })
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => h.bearer(token, i % 2 ? CONSUMER_URL : MANAGEMENT_URL))
  )
  t.equal(h.globus.calls, 1)
  t.ok(results.every(r => r.statusCode === 200), 'all accepted')
  t.ok(results.every(r => r.json().principal.subject === subject))
  t.match(h.app.auth.stats(), { introspections: 1, inflight: 0 })
  t.equal(h.app.auth.stats().hits + h.app.auth.stats().misses, 1000)
})

t.test('concurrent requests share a failure, which is not cached', async (t) => {
  const h = await harness(t)
  const token = fakeGlobusToken()
  h.globus.setToken(token, { fault: 'status', status: 503, retryAfter: 1 })
  const results = await Promise.all(Array.from({ length: 50 }, () => h.bearer(token)))
  t.ok(results.every(r => r.statusCode === 503))
  t.ok(h.globus.calls <= 50 && h.globus.calls >= 1)
  const calls = h.globus.calls
  h.globus.setToken(token, goodDoc(h.globus, randomUUID()))
  t.equal((await h.bearer(token)).statusCode, 200, 'the next request asks Globus again')
  t.equal(h.globus.calls, calls + 1)
})

t.test('rejections are not cached either', async (t) => {
  const h = await harness(t)
  const subject = randomUUID()
  const token = fakeGlobusToken()
  t.equal((await h.bearer(token)).statusCode, 401, 'unknown')
  h.globus.setToken(token, goodDoc(h.globus, subject, { scope: 'openid' }))
  t.equal((await h.bearer(token)).statusCode, 403, 'lacks scope')
  h.globus.setToken(token, goodDoc(h.globus, subject))
  t.equal((await h.bearer(token)).statusCode, 200, 'now good')
  t.equal(h.globus.calls, 3)
  t.equal(h.app.auth.size, 1)
})

t.test('the cache is bounded (LRU, AUTH_CACHE_MAX_ENTRIES)', async (t) => {
  const h = await harness(t, { env: { AUTH_CACHE_MAX_ENTRIES: '2' } })
  const [a, b, c] = [h.globus.userToken(), h.globus.userToken(), h.globus.userToken()] as [string, string, string]
  await h.bearer(a)
  await h.bearer(b)
  await h.bearer(a) // a is recent, b is the oldest
  await h.bearer(c) // evicts b
  t.equal(h.app.auth.size, 2)
  t.equal(h.globus.calls, 3)
  await h.bearer(a)
  t.equal(h.globus.calls, 3, 'a still cached')
  await h.bearer(b)
  t.equal(h.globus.calls, 4, 'b was evicted')
})

t.test('fastify.auth.clear() forgets cached tokens', async (t) => {
  const h = await harness(t)
  const token = h.globus.userToken()
  await h.bearer(token)
  h.app.auth.clear()
  t.equal(h.app.auth.size, 0)
  await h.bearer(token)
  t.equal(h.globus.calls, 2)
})

// ---------------------------------------------------------------------------------------------------------
// outages

t.test('introspection timeout answers 503, and the token works once Globus answers again', async (t) => {
  const h = await harness(t, { env: { AUTH_INTROSPECTION_TIMEOUT_MS: '200' } })
  const subject = randomUUID()
  const token = fakeGlobusToken()
  h.globus.setToken(token, { fault: 'delay', ms: 10_000, doc: goodDoc(h.globus, subject) })
  const res = await h.bearer(token, CONSUMER_URL)
  t.equal(res.statusCode, 503)
  t.same(res.json(), { error_code: 503, message: 'Globus Auth is unreachable; retry later' })
  t.ok(res.headers['retry-after'])
  h.globus.setToken(token, goodDoc(h.globus, subject))
  const again = await h.bearer(token, CONSUMER_URL)
  t.equal(again.statusCode, 200, 'the timeout was not cached')
  t.equal(again.json().principal.subject, subject)
})

t.test('Globus goes away and comes back', async (t) => {
  const h = await harness(t)
  const subject = randomUUID()
  const cached = h.globus.userToken()
  const fresh = h.globus.userToken(subject)
  t.equal((await h.bearer(cached)).statusCode, 200)
  await h.globus.suspend()
  const down = await h.bearer(fresh)
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'AUTH_UNAVAILABLE')
  t.equal((await h.bearer(cached)).statusCode, 200, 'cached tokens keep working during the outage')
  await h.globus.resume()
  const up = await h.bearer(fresh)
  t.equal(up.statusCode, 200, 'recovered')
  t.equal(up.json().principal.subject, subject)
})

t.test('keep-alive: introspections reuse connections', async (t) => {
  const h = await harness(t)
  for (let i = 0; i < 10; i++) await h.bearer(h.globus.userToken())
  t.equal(h.globus.calls, 10)
  t.equal(h.globus.connections, 1)
})

// ---------------------------------------------------------------------------------------------------------
// dev mode

t.test('dev mode: the minted token is accepted, nothing else is, Globus is never called', async (t) => {
  const globus = await startGlobus(t)
  const h = await harness(t, { globus, env: { AUTH_MODE: 'dev', SERVER_CLIENT_ID: undefined, SERVER_SECRET: undefined, PORT: '8123' } })
  const printed = h.stderr.join('')
  const m = /curl -H "Authorization: Bearer ([A-Za-z0-9_-]+)" http:\/\/127\.0\.0\.1:8123\/api\/v3\/namespace/.exec(printed)
  t.ok(m, 'a ready-to-paste curl line on stderr')
  const token = (m as RegExpExecArray)[1] as string
  recordSecret(token) // minted inside the plugin: the end-of-run log check looks for it too
  t.ok(token.length >= 32, 'a long random token')
  const warnings = h.logs.map(l => JSON.parse(l) as { level: number, msg: string }).filter(l => l.level === 40)
  t.ok(warnings.some(w => /AUTH_MODE=dev/.test(w.msg)), 'a warning at start')
  t.ok(warnings.some(w => /printed on stderr, not logged/.test(w.msg)), 'the log says where the token is')
  t.notOk(h.logs.some(l => l.includes(token)), 'the token is in no log line')
  t.notMatch(printed, /WARNING: AUTH_MODE=dev listens beyond loopback/, 'no exposure warning on loopback')
  t.equal(h.app.auth.mode, 'dev')

  for (const { url } of FAMILIES) {
    const res = await h.bearer(token, url)
    t.equal(res.statusCode, 200)
    t.equal(res.json().principal.subject, '00000000-0000-4000-8000-00000000de70', 'DEV_SUBJECT')
  }
  t.equal((await h.bearer(token, MANAGEMENT_URL, { subject: '00000000-0000-4000-8000-00000000DE70' })).statusCode, 200)
  t.equal((await h.bearer(token, MANAGEMENT_URL, { subject: randomUUID() })).statusCode, 403)

  const wrong = await h.bearer(globus.userToken())
  t.equal(wrong.statusCode, 401, 'a real-looking token is refused')
  t.equal(wrong.json().code, 'TOKEN_INACTIVE')
  t.equal((await h.bearer(`${token}x`)).statusCode, 401)
  t.equal((await h.get(MANAGEMENT_URL)).statusCode, 401, 'no token')
  t.equal(globus.calls, 0, 'Globus never consulted')

  const other = await harness(t, { globus, env: { AUTH_MODE: 'dev', SERVER_CLIENT_ID: undefined, SERVER_SECRET: undefined } })
  t.notMatch(other.stderr.join(''), token, 'each start mints a new token')
  t.equal((await other.bearer(token)).statusCode, 401)
})

t.test('dev mode: DEV_TOKEN and DEV_SUBJECT are honoured', async (t) => {
  const devToken = randomBytes(32).toString('base64')
  const devSubject = randomUUID()
  const h = await harness(t, { env: { AUTH_MODE: 'dev', DEV_TOKEN: devToken, DEV_SUBJECT: devSubject } })
  t.match(h.stderr.join(''), `curl -H "Authorization: Bearer ${devToken}" http://127.0.0.1:8000/api/v3/namespace`)
  t.notOk(h.logs.some(l => l.includes(devToken)), 'the token is in no log line')
  const res = await h.bearer(devToken, CONSUMER_URL)
  t.equal(res.statusCode, 200)
  t.equal(res.json().principal.subject, devSubject)
  t.equal((await h.bearer(`${devToken.slice(0, -2)}x=`)).statusCode, 401)
  t.equal(h.globus.calls, 0)
})

t.test('dev mode beyond loopback: only with DEV_ALLOW_REMOTE=true, and then with a loud warning', async (t) => {
  const devToken = randomBytes(32).toString('base64url')
  await t.rejects(harness(t, { env: { AUTH_MODE: 'dev', DEV_TOKEN: devToken, HOST: '0.0.0.0' } }), /DEV_ALLOW_REMOTE=true/)
  const h = await harness(t, { env: { AUTH_MODE: 'dev', DEV_TOKEN: devToken, HOST: '0.0.0.0', DEV_ALLOW_REMOTE: 'true' } })
  t.match(h.stderr.join(''), /!!! WARNING: AUTH_MODE=dev listens beyond loopback\. HOST=0\.0\.0\.0 with DEV_ALLOW_REMOTE=true/)
  const warnings = h.logs.map(l => JSON.parse(l) as { level: number, msg: string }).filter(l => l.level === 40)
  t.ok(warnings.some(w => /AUTH_MODE=dev listens beyond loopback/.test(w.msg)), 'and in the log')
  t.notOk(h.logs.some(l => l.includes(devToken)), 'the token is in no log line')
})
