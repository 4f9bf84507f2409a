import t from 'tap'
import { ApiError } from '../../../plugins/errors/errors.js'
import { MAX_TOKEN_LENGTH, canonicalSubject, canonicalUuid, parseAuthorization, parseSubject, subjectMatches } from '../../../plugins/auth/header.js'

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof ApiError) return `${err.statusCode} ${err.code}`
    throw err
  }
  return 'no error'
}

const TOKEN = 'AgXy9k2LmN0pQrStUvWx1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab'

t.test('accepts a Bearer token, scheme in any case, with one or more spaces', async (t) => {
  t.equal(parseAuthorization(`Bearer ${TOKEN}`), TOKEN)
  t.equal(parseAuthorization(`bearer ${TOKEN}`), TOKEN)
  t.equal(parseAuthorization(`BEARER ${TOKEN}`), TOKEN)
  t.equal(parseAuthorization(`Bearer  ${TOKEN}`), TOKEN, 'two spaces (RFC 7235 1*SP) is not an empty token')
  t.equal(parseAuthorization(`  Bearer ${TOKEN}  `), TOKEN, 'surrounding whitespace is not part of the value')
  t.equal(parseAuthorization('Bearer a'), 'a', 'one character')
  t.equal(parseAuthorization('Bearer abc-._~+/=='), 'abc-._~+/==', 'every RFC 6750 token68 character')
  t.equal(parseAuthorization(`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH)}`).length, MAX_TOKEN_LENGTH)
})

t.test('row 1: missing or empty header', async (t) => {
  t.equal(codeOf(() => parseAuthorization(undefined)), '401 MISSING_TOKEN')
  t.equal(codeOf(() => parseAuthorization('')), '401 MISSING_TOKEN')
  t.equal(codeOf(() => parseAuthorization('   ')), '401 MISSING_TOKEN')
})

t.test('row 2: other schemes', async (t) => {
  t.equal(codeOf(() => parseAuthorization('Basic dXNlcjpwYXNz')), '401 INVALID_AUTH_SCHEME')
  t.equal(codeOf(() => parseAuthorization(TOKEN)), '401 INVALID_AUTH_SCHEME', 'a bare token')
  t.equal(codeOf(() => parseAuthorization(`Bearer:${TOKEN}`)), '401 INVALID_AUTH_SCHEME')
  t.equal(codeOf(() => parseAuthorization(`Token ${TOKEN}`)), '401 INVALID_AUTH_SCHEME')
  t.equal(codeOf(() => parseAuthorization(`Bearerx ${TOKEN}`)), '401 INVALID_AUTH_SCHEME')
})

t.test('row 3: malformed bearer credentials', async (t) => {
  const bad = [
    'Bearer',
    'Bearer ',
    `Bearer ${TOKEN} extra`,
    'Bearer a b',
    `Bearer\t${TOKEN}`,
    'Bearer abc$def',
    'Bearer abc\ndef',
    'Bearer tökén',
    'Bearer abc=def',
    'Bearer =abc',
    'Bearer "abc"',
    `Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`
  ]
  for (const value of bad) t.equal(codeOf(() => parseAuthorization(value)), '401 MALFORMED_TOKEN', JSON.stringify(value.slice(0, 40)))
  t.equal(codeOf(() => parseAuthorization(['Bearer a', 'Bearer b'])), '401 MALFORMED_TOKEN', 'repeated header')
})

t.test('challenge headers per row', async (t) => {
  const headerOf = (value: string | undefined) => {
    try { parseAuthorization(value) } catch (err) { return (err as ApiError).headers['www-authenticate'] }
  }
  t.equal(headerOf(undefined), 'Bearer realm="diaspora"', 'no error code when no credentials were sent')
  t.equal(headerOf('Basic x'), 'Bearer realm="diaspora", error="invalid_request"')
  t.equal(headerOf('Bearer a b'), 'Bearer realm="diaspora", error="invalid_token"')
})

t.test('the error never carries the token', async (t) => {
  const secret = 'AgSECRETsecretSECRET$'
  try {
    parseAuthorization(`Bearer ${secret}`)
    t.fail('should throw')
  } catch (err) {
    const e = err as ApiError
    t.notMatch(JSON.stringify({ m: e.message, h: e.headers, c: e.code }), 'SECRET')
  }
})

t.test('canonical UUIDs', async (t) => {
  const c = '4a7c1e52-93d0-4b8e-a6f1-0c2d9e8b7a31'
  t.equal(canonicalUuid(c), c)
  t.equal(canonicalUuid(c.toUpperCase()), c)
  t.equal(canonicalUuid(`{${c}}`), c)
  t.equal(canonicalUuid(`urn:uuid:${c}`), c)
  t.equal(canonicalUuid(c.replace(/-/g, '')), c)
  t.equal(canonicalUuid(c.replace(/-/g, '').toUpperCase()), c)
  for (const bad of ['', 'not-a-uuid', c.slice(1), `${c}0`, c.replace('4a', 'zz'), `${c}\n`.repeat(2), '4a7c1e52-93d04b8e-a6f1-0c2d9e8b7a31']) {
    t.equal(canonicalUuid(bad), undefined, JSON.stringify(bad))
  }
  t.equal(canonicalSubject(c.toUpperCase()), c)
  t.equal(canonicalSubject('Not-A-UUID'), 'not-a-uuid')
})

t.test('subject header: absent is fine, present must be a UUID (row 4)', async (t) => {
  const c = '4a7c1e52-93d0-4b8e-a6f1-0c2d9e8b7a31'
  t.equal(parseSubject(undefined), undefined)
  t.equal(parseSubject(c.toUpperCase()), c)
  t.equal(parseSubject(`{${c}}`), c)
  t.equal(codeOf(() => parseSubject('alice')), '400 INVALID_SUBJECT')
  t.equal(codeOf(() => parseSubject('')), '400 INVALID_SUBJECT')
  t.equal(codeOf(() => parseSubject([c, c])), '400 INVALID_SUBJECT')
  t.equal(codeOf(() => parseSubject(`${c}, ${c}`)), '400 INVALID_SUBJECT', 'duplicate headers joined by Node')
  t.ok(subjectMatches(c, c.toUpperCase()), 'compares canonical forms')
  t.notOk(subjectMatches(c, '9e0f2b6d-18c4-47a5-b3e9-5d6a7c8f9012'))
})
