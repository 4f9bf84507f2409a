// The HTTP client against the stand-in over real loopback HTTP: request shape, outcome mapping (§6 rows
// 10–13), keep-alive reuse.
import t from 'tap'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { IntrospectionClient, type AuthLogger } from '../../../plugins/auth/introspection.js'
import { REFUSED_URL, startGlobus, type GlobusStandIn } from '../../helpers/globus.js'
import { caught } from '../../helpers/errors.js'

interface Logged { level: string, obj: object, msg: string }

function client (
  t: { teardown (fn: () => unknown): void },
  globus: GlobusStandIn,
  over: Partial<ConstructorParameters<typeof IntrospectionClient>[0]> = {}
) {
  const logs: Logged[] = []
  const logger: AuthLogger = {
    error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    debug: (obj, msg) => logs.push({ level: 'debug', obj, msg })
  }
  const c = new IntrospectionClient({
    baseUrl: globus.url,
    clientId: globus.clientId,
    clientSecret: globus.clientSecret,
    timeoutMs: 2000,
    logger,
    ...over
  })
  t.teardown(() => c.close())
  return { c, logs }
}

t.test('sends Basic credentials and a form-encoded token, without include', async (t) => {
  const globus = await startGlobus(t)
  const { c } = client(t, globus)
  const token = globus.userToken()
  const doc = await c.introspect(token)
  t.equal(doc.active, true)
  t.equal(doc.aud?.[0], globus.clientId)
  const req = globus.lastRequest
  t.equal(req?.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(req?.headers.authorization, `Basic ${Buffer.from(`${globus.clientId}:${globus.clientSecret}`).toString('base64')}`)
  t.equal(req?.form.get('token'), token)
  t.equal(req?.form.get('include'), null)
  t.equal(doc.identity_set, undefined, 'no include, no identity_set')
})

t.test('tokens with + / = survive the form encoding', async (t) => {
  const globus = await startGlobus(t)
  const { c } = client(t, globus)
  const token = 'Ag+odd/chars=='
  globus.setToken(token, { active: true, sub: 'x' })
  t.equal((await c.introspect(token)).sub, 'x')
})

t.test('a base URL with a trailing slash or a path prefix', async (t) => {
  const globus = await startGlobus(t)
  const { c } = client(t, globus, { baseUrl: `${globus.url}/` })
  t.same(await c.introspect('unknown'), { active: false })
  t.equal(globus.calls, 1)
  const { c: prefixed } = client(t, globus, { baseUrl: `${globus.url}/prefix` })
  const err = await caught(prefixed.introspect('unknown'))
  t.equal(err.code, 'AUTH_BAD_RESPONSE', 'the stand-in 404s on /prefix/v2/...: proof the prefix was kept')
})

t.test('keep-alive: sequential calls reuse one connection', async (t) => {
  const globus = await startGlobus(t)
  const { c } = client(t, globus)
  const token = globus.userToken()
  for (let i = 0; i < 20; i++) await c.introspect(token)
  t.equal(globus.calls, 20)
  t.equal(globus.connections, 1)
})

t.test('row 10: timeout → 503 AUTH_UNAVAILABLE with Retry-After', async (t) => {
  const globus = await startGlobus(t)
  const { c, logs } = client(t, globus, { timeoutMs: 100 })
  globus.setToken('slow', { fault: 'delay', ms: 5000 })
  const err = await caught(c.introspect('slow'))
  t.match(err, { statusCode: 503, code: 'AUTH_UNAVAILABLE', message: 'Globus Auth is unreachable; retry later' })
  t.match(err.headers, { 'retry-after': /^\d+$/ })
  t.ok(logs.some(l => l.level === 'warn' && /timed out/.test(l.msg)))
})

t.test('row 10: connection refused → 503 AUTH_UNAVAILABLE', async (t) => {
  const globus = await startGlobus(t)
  const { c } = client(t, globus, { baseUrl: REFUSED_URL })
  const err = await caught(c.introspect('any'))
  t.match(err, { statusCode: 503, code: 'AUTH_UNAVAILABLE' })
  t.ok(err.headers['retry-after'])
})

t.test('row 11: 429 and 5xx → 503, passing Retry-After through', async (t) => {
  const globus = await startGlobus(t)
  const { c } = client(t, globus)
  globus.setToken('busy', { fault: 'status', status: 429, retryAfter: 17 })
  let err = await caught(c.introspect('busy'))
  t.match(err, { statusCode: 503, code: 'AUTH_UNAVAILABLE', message: 'Globus Auth is temporarily unavailable' })
  t.equal(err.headers['retry-after'], '17')
  const date = 'Wed, 21 Oct 2026 07:28:00 GMT'
  globus.setToken('busy', { fault: 'status', status: 503, retryAfter: date })
  err = await caught(c.introspect('busy'))
  t.equal(err.headers['retry-after'], date, 'an HTTP-date passes too')
  for (const status of [500, 502, 504]) {
    globus.setToken('busy', { fault: 'status', status })
    err = await caught(c.introspect('busy'))
    t.equal(err.statusCode, 503, `${status}`)
    t.equal(err.headers['retry-after'], '5', 'default Retry-After')
  }
  globus.setToken('busy', { fault: 'status', status: 503, retryAfter: 'soon, maybe' })
  err = await caught(c.introspect('busy'))
  t.equal(err.headers['retry-after'], '5', 'an unusable upstream value is replaced')
})

t.test('row 12: non-JSON, no active, unexpected 4xx → 502', async (t) => {
  const globus = await startGlobus(t)
  const { c } = client(t, globus)
  globus.setToken('g', { fault: 'garbage' })
  t.match(await caught(c.introspect('g')), { statusCode: 502, code: 'AUTH_BAD_RESPONSE', message: 'Unexpected response from Globus Auth' })
  globus.setToken('g', { fault: 'no-active' })
  t.match(await caught(c.introspect('g')), { statusCode: 502, code: 'AUTH_BAD_RESPONSE' })
  for (const status of [400, 404, 409, 418]) {
    globus.setToken('g', { fault: 'status', status })
    t.match(await caught(c.introspect('g')), { statusCode: 502, code: 'AUTH_BAD_RESPONSE' }, `${status}`)
  }
  globus.setToken('g', { fault: 'status', status: 200, body: '[true]' })
  t.match(await caught(c.introspect('g')), { statusCode: 502 }, 'a JSON array is not a document')
  globus.setToken('g', { fault: 'status', status: 200, body: 'null' })
  t.match(await caught(c.introspect('g')), { statusCode: 502 }, 'JSON null is not a document')
})

t.test('row 13: Globus refuses our credentials → 500 AUTH_MISCONFIGURED, logged at error level', async (t) => {
  const globus = await startGlobus(t)
  const { c, logs } = client(t, globus, { clientSecret: 'wrong' })
  const err = await caught(c.introspect(globus.userToken()))
  t.match(err, { statusCode: 500, code: 'AUTH_MISCONFIGURED', message: 'Service authentication is misconfigured' })
  t.ok(logs.some(l => l.level === 'error' && /SERVER_SECRET/.test(l.msg)))
  const { c: ok } = client(t, globus)
  globus.setToken('forbidden', { fault: 'status', status: 403 })
  t.match(await caught(ok.introspect('forbidden')), { statusCode: 500, code: 'AUTH_MISCONFIGURED' })
})

t.test('nothing logged or thrown carries the token', async (t) => {
  const globus = await startGlobus(t)
  const { c, logs } = client(t, globus, { timeoutMs: 100 })
  const token = 'AgVerySecretTokenValue0123456789'
  const scripts = [{ fault: 'delay', ms: 1000 }, { fault: 'status', status: 503 }, { fault: 'garbage' }, { fault: 'status', status: 401 }] as const
  for (const s of scripts) {
    globus.setToken(token, s)
    const err = await caught(c.introspect(token))
    t.notMatch(JSON.stringify({ m: err.message, h: err.headers, cause: String(err.cause) }), token)
  }
  t.ok(logs.length >= 4)
  t.notMatch(JSON.stringify(logs), token)
})

/** A raw HTTP/1.1 server: answers `{"active":false}` with keep-alive, but resets a reused connection when told. */
async function flakyServer (t: { teardown (fn: () => unknown): void }, resetOn: (requestOnSocket: number) => boolean) {
  const state = { connections: 0, requests: 0 }
  const server = net.createServer((socket) => {
    state.connections++
    let n = 0
    socket.on('data', (chunk) => {
      const count = chunk.toString('latin1').split('POST /').length - 1
      for (let i = 0; i < count; i++) {
        n++
        state.requests++
        if (resetOn(n)) { socket.resetAndDestroy(); return }
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\nconnection: keep-alive\r\n\r\n{"active":false}')
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => { server.close(resolve); for (const s of sockets) s.destroy() }))
  const sockets = new Set<net.Socket>()
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state }
}

t.test('keep-alive race: a request reset on a reused socket is retried once on a fresh one', async (t) => {
  const flaky = await flakyServer(t, n => n === 2)
  const globus = await startGlobus(t)
  const { c } = client(t, globus, { baseUrl: flaky.url })
  t.same(await c.introspect('a'), { active: false })
  t.same(await c.introspect('b'), { active: false }, 'the reset on the reused socket was retried')
  t.equal(flaky.state.connections, 2)
  t.equal(flaky.state.requests, 3)
  t.equal(c.requests, 3)
})

t.test('keep-alive race: no second retry, and no retry on a fresh socket', async (t) => {
  const flaky = await flakyServer(t, n => n >= 2)
  const globus = await startGlobus(t)
  const { c } = client(t, globus, { baseUrl: flaky.url })
  t.same(await c.introspect('a'), { active: false })
  // reused socket reset → retried on a fresh socket, which answers (its first request) → fine
  t.same(await c.introspect('b'), { active: false })
  const always = await flakyServer(t, () => true)
  const { c: c2 } = client(t, globus, { baseUrl: always.url })
  const err = await caught(c2.introspect('x'))
  t.match(err, { statusCode: 503, code: 'AUTH_UNAVAILABLE' }, 'a reset on a fresh socket is an outage')
  t.equal(always.state.requests, 1, 'not retried')
})
