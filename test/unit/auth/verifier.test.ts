import t from 'tap'
import { ApiError } from '../../../plugins/errors/errors.js'
import { assertNotExpired, audienceIncludes, scopeIncludes, verifyIntrospection, type Principal } from '../../../plugins/auth/verifier.js'
import type { IntrospectionDoc } from '../../../plugins/auth/introspection.js'

const RS = '2b9d2f5c-fa32-45b5-875b-b24cd343b917'
const SCOPE = `https://auth.globus.org/scopes/${RS}/action_all`
const SUB = '4a7c1e52-93d0-4b8e-a6f1-0c2d9e8b7a31'
const NOW = 1_767_300_000_000
const policy = { clientId: RS, requiredScope: SCOPE }

/** Example A of the contract, relative to NOW. */
function doc (over: Partial<IntrospectionDoc> = {}): IntrospectionDoc {
  return {
    active: true,
    token_type: 'Bearer',
    scope: SCOPE,
    client_id: 'c5d4fab4-7f0d-422e-b0c8-5c74329b52fe',
    sub: SUB,
    username: 'alice@example.edu',
    name: 'Alice Example',
    email: 'alice@example.edu',
    aud: [RS],
    iss: 'https://auth.globus.org',
    exp: NOW / 1000 + 3600,
    iat: NOW / 1000 - 60,
    nbf: NOW / 1000 - 60,
    dependent_tokens_cache_id: '',
    ...over
  }
}

function outcome (d: IntrospectionDoc, now = NOW): string {
  try {
    const p = verifyIntrospection(d, policy, now)
    return `ok ${p.subject}`
  } catch (err) {
    if (err instanceof ApiError) return `${err.statusCode} ${err.code}`
    throw err
  }
}

t.test('an active, correct token yields its principal', async (t) => {
  const p = verifyIntrospection(doc(), policy, NOW)
  t.same(p, { subject: SUB, username: 'alice@example.edu', expiresAt: NOW + 3_600_000 })
  t.ok(Object.isFrozen(p), 'principal is immutable (it is shared through the cache)')
  t.equal(outcome(doc({ sub: SUB.toUpperCase() })), `ok ${SUB}`, 'sub is canonicalised')
  t.equal(verifyIntrospection(doc({ username: undefined }), policy, NOW).username, undefined)
  t.equal(outcome(doc({ extra_field: { nested: true }, iss: 'https://auth.globus.org/' })), `ok ${SUB}`, 'unknown fields and iss variants tolerated')
  t.equal(outcome(doc({ name: null, email: null })), `ok ${SUB}`)
})

t.test('client-credentials tokens are fine (client_id is never enforced)', async (t) => {
  const bot = '6f5e4d3c-2b1a-4c9d-8e7f-112233445566'
  t.equal(outcome(doc({ client_id: bot, sub: bot, username: `${bot}@clients.auth.globus.org` })), `ok ${bot}`)
})

t.test('active must be JSON true (row 5)', async (t) => {
  t.equal(outcome({ active: false }), '401 TOKEN_INACTIVE')
  t.equal(outcome(doc({ active: 'true' as unknown as boolean })), '401 TOKEN_INACTIVE')
  t.equal(outcome(doc({ active: 1 as unknown as boolean })), '401 TOKEN_INACTIVE')
})

t.test('exp and nbf (row 6)', async (t) => {
  t.equal(outcome(doc({ exp: NOW / 1000 })), '401 TOKEN_EXPIRED', 'exp == now is expired')
  t.equal(outcome(doc({ exp: NOW / 1000 - 1 })), '401 TOKEN_EXPIRED')
  t.equal(outcome(doc({ exp: NOW / 1000 + 1 })), `ok ${SUB}`)
  t.equal(outcome(doc({ nbf: NOW / 1000 + 30 })), `ok ${SUB}`, 'nbf within the 60 s skew')
  t.equal(outcome(doc({ nbf: NOW / 1000 + 61 })), '401 TOKEN_NOT_YET_VALID')
  t.equal(outcome(doc({ exp: undefined })), '502 AUTH_BAD_RESPONSE', 'active without exp is not a usable answer')
  t.equal(outcome(doc({ exp: '1767398400' as unknown as number })), '502 AUTH_BAD_RESPONSE')
})

t.test('aud must contain the service id, as a list or a string (row 8)', async (t) => {
  t.equal(outcome(doc({ aud: ['auth.globus.org', RS] })), `ok ${SUB}`)
  t.equal(outcome(doc({ aud: RS })), `ok ${SUB}`, 'a single string is a one-element list')
  t.equal(outcome(doc({ aud: ['auth.globus.org'] })), '403 WRONG_AUDIENCE')
  t.equal(outcome(doc({ aud: `${RS}x` })), '403 WRONG_AUDIENCE', 'no substring match on a string aud')
  t.equal(outcome(doc({ aud: [] })), '403 WRONG_AUDIENCE')
  t.equal(outcome(doc({ aud: null })), '403 WRONG_AUDIENCE', 'null aud is no audience, not a TypeError')
  t.equal(outcome(doc({ aud: undefined })), '403 WRONG_AUDIENCE')
  t.notOk(audienceIncludes({ 0: RS }, RS))
})

t.test('required scope is a set member, never a substring (row 9)', async (t) => {
  t.equal(outcome(doc({ scope: `openid ${SCOPE}  email` })), `ok ${SUB}`)
  t.equal(outcome(doc({ scope: `openid\t${SCOPE}\n` })), `ok ${SUB}`, 'any whitespace separates')
  t.equal(outcome(doc({ scope: 'openid email' })), '403 INSUFFICIENT_SCOPE')
  t.equal(outcome(doc({ scope: `${SCOPE}_extra` })), '403 INSUFFICIENT_SCOPE')
  t.equal(outcome(doc({ scope: `x${SCOPE}` })), '403 INSUFFICIENT_SCOPE')
  t.equal(outcome(doc({ scope: '' })), '403 INSUFFICIENT_SCOPE')
  t.equal(outcome(doc({ scope: undefined })), '403 INSUFFICIENT_SCOPE')
  t.notOk(scopeIncludes([SCOPE], SCOPE))
  try {
    verifyIntrospection(doc({ scope: 'openid' }), policy, NOW)
  } catch (err) {
    t.equal((err as ApiError).headers['www-authenticate'], `Bearer realm="diaspora", error="insufficient_scope", scope="${SCOPE}"`)
  }
})

t.test('token_type, when present, must be bearer or access_token', async (t) => {
  t.equal(outcome(doc({ token_type: 'bearer' })), `ok ${SUB}`)
  t.equal(outcome(doc({ token_type: 'ACCESS_TOKEN' })), `ok ${SUB}`)
  t.equal(outcome(doc({ token_type: undefined })), `ok ${SUB}`)
  t.equal(outcome(doc({ token_type: 'refresh_token' })), '401 WRONG_TOKEN_TYPE')
})

t.test('an active token without sub is a bad response', async (t) => {
  t.equal(outcome(doc({ sub: undefined })), '502 AUTH_BAD_RESPONSE')
  t.equal(outcome(doc({ sub: '' })), '502 AUTH_BAD_RESPONSE')
})

t.test('checks run in the documented order', async (t) => {
  // inactive wins over everything
  t.equal(outcome({ active: false, aud: [], scope: '', exp: 1 }), '401 TOKEN_INACTIVE')
  // expiry before audience
  t.equal(outcome(doc({ exp: NOW / 1000 - 1, aud: [], scope: '' })), '401 TOKEN_EXPIRED')
  // audience before scope
  t.equal(outcome(doc({ aud: [], scope: '' })), '403 WRONG_AUDIENCE')
  // scope before token type
  t.equal(outcome(doc({ scope: '', token_type: 'refresh_token' })), '403 INSUFFICIENT_SCOPE')
})

t.test('assertNotExpired (cache hits)', async (t) => {
  const p: Principal = { subject: SUB, expiresAt: NOW }
  t.doesNotThrow(() => assertNotExpired(p, NOW - 1))
  t.throws(() => assertNotExpired(p, NOW), { code: 'TOKEN_EXPIRED', statusCode: 401 })
})
