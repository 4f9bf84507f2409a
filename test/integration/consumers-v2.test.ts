/**
 * The consumer endpoints under /api/v2/consumers (issue 12), as the Diaspora SDK 0.5.1 calls them: the caller's
 * default namespace, base_uri kept in the family, the SDK's headers on every request (the v2 Content-Type even on
 * bodyless GET and DELETE, Content-Length 0 on bodyless POST and DELETE, a JSON body on GET offsets), records with
 * headers, the lenient json format, auto.offset.reset none, seeks of every assigned partition, and isolation.
 * Real broker, the whole Fastify stack.
 */
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { build } from '../helpers/app.js'
import { apiUser, producer, shortName, b64, unb64, BINARY, JSONV2, V2, type ApiUser } from '../helpers/api.js'
import { defaultNamespace } from '../../plugins/namespaces/names.js'
import { brokers } from '../helpers/broker.js'
import { produceWithJava } from '../helpers/java-producer.js'

const { app, globus } = await build(t, { env: { CONSUMER_MAX_INSTANCES_PER_SUBJECT: '50' } })
const alice = await apiUser(app, globus)
const bob = await apiUser(app, globus)
const prod = await producer(t)

type Json = Record<string, unknown>

/**
 * A request with exactly the SDK's headers (rest_consumer.py `_headers`, `_send`, and what `requests` adds): the
 * v2 Content-Type always, Subject, a JSON body when there is data, Content-Length 0 on a bodyless POST or DELETE.
 */
function sdk (user: ApiUser, method: 'GET' | 'POST' | 'DELETE', url: string, data?: unknown, accept?: string, host = 'localhost:8000'): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { authorization: `Bearer ${user.token}`, subject: user.subject, 'content-type': V2, host }
  if (accept !== undefined) headers.accept = accept
  const opts: InjectOptions = { method, url, headers }
  if (data !== undefined) opts.payload = JSON.stringify(data)
  else if (method !== 'GET') headers['content-length'] = '0'
  return app.inject(opts)
}

/** Creates an instance under /api/v2 and returns its path (from base_uri, which must stay under /api/v2). */
async function create (t: Test, user: ApiUser, group: string, settings: Json = {}): Promise<string> {
  const res = await sdk(user, 'POST', `/api/v2/consumers/${group}`, settings)
  t.equal(res.statusCode, 200, `create: ${res.body}`)
  const { instance_id: id, base_uri: base } = res.json() as { instance_id: string, base_uri: string }
  t.equal(base, `http://localhost:8000/api/v2/consumers/${group}/instances/${id}`, 'base_uri: the request\'s origin, under /api/v2')
  const path = new URL(base).pathname
  t.teardown(() => sdk(user, 'DELETE', path))
  return path
}

/** Reads (bounded) until `count` records came, failing on anything but 200. */
async function read (user: ApiUser, path: string, count: number, accept = BINARY): Promise<Json[]> {
  const out: Json[] = []
  for (let i = 0; i < 40 && out.length < count; i++) {
    const res = await sdk(user, 'GET', `${path}/records?timeout=1000`, undefined, accept)
    if (res.statusCode !== 200) throw new Error(`records: ${res.statusCode} ${res.body}`)
    out.push(...(res.json() as Json[]))
  }
  return out
}

/** Reads until the answer is not a 200 (bounded): the first read may come back empty while the group assigns. */
async function readUntilError (user: ApiUser, path: string, accept = BINARY): Promise<LightMyRequestResponse> {
  let res = await sdk(user, 'GET', `${path}/records?timeout=1000`, undefined, accept)
  for (let i = 0; i < 30 && res.statusCode === 200; i++) res = await sdk(user, 'GET', `${path}/records?timeout=1000`, undefined, accept)
  return res
}

const kafkaTopic = (user: ApiUser, topic: string): string => `${user.ns}.${topic}`

t.test('the whole life of an instance under /api/v2, as the SDK sends it', async t => {
  const topic = await alice.topic(1)
  const group = shortName('g')
  await prod.send({ topic: kafkaTopic(alice, topic), messages: [0, 1, 2, 3].map(i => ({ key: `k${i}`, value: `v${i}` })) })
  const path = await create(t, alice, group, { name: 'w1', format: 'binary', 'auto.offset.reset': 'earliest', 'auto.commit.enable': 'false' })
  t.equal(path, `/api/v2/consumers/${group}/instances/w1`)

  const inst = app.consumers.get(alice.subject, alice.ns, group, 'w1')
  t.equal(inst.kafkaGroup, `${alice.ns}.${group}`, 'the group of the default namespace')
  t.equal(inst.opts.requestTimeoutMs, 5000, 'consumer.request.timeout.ms defaults to 5000 under /api/v2 (the SDK\'s documented default)')
  const dup = await sdk(alice, 'POST', `/api/v2/consumers/${group}`, { name: 'w1' })
  t.same([dup.statusCode, dup.json().error_code], [409, 40902], 'a duplicate name')

  t.equal((await sdk(alice, 'POST', `${path}/subscription`, { topics: [topic] })).statusCode, 204)
  const sub = await sdk(alice, 'GET', `${path}/subscription`)
  t.same([sub.statusCode, sub.json()], [200, { topics: [topic] }], 'GET with the v2 Content-Type and no body')
  t.match(sub.headers['content-type'], /application\/vnd\.kafka\.v2\+json/)

  const early = await sdk(alice, 'POST', `${path}/offsets`, { offsets: [{ topic, partition: 0, offset: 0 }] })
  t.same([early.statusCode, early.json().error_code], [409, 40903], 'offsets before the first read: the subscription holds no partition yet')

  const records = await read(alice, path, 4)
  t.same(records.map(r => [unb64(r.key), unb64(r.value), r.offset, r.partition, r.topic]), [0, 1, 2, 3].map(i => [`k${i}`, `v${i}`, i, 0, topic]))
  t.ok(records.every(r => Array.isArray(r.headers) && (r.headers as unknown[]).length === 0), 'headers: [] when none')

  const commit = await sdk(alice, 'POST', `${path}/offsets`)
  t.same([commit.statusCode, commit.json()], [200, []], 'commit of the positions: no body, Content-Length 0')
  const committed = await sdk(alice, 'GET', `${path}/offsets`, { partitions: [{ topic, partition: 0 }] })
  t.same(committed.json(), { offsets: [{ topic, partition: 0, offset: 4, metadata: '' }] }, 'GET offsets with a JSON body: the next record to read')
  t.same((await sdk(alice, 'POST', `${path}/offsets`, { offsets: [{ topic, partition: 0, offset: 1 }] })).json(), [], 'commit of an offset: the one after it')
  t.same((await sdk(alice, 'GET', `${path}/offsets`, { partitions: [{ topic, partition: 0 }] })).json().offsets[0].offset, 2)

  t.same((await sdk(alice, 'GET', `${path}/assignments`)).json(), { partitions: [{ topic, partition: 0 }] })
  t.equal((await sdk(alice, 'POST', `${path}/positions`, { offsets: [{ topic, partition: 0, offset: 2 }] })).statusCode, 204, 'seek')
  t.same((await read(alice, path, 2)).map(r => r.offset), [2, 3])
  t.equal((await sdk(alice, 'POST', `${path}/positions/beginning`, { partitions: [] })).statusCode, 204, 'seek to the beginning of every assigned partition (an empty list)')
  t.same((await read(alice, path, 4)).map(r => r.offset), [0, 1, 2, 3])
  t.equal((await sdk(alice, 'POST', `${path}/positions/end`)).statusCode, 204, 'seek to the end of every assigned partition (no body)')
  await prod.send({ topic: kafkaTopic(alice, topic), messages: [{ value: 'v4' }] })
  t.same((await read(alice, path, 1)).map(r => r.offset), [4], 'the end: the next record produced')
  t.equal((await sdk(alice, 'POST', `${path}/positions/beginning`, {})).statusCode, 204, 'no partitions field')
  t.same((await read(alice, path, 5)).map(r => r.offset), [0, 1, 2, 3, 4])

  t.same((await app.inject({ method: 'GET', url: `/api/v3/${alice.ns}/consumers/${group}/instances/w1/subscription`, headers: { authorization: `Bearer ${alice.token}` } })).json(), { topics: [topic] },
    'the same instance under /api/v3 in the default namespace')

  t.equal((await sdk(alice, 'DELETE', `${path}/subscription`)).statusCode, 204)
  t.same((await sdk(alice, 'GET', `${path}/subscription`)).json(), { topics: [] })
  t.equal((await sdk(alice, 'DELETE', path)).statusCode, 204, 'DELETE with the v2 Content-Type and Content-Length 0')

  // Gone: every route answers 404/40403 (the SDK re-creates the instance on exactly that).
  const routes: Array<['GET' | 'POST' | 'DELETE', string, unknown?, string?]> = [
    ['DELETE', ''], ['POST', '/subscription', { topics: [topic] }], ['GET', '/subscription'], ['DELETE', '/subscription'],
    ['POST', '/assignments', { partitions: [{ topic, partition: 0 }] }], ['GET', '/assignments'],
    ['POST', '/positions', { offsets: [{ topic, partition: 0, offset: 0 }] }], ['POST', '/positions/beginning', { partitions: [] }],
    ['POST', '/positions/end', { partitions: [] }], ['GET', '/records', undefined, BINARY], ['POST', '/offsets'],
    ['POST', '/offsets', { offsets: [{ topic, partition: 0, offset: 0 }] }], ['GET', '/offsets', { partitions: [{ topic, partition: 0 }] }]
  ]
  for (const [method, route, data, accept] of routes) {
    const res = await sdk(alice, method, `${path}${route}`, data, accept)
    t.same([res.statusCode, res.json().error_code], [404, 40403], `gone: ${method} ${route || '(instance)'}`)
  }
})

t.test('base_uri follows the request\'s origin, and PUBLIC_URL when set; the instance is reached there', async t => {
  const group = shortName('g')
  const res = await sdk(alice, 'POST', `/api/v2/consumers/${group}`, {}, undefined, 'diaspora.example.org:8443')
  const { instance_id: id, base_uri: base } = res.json() as { instance_id: string, base_uri: string }
  t.equal(base, `http://diaspora.example.org:8443/api/v2/consumers/${group}/instances/${id}`)
  t.equal((await sdk(alice, 'DELETE', new URL(base).pathname)).statusCode, 204)

  const other = await build(t, { globus, env: { PUBLIC_URL: 'https://diaspora.example.org/' } })
  const user = await apiUser(other.app, globus)
  const made = await other.app.inject({ method: 'POST', url: '/api/v2/consumers/g1', headers: { authorization: `Bearer ${user.token}`, 'content-type': V2 }, payload: '{"name":"a.b"}' })
  t.equal(made.json().base_uri, 'https://diaspora.example.org/api/v2/consumers/g1/instances/a.b')
  await other.app.inject({ method: 'DELETE', url: '/api/v2/consumers/g1/instances/a.b', headers: { authorization: `Bearer ${user.token}` } })
})

t.test('a caller whose user was never created gets 404 on every route, naming the default namespace', async t => {
  const subject = randomUUID()
  const token = globus.userToken(subject)
  const ns = defaultNamespace(subject)
  const headers = { authorization: `Bearer ${token}`, 'content-type': V2 }
  const created = await app.inject({ method: 'POST', url: '/api/v2/consumers/g', headers, payload: '{}' })
  t.equal(created.statusCode, 404)
  t.equal(created.json().error_code, 40401)
  t.match(created.json().message, new RegExp(`${ns}.*create the user first`))
  const read = await app.inject({ method: 'GET', url: '/api/v2/consumers/g/instances/w/records', headers: { authorization: `Bearer ${token}`, accept: BINARY } })
  t.same([read.statusCode, read.json().error_code], [404, 40401], 'and on the instance routes')
  const anonymous = await app.inject({ method: 'POST', url: '/api/v2/consumers/g', headers: { 'content-type': V2 }, payload: '{}' })
  t.equal(anonymous.statusCode, 401, 'authentication comes first')
  t.type(anonymous.json().error_code, 'number', 'in the consumer error shape')
})

t.test('isolation: another caller\'s instance, group and namespace stay out of reach', async t => {
  const topic = await alice.topic(1)
  const group = shortName('g')
  await prod.send({ topic: kafkaTopic(alice, topic), messages: [{ value: 'secret' }] })
  const path = await create(t, alice, group, { name: 'w1', 'auto.offset.reset': 'earliest' })
  await sdk(alice, 'POST', `${path}/subscription`, { topics: [topic] })

  for (const [method, route] of [['GET', '/subscription'], ['GET', '/records'], ['POST', '/offsets'], ['DELETE', '']] as const) {
    const res = await sdk(bob, method, `${path}${route}`, undefined, route === '/records' ? BINARY : undefined)
    t.same([res.statusCode, res.json().error_code], [404, 40403], `bob: ${method} ${route || '(instance)'} of alice's instance`)
  }
  // The same group and name for bob: his own namespace's group, a different instance.
  const bobPath = await create(t, bob, group, { name: 'w1', 'auto.offset.reset': 'earliest' })
  t.equal(bobPath, path, 'the same URL path…')
  t.equal(app.consumers.get(bob.subject, bob.ns, group, 'w1').kafkaGroup, `${bob.ns}.${group}`, '…in bob\'s namespace')
  const foreign = await sdk(bob, 'POST', `${bobPath}/subscription`, { topics: [topic] })
  t.equal(foreign.statusCode, 204, 'subscribing to a name his namespace does not have is accepted, as Kafka does…')
  const nothing = await sdk(bob, 'GET', `${bobPath}/records?timeout=500`, undefined, BINARY)
  t.same([nothing.statusCode, nothing.json()], [200, []], '…and reads nothing of alice\'s topic')
  const assign = await sdk(bob, 'POST', `${bobPath}/assignments`, { partitions: [{ topic, partition: 0 }] })
  t.equal(assign.statusCode, 409, 'assign while subscribed: 409')
  await sdk(bob, 'DELETE', `${bobPath}/subscription`)
  const missing = await sdk(bob, 'POST', `${bobPath}/assignments`, { partitions: [{ topic, partition: 0 }] })
  t.same([missing.statusCode, missing.json().error_code], [404, 40401], 'alice\'s topic does not exist for bob')
  const v3 = await app.inject({ method: 'POST', url: `/api/v3/${alice.ns}/consumers/${group}`, headers: { authorization: `Bearer ${bob.token}`, 'content-type': V2 }, payload: '{}' })
  t.same([v3.statusCode, v3.json().error_code], [404, 40401], 'alice\'s namespace under /api/v3: 404')
  const mine = await read(alice, path, 1)
  t.equal(unb64(mine[0]?.value), 'secret', 'alice still reads her record')
})

t.test('headers come back in both formats, byte for byte, null values and repeats kept', async t => {
  const topic = await alice.topic(1)
  const bin = Buffer.from([0, 255, 0x80, 10])
  // kafkajs writes bytes and repeats (grouped by name); it cannot write a null header value, Java's producer can.
  await prod.send({
    topic: kafkaTopic(alice, topic),
    messages: [{ value: '1', headers: { trace: 'abc', empty: Buffer.alloc(0), bin, twice: ['a', 'b'], ключ: 'é' } }, { value: '2' }]
  })
  await produceWithJava({ brokers: brokers(), topic: kafkaTopic(alice, topic), compression: 'gzip', records: [{ key: null, value: '3', headers: [['a', '1'], ['n', null], ['a', '3'], ['e', '']] }] })
  const expected = [
    [{ name: 'trace', value: b64('abc') }, { name: 'empty', value: '' }, { name: 'bin', value: bin.toString('base64') }, { name: 'twice', value: b64('a') }, { name: 'twice', value: b64('b') }, { name: 'ключ', value: b64('é') }],
    [],
    [{ name: 'a', value: b64('1') }, { name: 'n', value: null }, { name: 'a', value: b64('3') }, { name: 'e', value: '' }]
  ]
  for (const format of ['binary', 'json'] as const) {
    const path = await create(t, alice, shortName('g'), { format, 'auto.offset.reset': 'earliest' })
    await sdk(alice, 'POST', `${path}/subscription`, { topics: [topic] })
    const records = await read(alice, path, 3, format === 'json' ? JSONV2 : BINARY)
    t.same(records.map(r => r.headers), expected, `${format}: each record's headers in the order written, null kept, [] when none`)
  }
})

t.test('json is lenient: JSON values embedded, other text as strings, only bytes that are not UTF-8 refused', async t => {
  const topic = await alice.topic(1)
  await prod.send({
    topic: kafkaTopic(alice, topic),
    messages: [
      { key: 'job-42', value: '{"n":1}' },
      { key: '42', value: 'plain "quoted" text\n' },
      { key: '"job-42"', value: '' },
      { key: null, value: 'true' },
      { key: 'k', value: Buffer.from([0x22, 0xc3, 0x28, 0x22]) },
      { key: 'after', value: '[1]' }
    ]
  })
  const path = await create(t, alice, shortName('g'), { format: 'json', 'auto.offset.reset': 'earliest' })
  await sdk(alice, 'POST', `${path}/subscription`, { topics: [topic] })
  const good = await read(alice, path, 4, JSONV2)
  t.same(good.map(r => [r.key, r.value]), [['job-42', { n: 1 }], [42, 'plain "quoted" text\n'], ['job-42', ''], [null, true]],
    'text as a string (the SDK README\'s key), a number\'s text as the number, empty bytes as ""')
  const bad = await readUntilError(alice, path, JSONV2)
  t.equal(bad.statusCode, 422)
  t.equal(bad.json().error_code, 42203)
  t.match(bad.json().message, new RegExp(`${topic}/0@4 value is not valid UTF-8.*seek past offset 4`), 'names topic, partition and offset')
  const binary = await sdk(alice, 'GET', `${path}/records`, undefined, BINARY)
  t.same([binary.statusCode, binary.json().error_code], [406, 40601], 'a json instance read with the binary Accept')
  t.equal((await sdk(alice, 'POST', `${path}/positions`, { offsets: [{ topic, partition: 0, offset: 5 }] })).statusCode, 204)
  t.same((await read(alice, path, 1, JSONV2)).map(r => [r.key, r.value]), [['after', [1]]], 'past it, reading goes on')
})

t.test('auto.offset.reset none: a partition the group never committed is a 409 naming it, until a seek or a commit', async t => {
  const topic = await alice.topic(2)
  await prod.send({ topic: kafkaTopic(alice, topic), messages: [0, 1, 2, 3].map(i => ({ value: `v${i}`, partition: i % 2 })) })
  const group = shortName('g')

  // Subscribed: the group assigns both partitions, neither committed.
  const path = await create(t, alice, group, { 'auto.offset.reset': 'none' })
  await sdk(alice, 'POST', `${path}/subscription`, { topics: [topic] })
  const refused = await readUntilError(alice, path)
  t.equal(refused.statusCode, 409, 'not an endless empty poll')
  t.equal(refused.json().error_code, 40905)
  t.match(refused.json().message, `No committed offset for partition(s) ${topic}-0, ${topic}-1 and auto.offset.reset is none`)
  const again = await sdk(alice, 'GET', `${path}/records?timeout=200`, undefined, BINARY)
  t.equal(again.statusCode, 409, 'and again: nothing changed')
  t.equal((await sdk(alice, 'POST', `${path}/positions/beginning`, { partitions: [{ topic, partition: 0 }] })).statusCode, 204)
  const still = await sdk(alice, 'GET', `${path}/records?timeout=200`, undefined, BINARY)
  t.match([still.statusCode, still.json().message], [409, new RegExp(`partition\\(s\\) ${topic}-1 and`)], 'only the partition still without a start')
  t.equal((await sdk(alice, 'POST', `${path}/offsets`, { offsets: [{ topic, partition: 1, offset: 0 }] })).statusCode, 200, 'commit offset 0 (the next is 1)')
  const records = await read(alice, path, 3)
  t.same(records.map(r => [r.partition, r.offset]).sort(), [[0, 0], [0, 1], [1, 1]], 'partition 0 from its beginning, partition 1 from its commit')
  t.same((await sdk(alice, 'POST', `${path}/offsets`)).json(), [], 'commit both')
  await sdk(alice, 'DELETE', path)

  // The group has commits now: a new none instance reads on from them.
  const next = await create(t, alice, group, { 'auto.offset.reset': 'none' })
  await sdk(alice, 'POST', `${next}/subscription`, { topics: [topic] })
  await prod.send({ topic: kafkaTopic(alice, topic), messages: [{ value: 'v4', partition: 0 }] })
  t.same((await read(alice, next, 1)).map(r => [r.partition, r.offset, unb64(r.value)]), [[0, 2, 'v4']], 'committed partitions read on')

  // Manual assignment in a group that never committed.
  const manual = await create(t, alice, shortName('g'), { 'auto.offset.reset': 'none' })
  t.equal((await sdk(alice, 'POST', `${manual}/assignments`, { partitions: [{ topic, partition: 1 }] })).statusCode, 204)
  const assigned = await readUntilError(alice, manual)
  t.same([assigned.statusCode, assigned.json().error_code], [409, 40905], 'assigned: the same 409')
  t.match(assigned.json().message, `${topic}-1`)
  t.equal((await sdk(alice, 'POST', `${manual}/positions/end`)).statusCode, 204, 'seek every assigned partition to the end')
  const empty = await sdk(alice, 'GET', `${manual}/records?timeout=200`, undefined, BINARY)
  t.same([empty.statusCode, empty.json()], [200, []], 'positioned: reads, at the end')

  const invalid = await sdk(alice, 'POST', `/api/v2/consumers/${group}`, { 'auto.offset.reset': 'smallest' })
  t.same([invalid.statusCode, invalid.json().error_code], [422, 42204])
  t.match(invalid.json().message, 'earliest, latest or none')
})

t.test('DELETE subscription also drops a manual assignment', async t => {
  const topic = await alice.topic(1)
  await prod.send({ topic: kafkaTopic(alice, topic), messages: [{ value: 'x' }] })
  const path = await create(t, alice, shortName('g'), { 'auto.offset.reset': 'earliest' })
  t.equal((await sdk(alice, 'POST', `${path}/assignments`, { partitions: [{ topic, partition: 0 }] })).statusCode, 204)
  t.same((await sdk(alice, 'GET', `${path}/assignments`)).json(), { partitions: [{ topic, partition: 0 }] })
  t.equal((await read(alice, path, 1)).length, 1)
  t.equal((await sdk(alice, 'DELETE', `${path}/subscription`)).statusCode, 204)
  t.same((await sdk(alice, 'GET', `${path}/assignments`)).json(), { partitions: [] }, 'no assignment left')
  const read2 = await sdk(alice, 'GET', `${path}/records?timeout=200`, undefined, BINARY)
  t.same([read2.statusCode, read2.json().error_code], [409, 40903], 'neither subscribed nor assigned')
  t.equal((await sdk(alice, 'POST', `${path}/subscription`, { topics: [topic] })).statusCode, 204, 'so it may subscribe now')
})

t.test('/api/v3 keeps its defaults: consumer.request.timeout.ms 1000, base_uri under /api/v3', async t => {
  const group = shortName('g')
  const res = await app.inject({ method: 'POST', url: `/api/v3/${alice.ns}/consumers/${group}`, headers: { authorization: `Bearer ${alice.token}`, 'content-type': V2, host: 'localhost:8000' }, payload: '{"name":"w"}' })
  t.equal(res.json().base_uri, `http://localhost:8000/api/v3/${alice.ns}/consumers/${group}/instances/w`)
  t.equal(app.consumers.get(alice.subject, alice.ns, group, 'w').opts.requestTimeoutMs, 1000)
  await app.inject({ method: 'DELETE', url: `/api/v3/${alice.ns}/consumers/${group}/instances/w`, headers: { authorization: `Bearer ${alice.token}` } })
})

t.test('the OpenAPI spec has both families, records with headers, and none', async t => {
  const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, Json>> }
  const paths = Object.keys(spec.paths)
  const v2 = paths.filter(p => p.startsWith('/api/v2/consumers/'))
  const v3 = paths.filter(p => /^\/api\/v3\/\{namespace\}\/consumers\//.test(p))
  t.same(v2, v3.map(p => p.replace('/api/v3/{namespace}/', '/api/v2/')), 'the same routes under /api/v2, without the namespace')
  t.ok(v2.includes('/api/v2/consumers/{group}/instances/{instance}/records'))
  const records = spec.paths['/api/v2/consumers/{group}/instances/{instance}/records']?.get as { responses: Record<string, { content: Record<string, { schema: Json }> }> }
  const item = (Object.values(records.responses['200']?.content ?? {})[0]?.schema as { items: { required: string[], properties: { headers: { items: { properties: Json } } } } }).items
  t.ok(item.required.includes('headers'), 'headers are always there')
  t.same(Object.keys(item.properties.headers.items.properties), ['name', 'value'])
  t.match(JSON.stringify(spec.paths['/api/v2/consumers/{group}']), /earliest, latest \(default\) or none/)
})
