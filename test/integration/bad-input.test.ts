/**
 * The bad input catalogue (issue 6, item 3): malformed JSON, wrong types, unknown fields, missing and huge
 * bodies, wrong and missing Content-Type and Accept, negative and huge offsets, unknown partitions, invalid
 * timeouts and max_bytes, bytes that are not UTF-8 in bodies and paths. Each gets its documented 4xx in its
 * route family's shape (consumer routes `{error_code, message}` as application/vnd.kafka.v2+json, management
 * routes `{status: 'failure', code, message, reason}` as application/json), never a 5xx and never a hang.
 * Against the real broker; the raw-HTTP cases go over a real socket.
 */
import t, { type Test } from 'tap'
import net from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import { build } from '../helpers/app.js'
import { apiUser, producer, readAll, shortName, BINARY, JSONV2, V2 } from '../helpers/api.js'

const BODY_LIMIT = 4096
const { app, globus, url } = await build(t, {
  listen: true,
  env: { BODY_LIMIT: String(BODY_LIMIT), CONSUMER_REQUEST_TIMEOUT_MS: '200', CONSUMER_REQUEST_TIMEOUT_MAX_MS: '1000' }
})
const alice = await apiUser(app, globus)
const topic = await alice.topic(2)
const prod = await producer(t)
await prod.send({ topic: `${alice.ns}.${topic}`, messages: [0, 1, 2, 3].map(i => ({ value: `v${i}`, partition: i % 2 })) })
const group = shortName('g')
// `sub` is subscribed to the topic (and has joined, so commits have partitions); `asg` holds both partitions by
// manual assignment (seeks); `json` is a json-format instance (Accept mismatches).
const sub = await alice.subscriber(group, [topic], { name: 'sub' })
/** Set-up steps throw (tap ends the root test early if it asserts between top-level awaits). */
function expect (ok: boolean, what: string): void {
  if (!ok) throw new Error(`set-up failed: ${what}`)
}
expect((await readAll(alice, sub, 4)).length === 4, 'the subscribed instance reads')
const asg = await alice.consumer(group, { name: 'asg', 'auto.offset.reset': 'earliest' })
expect((await alice.req('POST', `${asg}/assignments`, { partitions: [{ topic, partition: 0 }, { topic, partition: 1 }] })).statusCode === 204, 'assign')
const json = await alice.consumer(shortName('g'), { name: 'json', format: 'json' })
expect((await alice.req('POST', `${json}/subscription`, { topics: [topic] })).statusCode === 204, 'subscribe the json instance')

type Family = 'consumer' | 'management'

/** The response is a clean error of the family's shape with this status and code, and nothing else. */
function isError (t: Test, res: LightMyRequestResponse | RawResponse, family: Family, status: number, code?: number | string, label = ''): void {
  const type = String(res.headers['content-type'] ?? '')
  t.equal(res.statusCode, status, `${label}: status ${status} (${res.body.slice(0, 200)})`)
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(res.body) as Record<string, unknown>
  } catch {
    t.fail(`${label}: the body is JSON (${res.body.slice(0, 100)})`)
  }
  if (family === 'consumer') {
    t.match(type, /^application\/vnd\.kafka\.v2\+json/, `${label}: Confluent content type`)
    t.same(Object.keys(body).sort(), ['error_code', 'message'], `${label}: Confluent error shape`)
    t.type(body.error_code, 'number', `${label}: numeric error_code`)
    if (code !== undefined) t.equal(body.error_code, code, `${label}: error_code ${code}`)
  } else {
    t.match(type, /^application\/json/, `${label}: JSON content type`)
    t.same(Object.keys(body).sort(), ['code', 'message', 'reason', 'status'], `${label}: management error shape`)
    t.equal(body.status, 'failure', `${label}: status failure`)
    t.equal(body.reason, body.message, `${label}: reason = message`)
    if (code !== undefined) t.equal(body.code, code, `${label}: code ${code}`)
  }
  t.type(body.message, 'string', `${label}: a message`)
  t.notMatch(String(body.message), /\n\s+at /, `${label}: no stack trace`)
}

interface Case {
  name: string
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'
  /** Below /api/v3/. */
  path: string
  /** A string or Buffer is sent as is; anything else as JSON. */
  body?: unknown
  headers?: Record<string, string>
  status: number
  /** error_code (consumer routes) or code (management routes); absent for success. */
  code?: number | string
}

const family = (path: string): Family => /^[^/]+\/consumers(\/|$)/.test(path) ? 'consumer' : 'management'

async function send (c: Case): Promise<LightMyRequestResponse> {
  const raw = typeof c.body === 'string' || Buffer.isBuffer(c.body)
  const payload = c.body === undefined ? undefined : raw ? c.body as string | Buffer : JSON.stringify(c.body)
  return app.inject({
    method: c.method ?? 'POST',
    url: `/api/v3/${c.path}`,
    headers: {
      authorization: `Bearer ${alice.token}`,
      ...(payload === undefined ? {} : { 'content-type': family(c.path) === 'consumer' ? V2 : 'application/json' }),
      ...c.headers
    },
    ...(payload === undefined ? {} : { payload })
  })
}

async function runTable (t: Test, cases: Case[]): Promise<void> {
  for (const c of cases) {
    const res = await send(c)
    t.ok(res.statusCode < 500, `${c.name}: never a 5xx (${res.statusCode})`)
    if (c.status >= 400) isError(t, res, family(c.path), c.status, c.code, c.name)
    else t.equal(res.statusCode, c.status, `${c.name}: accepted with ${c.status} (${res.body.slice(0, 200)})`)
  }
}

// ---- raw HTTP ---------------------------------------------------------------------------------------------

interface RawResponse { statusCode: number, headers: Record<string, string>, body: string }

/** Send bytes on a fresh connection and parse the one response (the server closes or we stop after a bound). */
function rawRequest (bytes: Buffer): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = net.connect(Number(port), hostname, () => { socket.end(bytes) })
    // A liveness bound, not a timing assertion: a server that never answers fails the test instead of hanging it.
    const guard = setTimeout(() => { socket.destroy(); reject(new Error('no response: the server hung')) }, 20_000)
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(guard)
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const [statusLine = '', ...headerLines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const i = line.indexOf(':')
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
      }
      resolve({ statusCode: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n') })
    })
  })
}

const auth = (): string => `Authorization: Bearer ${alice.token}\r\n`

// ---- the catalogue -----------------------------------------------------------------------------------------

t.test('malformed JSON: 400 in the family shape', async t => {
  const deep = `{"topics":${'['.repeat(1500)}${']'.repeat(1500)}}`
  await runTable(t, [
    { name: 'truncated object', path: `${sub}/subscription`, body: '{"topics":', status: 400, code: 400 },
    { name: 'trailing garbage', path: `${sub}/subscription`, body: `{"topics":["${topic}"]} x`, status: 400, code: 400 },
    { name: 'single quotes', path: `${alice.ns}/consumers/${group}`, body: "{'name':'x'}", status: 400, code: 400 },
    { name: 'bare word', path: `${sub}/offsets`, body: 'offsets', status: 400, code: 400 },
    { name: 'NaN literal', path: `${sub}/offsets`, body: `{"offsets":[{"topic":"${topic}","partition":0,"offset":NaN}]}`, status: 400, code: 400 },
    { name: 'deeply nested arrays', path: `${sub}/subscription`, body: deep, status: 400, code: 400 },
    { name: 'prototype poisoning', path: `${sub}/subscription`, body: `{"__proto__":{"admin":true},"topics":["${topic}"]}`, status: 400, code: 400 },
    { name: 'constructor poisoning', path: `${alice.ns}/consumers/${group}`, body: '{"constructor":{"prototype":{"x":1}}}', status: 400, code: 400 },
    { name: 'GET offsets: truncated', method: 'GET', path: `${sub}/offsets`, body: '{"partitions":[', status: 400, code: 400 },
    { name: 'management: truncated', path: `${alice.ns}/${shortName()}`, body: '{"num_partitions":', status: 400, code: 'MALFORMED_JSON' },
    { name: 'management: namespace claim, garbage', path: 'namespace', body: '}{', status: 400, code: 'MALFORMED_JSON' }
  ])
})

t.test('wrong JSON types: 400; nulls and booleans never become numbers', async t => {
  await runTable(t, [
    { name: 'topics is a string', path: `${sub}/subscription`, body: { topics: topic }, status: 400, code: 400 },
    { name: 'topic_pattern is a list', path: `${sub}/subscription`, body: { topic_pattern: ['a'] }, status: 400, code: 400 },
    { name: 'body is an array', path: `${sub}/subscription`, body: [topic], status: 400, code: 400 },
    { name: 'body is a string', path: `${sub}/assignments`, body: '"partitions"', status: 400, code: 400 },
    { name: 'body is a number', path: `${alice.ns}/consumers/${group}`, body: '42', status: 400, code: 400 },
    { name: 'fetch.min.bytes not numeric', path: `${alice.ns}/consumers/${group}`, body: { 'fetch.min.bytes': 'abc' }, status: 400, code: 400 },
    { name: 'fetch.min.bytes boolean', path: `${alice.ns}/consumers/${group}`, body: { 'fetch.min.bytes': true }, status: 400, code: 400 },
    { name: 'format an object', path: `${alice.ns}/consumers/${group}`, body: { format: {} }, status: 400, code: 400 },
    { name: 'offsets an object', path: `${sub}/offsets`, body: { offsets: {} }, status: 400, code: 400 },
    { name: 'partition null', path: `${asg}/positions/beginning`, body: { partitions: [{ topic, partition: null }] }, status: 400, code: 400 },
    { name: 'partition true', path: `${asg}/positions/end`, body: { partitions: [{ topic, partition: true }] }, status: 400, code: 400 },
    { name: 'offset null', path: `${sub}/offsets`, body: { offsets: [{ topic, partition: 0, offset: null }] }, status: 400, code: 400 },
    { name: 'offset false', path: `${asg}/positions`, body: { offsets: [{ topic, partition: 0, offset: false }] }, status: 400, code: 400 },
    { name: 'partitions null', path: `${asg}/assignments`, body: { partitions: null }, status: 400, code: 400 },
    { name: 'list item null', path: `${sub}/subscription`, body: { topics: [null] }, status: 400, code: 400 },
    { name: 'timestamp a number', path: `${asg}/positions`, body: { timestamps: [{ topic, partition: 0, timestamp: 5 }] }, status: 422, code: 422 },
    { name: 'GET offsets: partitions a string', method: 'GET', path: `${sub}/offsets`, body: { partitions: 'a' }, status: 400, code: 400 },
    { name: 'GET offsets: partition null', method: 'GET', path: `${sub}/offsets`, body: { partitions: [{ topic, partition: null }] }, status: 400, code: 400 },
    { name: 'management: num_partitions a string', path: `${alice.ns}/${shortName()}`, body: { num_partitions: 'many' }, status: 400, code: 'BAD_REQUEST' },
    { name: 'management: num_partitions boolean', path: `${alice.ns}/${shortName()}`, body: { num_partitions: true }, status: 400, code: 'BAD_REQUEST' },
    { name: 'management: config value null', path: `${alice.ns}/${shortName()}`, body: { configs: { 'retention.ms': null } }, status: 400, code: 'BAD_REQUEST' },
    { name: 'management: body an array', path: `${alice.ns}/${shortName()}`, body: [], status: 400, code: 'BAD_REQUEST' },
    { name: 'management: namespace an object', path: 'namespace', body: { namespace: {} }, status: 400, code: 'BAD_REQUEST' },
    // Jackson's leniency, kept on purpose (confluent-v2-contract.md §1.4).
    { name: 'numbers as strings are coerced', path: `${sub}/offsets`, body: { offsets: [{ topic, partition: '0', offset: '1' }] }, status: 200 },
    { name: 'a boolean where a string belongs is coerced', path: `${alice.ns}/consumers/${shortName('g')}`, body: { 'auto.commit.enable': false }, status: 200 },
    { name: 'an optional null is "not given"', path: `${alice.ns}/consumers/${shortName('g')}`, body: { name: null, 'fetch.min.bytes': null, format: null }, status: 200 }
  ])
  // The committed offset is the coerced one: nothing was committed from a null.
  const committed = await alice.req('GET', `${sub}/offsets`, { partitions: [{ topic, partition: 0 }] })
  t.same(committed.json().offsets, [{ topic, partition: 0, offset: 2, metadata: '' }])
})

t.test('unknown fields: 422 "Unrecognized field"', async t => {
  const cases: Case[] = [
    { name: 'create', path: `${alice.ns}/consumers/${group}`, body: { name: 'x1', unknown: 1 }, status: 422, code: 422 },
    { name: 'subscription', path: `${sub}/subscription`, body: { topics: [topic], partitions: [0] }, status: 422, code: 422 },
    { name: 'commit entry', path: `${sub}/offsets`, body: { offsets: [{ topic, partition: 0, offset: 0, leader_epoch: 1 }] }, status: 422, code: 422 },
    { name: 'seek entry', path: `${asg}/positions`, body: { offsets: [{ topic, partition: 0, offset: 0, whence: 'start' }] }, status: 422, code: 422 },
    { name: 'GET offsets', method: 'GET', path: `${sub}/offsets`, body: { partitions: [], extra: true }, status: 422, code: 422 },
    { name: 'query parameter', method: 'GET', path: `${sub}/records?timeout=10&wait=5`, headers: { accept: BINARY }, status: 422, code: 422 },
    { name: 'management: topic create', path: `${alice.ns}/${shortName()}`, body: { partitions: 2 }, status: 422, code: 'UNPROCESSABLE_ENTITY' },
    { name: 'management: namespace claim', path: 'namespace', body: { namespace: shortName('n'), owner: 'me' }, status: 422, code: 'UNPROCESSABLE_ENTITY' }
  ]
  await runTable(t, cases)
  for (const c of cases) {
    const res = await send(c)
    t.match(res.json().message, /^Unrecognized field: /, `${c.name}: names the field`)
  }
})

t.test('missing bodies: 422 where a body is required, defaults where it is optional', async t => {
  await runTable(t, [
    { name: 'subscribe', path: `${sub}/subscription`, status: 422, code: 422 },
    { name: 'assign', path: `${asg}/assignments`, status: 422, code: 422 },
    { name: 'seek', path: `${asg}/positions`, status: 422, code: 422 },
    // Diaspora 0.7: no partitions means every assigned partition.
    { name: 'seek to beginning without a body: every assigned partition', path: `${asg}/positions/beginning`, status: 204 },
    { name: 'seek to end without a body: every assigned partition', path: `${asg}/positions/end`, status: 204 },
    { name: 'seek to end, empty body with a Content-Type', path: `${asg}/positions/end`, body: '', status: 204 },
    { name: 'empty body with a Content-Type', path: `${asg}/positions`, body: '', status: 422, code: 422 },
    { name: 'whitespace body', path: `${sub}/subscription`, body: '  \n ', status: 422, code: 422 },
    { name: 'required field missing', path: `${asg}/assignments`, body: {}, status: 422, code: 422 },
    { name: 'GET committed offsets without a body: Confluent\'s 40402', method: 'GET', path: `${sub}/offsets`, status: 404, code: 40402 },
    { name: 'management: claim without a body', path: 'namespace', status: 422, code: 'UNPROCESSABLE_ENTITY' },
    { name: 'management: release without a body', method: 'DELETE', path: 'namespace', status: 422, code: 'UNPROCESSABLE_ENTITY' },
    { name: 'create instance without a body', path: `${alice.ns}/consumers/${shortName('g')}`, status: 200 },
    { name: 'commit without a body', path: `${sub}/offsets`, status: 200 },
    { name: 'create topic without a body', path: `${alice.ns}/${shortName()}`, status: 201 }
  ])
})

t.test(`huge bodies (over BODY_LIMIT ${BODY_LIMIT}): 413`, async t => {
  const many = Array.from({ length: 400 }, () => 'abcdefghij')
  await runTable(t, [
    { name: 'subscribe', path: `${sub}/subscription`, body: { topics: many }, status: 413, code: 413 },
    { name: 'create', path: `${alice.ns}/consumers/${group}`, body: { name: 'x'.repeat(BODY_LIMIT) }, status: 413, code: 413 },
    { name: 'commit', path: `${sub}/offsets`, body: { offsets: many.map(() => ({ topic, partition: 0, offset: 0 })) }, status: 413, code: 413 },
    { name: 'GET offsets', method: 'GET', path: `${sub}/offsets`, body: { partitions: many.map(() => ({ topic, partition: 0 })) }, status: 413, code: 413 },
    { name: 'management: topic create', path: `${alice.ns}/${shortName()}`, body: { configs: Object.fromEntries(many.map((v, i) => [`k${i}`, v])) }, status: 413, code: 'PAYLOAD_TOO_LARGE' }
  ])
  // Over a real socket: a body announced far above the limit is refused without being read, a chunked one as
  // soon as it passes the limit; both in the family shape and neither hangs.
  const big = await rawRequest(Buffer.from(`POST /api/v3/${sub}/subscription HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: ${V2}\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n{"topics":[`))
  isError(t, big, 'consumer', 413, 413, 'Content-Length 100 MiB')
  const chunk = 'x'.repeat(8192)
  const chunked = await rawRequest(Buffer.from(`POST /api/v3/${alice.ns}/${shortName()} HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(chunk.length.toString(16) + '\r\n' + chunk + '\r\n').repeat(4)}0\r\n\r\n`))
  isError(t, chunked, 'management', 413, 'PAYLOAD_TOO_LARGE', 'chunked 32 KiB')
})

t.test('Content-Type: JSON types only, UTF-8 only; a body without one is 415', async t => {
  const body = JSON.stringify({ topics: [topic] })
  await runTable(t, [
    { name: 'text/plain', path: `${sub}/subscription`, body, headers: { 'content-type': 'text/plain' }, status: 415, code: 415 },
    { name: 'form', path: `${sub}/subscription`, body: 'topics=a', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 415 },
    { name: 'multipart', path: `${sub}/subscription`, body: '--b\r\n\r\nx\r\n--b--', headers: { 'content-type': 'multipart/form-data; boundary=b' }, status: 415, code: 415 },
    { name: 'xml', path: `${alice.ns}/consumers/${group}`, body: '<name>x</name>', headers: { 'content-type': 'application/xml' }, status: 415, code: 415 },
    { name: 'octet-stream', path: `${sub}/offsets`, body: '{}', headers: { 'content-type': 'application/octet-stream' }, status: 415, code: 415 },
    { name: 'a body without Content-Type', path: `${sub}/subscription`, body, headers: { 'content-type': '' }, status: 415, code: 415 },
    { name: 'garbage Content-Type', path: `${sub}/subscription`, body, headers: { 'content-type': ';;;' }, status: 415, code: 415 },
    { name: 'charset latin1', path: `${sub}/subscription`, body, headers: { 'content-type': 'application/json; charset=iso-8859-1' }, status: 415, code: 415 },
    { name: 'charset utf-16', path: `${sub}/subscription`, body, headers: { 'content-type': `${V2}; charset=utf-16` }, status: 415, code: 415 },
    { name: 'GET offsets: text/plain', method: 'GET', path: `${sub}/offsets`, body: '{"partitions":[]}', headers: { 'content-type': 'text/plain' }, status: 415, code: 415 },
    { name: 'management: text/plain', path: `${alice.ns}/${shortName()}`, body: '{}', headers: { 'content-type': 'text/plain' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'management: xml claim', path: 'namespace', body: '<x/>', headers: { 'content-type': 'text/xml' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'application/json', path: `${sub}/subscription`, body, headers: { 'content-type': 'application/json' }, status: 204 },
    { name: 'charset utf-8, upper case type', path: `${sub}/subscription`, body, headers: { 'content-type': 'Application/JSON; charset=UTF-8' }, status: 204 },
    { name: 'an embedded vnd type', path: `${sub}/subscription`, body, headers: { 'content-type': 'application/vnd.kafka.binary.v2+json' }, status: 204 },
    { name: 'GET offsets: no Content-Type, JSON body', method: 'GET', path: `${sub}/offsets`, body: '{"partitions":[]}', headers: { 'content-type': '' }, status: 200 }
  ])
})

t.test('Accept: anything that excludes JSON is a 406; records also check the embedded format', async t => {
  await runTable(t, [
    { name: 'xml', method: 'GET', path: `${sub}/subscription`, headers: { accept: 'application/xml' }, status: 406, code: 406 },
    { name: 'html', method: 'GET', path: `${sub}/assignments`, headers: { accept: 'text/html' }, status: 406, code: 406 },
    { name: 'JSON refused with q=0', method: 'GET', path: `${sub}/subscription`, headers: { accept: 'application/json;q=0, text/plain' }, status: 406, code: 406 },
    { name: 'records: xml', method: 'GET', path: `${sub}/records?timeout=10`, headers: { accept: 'application/xml' }, status: 406, code: 406 },
    { name: 'records: json embedded format on a binary instance', method: 'GET', path: `${sub}/records?timeout=10`, headers: { accept: JSONV2 }, status: 406, code: 40601 },
    { name: 'records: binary embedded format on a json instance', method: 'GET', path: `${json}/records?timeout=10`, headers: { accept: BINARY }, status: 406, code: 40601 },
    { name: 'create with Accept text/plain', path: `${alice.ns}/consumers/${group}`, body: {}, headers: { accept: 'text/plain' }, status: 406, code: 406 },
    { name: 'management: text/plain', method: 'GET', path: 'namespace', headers: { accept: 'text/plain' }, status: 406, code: 'NOT_ACCEPTABLE' },
    { name: 'missing Accept', method: 'GET', path: `${sub}/subscription`, status: 200 },
    { name: '*/*', method: 'GET', path: `${sub}/subscription`, headers: { accept: '*/*' }, status: 200 },
    { name: 'application/json', method: 'GET', path: `${sub}/assignments`, headers: { accept: 'application/json' }, status: 200 },
    { name: 'a browser\'s Accept', method: 'GET', path: 'namespace', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }, status: 200 },
    { name: 'records: the instance\'s embedded type', method: 'GET', path: `${sub}/records?timeout=10`, headers: { accept: BINARY }, status: 200 }
  ])
})

t.test('offsets: negative, beyond 2^53, int64 max (number and string), fractions', async t => {
  const commit = (offset: unknown): Case['body'] => `{"offsets":[{"topic":"${topic}","partition":0,"offset":${offset as string}}]}`
  const seek = (offset: unknown): Case['body'] => `{"offsets":[{"topic":"${topic}","partition":0,"offset":${offset as string}}]}`
  await runTable(t, [
    { name: 'commit -1', path: `${sub}/offsets`, body: commit(-1), status: 422, code: 42204 },
    { name: 'commit 2^53', path: `${sub}/offsets`, body: commit('9007199254740992'), status: 422, code: 42204 },
    { name: 'commit 2^53 + 1 (not representable)', path: `${sub}/offsets`, body: commit('9007199254740993'), status: 422, code: 42204 },
    { name: 'commit int64 max as a number', path: `${sub}/offsets`, body: commit('9223372036854775807'), status: 422, code: 42204 },
    { name: 'commit int64 max as a string', path: `${sub}/offsets`, body: commit('"9223372036854775807"'), status: 422, code: 42204 },
    { name: 'commit beyond int64 as a string', path: `${sub}/offsets`, body: commit('"99999999999999999999999"'), status: 422, code: 42204 },
    { name: 'commit 1e400 (Infinity)', path: `${sub}/offsets`, body: commit('1e400'), status: 400, code: 400 },
    { name: 'commit 1.5', path: `${sub}/offsets`, body: commit('1.5'), status: 400, code: 400 },
    { name: 'commit "abc"', path: `${sub}/offsets`, body: commit('"abc"'), status: 400, code: 400 },
    { name: 'seek -5', path: `${asg}/positions`, body: seek(-5), status: 422, code: 42204 },
    { name: 'seek int64 max', path: `${asg}/positions`, body: seek('9223372036854775807'), status: 422, code: 42204 },
    { name: 'partition -1', path: `${asg}/positions/beginning`, body: { partitions: [{ topic, partition: -1 }] }, status: 422, code: 42204 },
    { name: 'partition 2^31', path: `${asg}/assignments`, body: { partitions: [{ topic, partition: 2 ** 31 }] }, status: 422, code: 42204 },
    { name: 'commit 2^53 - 1 (the largest accepted)', path: `${sub}/offsets`, body: commit(Number.MAX_SAFE_INTEGER), status: 200 }
  ])
  // The largest offset is stored and read back exactly (+1, Confluent's rule), not rounded.
  const back = await alice.req('GET', `${sub}/offsets`, { partitions: [{ topic, partition: 0 }] })
  t.equal(back.body, `{"offsets":[{"topic":"${topic}","partition":0,"offset":9007199254740992,"metadata":""}]}`)
})

t.test('unknown partitions and topics: 404 (40402 / 40401); seeks on partitions not held: 409', async t => {
  await runTable(t, [
    { name: 'commit to partition 7 of 2', path: `${sub}/offsets`, body: { offsets: [{ topic, partition: 7, offset: 0 }] }, status: 404, code: 40402 },
    { name: 'commit to an unknown topic', path: `${sub}/offsets`, body: { offsets: [{ topic: 'nosuchtopic', partition: 0, offset: 0 }] }, status: 404, code: 40401 },
    { name: 'assign partition 7', path: `${json}/assignments`, body: { partitions: [{ topic, partition: 7 }] }, status: 409, code: 40903 },
    { name: 'seek partition 7', path: `${asg}/positions`, body: { offsets: [{ topic, partition: 7, offset: 0 }] }, status: 409, code: 40903 },
    { name: 'seek to beginning, partition 7', path: `${asg}/positions/beginning`, body: { partitions: [{ topic, partition: 7 }] }, status: 409, code: 40903 },
    { name: 'seek by timestamp, unknown topic', path: `${asg}/positions`, body: { timestamps: [{ topic: 'nosuchtopic', partition: 0, timestamp: '2024-01-01T00:00:00Z' }] }, status: 409, code: 40903 },
    { name: 'GET committed offsets of partition 7: left out', method: 'GET', path: `${sub}/offsets`, body: { partitions: [{ topic, partition: 7 }] }, status: 200 }
  ])
  const fresh = await alice.consumer(shortName('g'))
  await runTable(t, [
    { name: 'assign partition 7 (not subscribed)', path: `${fresh}/assignments`, body: { partitions: [{ topic, partition: 7 }] }, status: 404, code: 40402 },
    { name: 'assign an unknown topic', path: `${fresh}/assignments`, body: { partitions: [{ topic: 'nosuchtopic', partition: 0 }] }, status: 404, code: 40401 }
  ])
})

t.test('a seek naming one partition many times: one seek, the last entry wins', async t => {
  const future = { topic, partition: 0, timestamp: '2999-01-01T00:00:00Z' }
  const past = { topic, partition: 0, timestamp: '2000-01-01T00:00:00Z' }
  const res = await alice.req('POST', `${asg}/positions`, { timestamps: [...Array.from({ length: 30 }, () => future), past] })
  t.equal(res.statusCode, 204)
  const got = await readAll(alice, asg, 4)
  t.same(got.filter(r => r.partition === 0).map(r => r.offset), [0, 1], 'partition 0 reads from its first record: the last entry (the past) won')
})

t.test('records: invalid timeout and max_bytes are 400; negative and huge ones fall back to defaults and caps', async t => {
  const get = (q: string, status: number, code?: number): Case => ({ name: `?${q}`, method: 'GET', path: `${sub}/records?${q}`, headers: { accept: BINARY }, status, ...(code === undefined ? {} : { code }) })
  await runTable(t, [
    get('timeout=abc', 400, 400),
    get('timeout=', 400, 400),
    get('timeout=1.5', 400, 400),
    get('timeout=10&timeout=20', 400, 400),
    get('max_bytes=abc', 400, 400),
    get('max_bytes=-', 400, 400),
    get('max_bytes=1e2.5', 400, 400),
    get('timeout=%FF', 400, 400),
    get('timeout=-5', 200),
    get('timeout=0', 200),
    get('timeout=99999999999999999999', 200),
    get('max_bytes=-5&timeout=10', 200),
    get('max_bytes=0&timeout=10', 200),
    get('max_bytes=99999999999999999999&timeout=10', 200),
    // Number() spellings that Ajv's coercion reads as numbers: harmless, the caps apply.
    get('timeout=0x10', 200),
    get('max_bytes=1e400&timeout=10', 200),
    { name: 'create: consumer.request.timeout.ms negative', path: `${alice.ns}/consumers/${group}`, body: { 'consumer.request.timeout.ms': -1 }, status: 422, code: 42204 },
    { name: 'create: consumer.request.timeout.ms not numeric', path: `${alice.ns}/consumers/${group}`, body: { 'consumer.request.timeout.ms': 'soon' }, status: 400, code: 400 },
    { name: 'create: fetch.min.bytes above 10 000 000', path: `${alice.ns}/consumers/${group}`, body: { 'fetch.min.bytes': 10_000_001 }, status: 422, code: 40001 },
    { name: 'create: consumer.request.timeout.ms huge (capped)', path: `${alice.ns}/consumers/${shortName('g')}`, body: { 'consumer.request.timeout.ms': 1e20 }, status: 200 }
  ])
})

t.test('bytes that are not UTF-8: 400 in bodies, query strings and paths', async t => {
  const latin1 = (prefix: string, bytes: number[], suffix: string): Buffer =>
    Buffer.concat([Buffer.from(prefix), Buffer.from(bytes), Buffer.from(suffix)])
  await runTable(t, [
    { name: 'invalid byte in a string', path: `${sub}/subscription`, body: latin1('{"topics":["', [0xff], '"]}'), status: 400, code: 400 },
    { name: 'overlong encoding of /', path: `${sub}/offsets`, body: latin1(`{"offsets":[{"topic":"${topic}","partition":0,"offset":0,"metadata":"`, [0xc0, 0xaf], '"}]}'), status: 400, code: 400 },
    { name: 'truncated sequence', path: `${alice.ns}/consumers/${group}`, body: latin1('{"name":"a', [0xe2, 0x82], '"}'), status: 400, code: 400 },
    { name: 'UTF-16 body', path: `${sub}/subscription`, body: Buffer.from(`{"topics":["${topic}"]}`, 'utf16le'), status: 400, code: 400 },
    { name: 'GET offsets body', method: 'GET', path: `${sub}/offsets`, body: latin1('{"partitions":[{"topic":"', [0xfe], '","partition":0}]}'), status: 400, code: 400 },
    { name: 'management body', path: 'namespace', body: latin1('{"namespace":"', [0xff, 0xfe], '"}'), status: 400, code: 'MALFORMED_JSON' },
    { name: 'a lone surrogate escape is valid JSON but no valid name', path: `${sub}/subscription`, body: '{"topics":["\\ud800abc"]}', status: 422, code: 42204 },
    { name: 'path: %FF as namespace', method: 'GET', path: '%FF/consumers/g/instances/i/subscription', status: 400, code: 400 },
    { name: 'path: %C0%AF in an instance', method: 'GET', path: `${alice.ns}/consumers/${group}/instances/%C0%AF/subscription`, status: 400, code: 400 },
    { name: 'path: truncated %E2%82 in a group', path: `${alice.ns}/consumers/%E2%82`, body: {}, status: 400, code: 400 },
    { name: 'management path: %FF as topic', path: `${alice.ns}/%FF`, status: 400, code: 'BAD_URL' },
    { name: 'management path: %C3%28 in a namespace claim', path: 'namespace/%C3%28', status: 400, code: 'BAD_URL' },
    { name: 'valid UTF-8 but not a valid name', method: 'GET', path: `${alice.ns}/consumers/gr%C3%BC%C3%9Fe/instances/i/subscription`, status: 422, code: 42204 }
  ])
  // Raw bytes (not percent-encoded) in the request line never reach the router: Node's parser rejects them.
  const inPath = await rawRequest(latin1(`GET /api/v3/${alice.ns}/consumers/${group}/instances/`, [0xff, 0xfe], `/subscription HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`))
  isError(t, inPath, 'consumer', 400, 400, 'raw 0xFF in a consumer path')
  const inMgmtPath = await rawRequest(latin1(`DELETE /api/v3/${alice.ns}/`, [0xc0, 0xaf], ` HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`))
  isError(t, inMgmtPath, 'management', 400, undefined, 'raw 0xC0 0xAF in a management path')
})

t.test('broken HTTP framing and unknown routes: clean 4xx in the family shape', async t => {
  const mismatch = await rawRequest(Buffer.from(`POST /api/v3/${sub}/subscription HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: ${V2}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"topics":[]}`))
  t.ok(mismatch.statusCode === 400 || mismatch.statusCode === 408 || mismatch.statusCode === 0, `a body shorter than its Content-Length is refused or dropped (${mismatch.statusCode})`)
  if (mismatch.statusCode !== 0) isError(t, mismatch, 'consumer', mismatch.statusCode, undefined, 'short body')
  const twoLengths = await rawRequest(Buffer.from(`POST /api/v3/${sub}/subscription HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: ${V2}\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}`))
  isError(t, twoLengths, 'consumer', 400, 400, 'two Content-Lengths')
  const hugeHeader = await rawRequest(Buffer.from(`GET /api/v3/namespace HTTP/1.1\r\nHost: x\r\n${auth()}X-Filler: ${'y'.repeat(20_000)}\r\nConnection: close\r\n\r\n`))
  isError(t, hugeHeader, 'management', 431, undefined, 'headers over the size limit')
  await runTable(t, [
    { name: 'unknown consumer route', method: 'GET', path: `${sub}/nothing`, status: 404, code: 404 },
    { name: 'unsupported method on a consumer route', method: 'PATCH', path: `${sub}/subscription`, body: {}, status: 404, code: 404 },
    { name: 'unknown management route', method: 'GET', path: 'users/all', status: 404, code: 'NOT_FOUND' }
  ])
  // Sent verbatim (URL classes would resolve the dot segments first): `%2E%2E` is a name that breaks the rules.
  const dots = await rawRequest(Buffer.from(`GET /api/v3/${alice.ns}/consumers/${group}/instances/%2E%2E/subscription HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`))
  isError(t, dots, 'consumer', 422, 42204, 'encoded dot segments')
  const traversal = await rawRequest(Buffer.from(`GET /api/v3/${alice.ns}/consumers/${group}/instances/../../../namespace HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`))
  isError(t, traversal, 'consumer', 404, 404, 'literal dot segments route nowhere')
})

t.test('long polls end within their bound whatever the query says', async t => {
  // Liveness, not speed: the read with an absurd timeout must answer (capped by CONSUMER_REQUEST_TIMEOUT_MAX_MS),
  // which the test framework's own timeout would otherwise catch as a hang.
  const res = await alice.req('GET', `${sub}/records?timeout=9007199254740991&max_bytes=9007199254740991`, undefined, { accept: BINARY })
  t.equal(res.statusCode, 200)
  t.same(res.json(), [], 'nothing new, so an empty list once the capped wait ends')
})
