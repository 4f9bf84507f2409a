// The stand-in itself must speak the contract of shared/docs/globus-token-introspection.md §1, or the
// service tests prove nothing. Plain fetch against it.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { DIASPORA_RESOURCE_SERVER, startGlobus, type GlobusStandIn } from '../../helpers/globus.js'

async function introspect (g: GlobusStandIn, form: Record<string, string>, creds = `${g.clientId}:${g.clientSecret}`, query = '') {
  const res = await fetch(`${g.url}/v2/oauth2/token/introspect${query}`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(creds).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString()
  })
  const text = await res.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, headers: res.headers, text, json: json as Record<string, unknown> }
}

t.test('defaults and userToken documents', async (t) => {
  const g = await startGlobus(t)
  t.equal(g.clientId, DIASPORA_RESOURCE_SERVER)
  t.equal(g.scope, `https://auth.globus.org/scopes/${DIASPORA_RESOURCE_SERVER}/action_all`)
  t.match(g.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const sub = randomUUID()
  const token = g.userToken(sub)
  t.match(token, /^Ag[A-Za-z0-9]{98}$/)
  const { status, json } = await introspect(g, { token })
  t.equal(status, 200)
  t.match(json, { active: true, sub, aud: [g.clientId], scope: g.scope, token_type: 'Bearer' })
  const now = Date.now() / 1000
  t.ok((json.exp as number) > now + 3500 && (json.exp as number) <= now + 3601, 'exp about 1 h ahead')
  const random = await introspect(g, { token: g.userToken() })
  t.match(random.json.sub, /^[0-9a-f-]{36}$/, 'a random UUID subject when none is given')
  t.not(random.json.sub, sub)
})

t.test('overrides replace (or with undefined remove) fields', async (t) => {
  const g = await startGlobus(t, { clientId: 'my-client', clientSecret: 's3cret' })
  const token = g.userToken(undefined, { aud: ['someone-else'], scope: 'openid', token_type: undefined })
  const { json } = await introspect(g, { token }, 'my-client:s3cret')
  t.same(json.aud, ['someone-else'], 'no audience filtering: the full document is returned')
  t.equal(json.scope, 'openid')
  t.notOk('token_type' in json)
})

t.test('include controls identity_set and session_info', async (t) => {
  const g = await startGlobus(t)
  const token = g.userToken()
  t.notOk('identity_set' in (await introspect(g, { token })).json)
  t.notOk('session_info' in (await introspect(g, { token })).json)
  const both = (await introspect(g, { token, include: 'session_info,identity_set' })).json
  t.ok(Array.isArray(both.identity_set))
  t.type(both.session_info, 'object')
  const one = (await introspect(g, { token, include: 'identity_set' })).json
  t.ok('identity_set' in one)
  t.notOk('session_info' in one)
})

t.test('credentials, missing token, unknown tokens, query strings', async (t) => {
  const g = await startGlobus(t)
  const token = g.userToken()
  const bad = await introspect(g, { token }, `${g.clientId}:wrong`)
  t.equal(bad.status, 401)
  t.equal(bad.json.error, 'invalid_client')
  const bearer = await fetch(`${g.url}/v2/oauth2/token/introspect`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}`
  })
  t.equal(bearer.status, 401, 'a Bearer header where Basic is expected')
  t.equal((await introspect(g, {})).status, 400)
  t.equal((await introspect(g, { token: '' })).status, 400)
  t.same((await introspect(g, { token: 'never-issued' })).json, { active: false })
  t.equal((await introspect(g, { token }, undefined, '?foo=bar')).json.active, true, 'unknown query params ignored')
  t.equal(g.calls, 6, 'every request counted')
})

t.test('scripted faults', async (t) => {
  const g = await startGlobus(t)
  g.setToken('a', { fault: 'status', status: 429, retryAfter: 3 })
  const limited = await introspect(g, { token: 'a' })
  t.equal(limited.status, 429)
  t.equal(limited.headers.get('retry-after'), '3')
  g.setToken('a', { fault: 'garbage' })
  const garbage = await introspect(g, { token: 'a' })
  t.equal(garbage.status, 200)
  t.equal(garbage.json, undefined, 'not JSON')
  g.setToken('a', { fault: 'no-active' })
  const noActive = await introspect(g, { token: 'a' })
  t.type(noActive.json, 'object')
  t.notOk('active' in noActive.json)
  g.setToken('a', { fault: 'delay', ms: 50, doc: { active: true, sub: 'late' } })
  t.equal((await introspect(g, { token: 'a' })).json.sub, 'late')
  g.setToken('a', { fault: 'delay', ms: 10 })
  t.same((await introspect(g, { token: 'a' })).json, { active: false })
})

t.test('reset, suspend and resume', async (t) => {
  const g = await startGlobus(t)
  const token = g.userToken()
  await introspect(g, { token })
  g.reset()
  t.equal(g.calls, 0)
  t.same((await introspect(g, { token })).json, { active: false }, 'tokens forgotten')
  await g.suspend()
  await t.rejects(introspect(g, { token }), 'refuses connections while suspended')
  await g.resume()
  t.equal((await introspect(g, { token: 'x' })).status, 200)
})

t.test('close is idempotent and frees the port', async (t) => {
  const g = await startGlobus(t)
  await g.close()
  await g.close()
  await t.rejects(fetch(`${g.url}/v2/oauth2/token/introspect`, { method: 'POST' }))
})
