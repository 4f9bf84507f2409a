/**
 * Isolation attacks (issue 6, item 2): a caller tries to reach another namespace through hostile topic
 * patterns, crafted names (dots, slashes, percent-encoding, double encoding, Unicode look-alikes, very long
 * names), another subject's instances, namespaces it does not own, and offsets, assignments and seeks naming
 * another namespace's topics. Target: no records, offsets, group data or existence hints cross over, and every
 * attempt is a clean 4xx. "Exists but foreign" and "does not exist" must answer byte for byte the same (with the
 * name itself replaced). Real broker; the Kafka side is checked with an admin client of its own.
 */
import t, { type Test } from 'tap'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { build } from '../helpers/app.js'
import { apiUser, producer, readAll, shortName, unb64, BINARY, V2, type ApiUser } from '../helpers/api.js'
import { testKafka } from '../helpers/broker.js'

const { app, globus, url } = await build(t, { listen: true, env: { CONSUMER_PATTERN_REFRESH_MS: '500', CONSUMER_MAX_INSTANCES_PER_SUBJECT: '50' } })
const alice = await apiUser(app, globus)
const bob = await apiUser(app, globus)
const prod = await producer(t)
const admin = testKafka().admin()
await admin.connect()
t.teardown(() => admin.disconnect())

/** Set-up steps throw (tap ends the root test early if it asserts between top-level awaits). */
function expect (ok: boolean, what: string): void {
  if (!ok) throw new Error(`set-up failed: ${what}`)
}

async function createTopic (user: ApiUser, ns: string, name: string, partitions = 2): Promise<void> {
  const res = await user.req('POST', `${ns}/${name}`, { num_partitions: partitions }, { 'content-type': 'application/json' })
  expect(res.statusCode === 201, `create ${ns}/${name}: ${res.statusCode} ${res.body}`)
}

// Both users have a topic of the same name; bob also has a `secret` topic, a group with a committed offset and a
// live instance, and an additional namespace.
const P = shortName('p').slice(0, 9)
const shared = `${P}-a`
const secret = `${P}-secret`
await createTopic(alice, alice.ns, shared)
await createTopic(bob, bob.ns, shared)
await createTopic(bob, bob.ns, secret)
await prod.send({ topic: `${alice.ns}.${shared}`, messages: [{ value: 'alice-a', partition: 0 }, { value: 'alice-a', partition: 1 }] })
await prod.send({ topic: `${bob.ns}.${shared}`, messages: [{ value: 'bob-secret', partition: 0 }, { value: 'bob-secret', partition: 1 }] })
await prod.send({ topic: `${bob.ns}.${secret}`, messages: [{ value: 'bob-secret', partition: 0 }] })
const G = shortName('g')
const bobInstance = await bob.subscriber(G, [secret], { name: 'bob-worker' })
expect((await readAll(bob, bobInstance, 1)).length === 1, 'bob reads his secret topic')
expect((await bob.req('POST', `${bobInstance}/offsets`, { offsets: [{ topic: secret, partition: 0, offset: 0 }] })).statusCode === 200, 'bob commits')
const bobExtra = shortName('bx')
expect((await bob.req('POST', `namespace/${bobExtra}`)).statusCode === 201, 'bob claims an additional namespace')

/** Bob's committed offsets in Kafka, the ground truth that nothing alice does may move. */
async function bobCommitted (): Promise<string[]> {
  const r = await admin.fetchOffsets({ groupId: `${bob.ns}.${G}`, topics: [`${bob.ns}.${secret}`, `${bob.ns}.${shared}`] })
  return r.flatMap(x => x.partitions.map(p => `${x.topic}/${p.partition}@${p.offset}`)).sort()
}
const bobCommittedBefore = await bobCommitted()
expect(bobCommittedBefore.includes(`${bob.ns}.${secret}/0@1`), `bob's commit is in Kafka: ${bobCommittedBefore.join(', ')}`)

function consumerError (t: Test, res: LightMyRequestResponse, status: number, code: number, label: string): void {
  t.equal(res.statusCode, status, `${label}: ${status} (${res.body.slice(0, 200)})`)
  t.match(String(res.headers['content-type']), /^application\/vnd\.kafka\.v2\+json/, `${label}: Confluent type`)
  const body = res.json() as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['error_code', 'message'], `${label}: Confluent shape`)
  t.equal(body.error_code, code, `${label}: error_code ${code}`)
}

/** The parts of a response a caller can observe, with `name` replaced so two answers can be compared. */
function observable (res: LightMyRequestResponse, name: string): Record<string, unknown> {
  const headers = { ...res.headers }
  delete headers.date
  return { status: res.statusCode, headers, body: res.body.split(name).join('<NS>') }
}

t.test('hostile topic patterns match the caller\'s own topics only', async t => {
  const aliceTopics = [shared]
  const path = await alice.consumer(shortName('g'), { 'auto.offset.reset': 'earliest' })
  const accepted: string[] = []
  const patterns = [
    '.*', '.+', 'a|.*', `${shared}|.*`, '(?:)|.*', '[\\s\\S]*', '[^]*', '.{0,64}',
    '(?=.*).*', '(?!zzz).*', `(?<=${alice.ns}\\.).*`, `(?<=${bob.ns}\\.).*`, '(?<!x).*',
    '^.*$', '^', '$', '.*$|^.*',
    `${bob.ns}\\..*`, `${bob.ns}.*`, '.*\\..*', '.*\\u002e.*', '.*\\x2e.*', '.*[.].*', '.*．.*',
    'ns-[0-9a-f]{12}\\..*', `.*${secret}`, secret, `(?:${bob.ns}\\.)?${secret}`, `..*${P}.*`
  ]
  for (const pattern of patterns) {
    t.equal((await alice.req('DELETE', `${path}/subscription`)).statusCode, 204)
    const res = await alice.req('POST', `${path}/subscription`, { topic_pattern: pattern })
    if (res.statusCode === 422) {
      consumerError(t, res, 422, 42204, `pattern ${pattern}`)
      continue
    }
    t.equal(res.statusCode, 204, `pattern ${pattern}: accepted or refused, nothing else (${res.body})`)
    const topics = (await alice.req('GET', `${path}/subscription`)).json().topics as string[]
    t.ok(topics.every(x => aliceTopics.includes(x)), `pattern ${pattern}: matches only alice's topics (${topics.join(', ')})`)
    if (topics.length > 0) accepted.push(pattern)
  }
  t.ok(accepted.includes('.*') && accepted.includes('a|.*'), 'the match-everything patterns did match alice\'s topic')
  t.notOk(accepted.includes(`${bob.ns}\\..*`) || accepted.includes(`.*${secret}`) || accepted.includes(secret), 'nothing that names bob matched anything')

  // Patterns that JS or the scope wrapper must not run: each a clean 422.
  for (const pattern of ['.*)|(.*', ')|.*|(', '(a+)+', '(.|\\s)*', '\\Q.*\\E', '(?i).*', '.*\\', 'x'.repeat(300), '\\1', '(?<n>.)\\k<n>']) {
    consumerError(t, await alice.req('POST', `${path}/subscription`, { topic_pattern: pattern }), 422, 42204, `refused pattern ${pattern.slice(0, 20)}`)
  }

  await alice.req('DELETE', path)

  // Read with the widest patterns, each on a fresh instance in a fresh group (reading from the earliest offset):
  // alice's records come, bob's never, though his topic of the same name holds records too.
  for (const pattern of ['.*', 'a|.*', '(?=.*).*']) {
    const reader = await alice.consumer(shortName('g'), { 'auto.offset.reset': 'earliest' })
    t.equal((await alice.req('POST', `${reader}/subscription`, { topic_pattern: pattern })).statusCode, 204)
    const got = await readAll(alice, reader, 2, { attempts: 20 })
    t.same(got.map(r => unb64(r.value)).sort(), ['alice-a', 'alice-a'], `pattern ${pattern}: alice's two records`)
    t.ok(got.every(r => r.topic === shared), `pattern ${pattern}: user topic names, no prefix`)
    const more = await alice.req('GET', `${reader}/records?timeout=200`, undefined, { accept: BINARY })
    t.same(more.json(), [], `pattern ${pattern}: nothing else to read`)
    const assignment = (await alice.req('GET', `${reader}/assignments`)).json().partitions as Array<{ topic: string }>
    t.ok(assignment.every(p => p.topic === shared), `pattern ${pattern}: assigned alice's partitions only`)
    await alice.req('DELETE', reader)
  }
  t.same(await bobCommitted(), bobCommittedBefore, 'bob\'s offsets untouched')
})

t.test('offsets, assignments, seeks and committed offsets cannot name another namespace\'s topic', async t => {
  const group = G // the same group name as bob's: another Kafka group all the same
  const path = await alice.subscriber(group, [shared], { name: 'same-name-as-bob' })
  t.equal((await readAll(alice, path, 2)).length, 2, 'alice reads her own topic in a group named like bob\'s')
  const assigned = await alice.consumer(shortName('g'), { 'auto.offset.reset': 'earliest' })
  t.equal((await alice.req('POST', `${assigned}/assignments`, { partitions: [{ topic: shared, partition: 0 }] })).statusCode, 204)
  const cyrillicA = shared.replace(/a/g, 'а') // U+0430
  const names = [
    `${bob.ns}.${secret}`, `${bob.ns}.${shared}`, `${bob.ns}/${secret}`, `../${bob.ns}/${secret}`, `${bob.ns}%2E${secret}`,
    `${bob.ns}．${secret}`, `${bob.ns}\u2024${secret}`, `.${secret}`, `${secret}.`, `${secret} `, `${secret}\n`, `${secret}\u0000`,
    cyrillicA, `${shared}\u200b`, 'x'.repeat(5000), ''
  ]
  const tp = (topic: string) => [{ topic, partition: 0 }]
  const requests = (topic: string): Array<[string, 'GET' | 'POST', string, unknown]> => [
    ['subscribe', 'POST', `${assigned}/subscription`, { topics: [topic] }],
    ['assign', 'POST', `${assigned}/assignments`, { partitions: tp(topic) }],
    ['commit', 'POST', `${path}/offsets`, { offsets: [{ topic, partition: 0, offset: 0 }] }],
    ['seek', 'POST', `${assigned}/positions`, { offsets: [{ topic, partition: 0, offset: 0 }] }],
    ['seek by time', 'POST', `${assigned}/positions`, { timestamps: [{ topic, partition: 0, timestamp: '2024-01-01T00:00:00Z' }] }],
    ['seek to beginning', 'POST', `${assigned}/positions/beginning`, { partitions: tp(topic) }],
    ['seek to end', 'POST', `${assigned}/positions/end`, { partitions: tp(topic) }],
    ['committed offsets', 'GET', `${path}/offsets`, { partitions: tp(topic) }]
  ]
  for (const name of names) {
    for (const [what, method, where, body] of requests(name)) {
      consumerError(t, await alice.req(method, where, body), 422, 42204, `${what} ${JSON.stringify(name.slice(0, 40))}`)
    }
  }
  // The JSON escape for a dot is a dot after parsing: refused the same way.
  const escaped = `{"offsets":[{"topic":"${bob.ns}\\u002e${secret}","partition":0,"offset":0}]}`
  consumerError(t, await alice.req('POST', `${path}/offsets`, escaped), 422, 42204, 'commit with an escaped dot')

  // Alice's own commits land in her group only.
  t.equal((await alice.req('POST', `${path}/offsets`, { offsets: [{ topic: shared, partition: 1, offset: 0 }] })).statusCode, 200)
  t.same(await bobCommitted(), bobCommittedBefore, 'bob\'s committed offsets did not move')
  const aliceView = await admin.fetchOffsets({ groupId: `${alice.ns}.${group}`, topics: [`${bob.ns}.${secret}`, `${bob.ns}.${shared}`] })
  t.ok(aliceView.every(x => x.partitions.every(p => p.offset === '-1')), 'alice\'s group holds no offsets of bob\'s topics')
  const [bobGroup] = (await admin.describeGroups([`${bob.ns}.${G}`])).groups
  t.equal(bobGroup?.members.length, 1, 'bob\'s group has only bob\'s instance')
  const committed = await alice.req('GET', `${path}/offsets`, { partitions: [{ topic: shared, partition: 0 }, { topic: shared, partition: 1 }] })
  t.same(committed.json(), { offsets: [{ topic: shared, partition: 1, offset: 1, metadata: '' }] }, 'alice sees her own commit and nothing of bob\'s (he committed partition 0 of his topic of that name)')
  await alice.req('DELETE', path)
  await alice.req('DELETE', assigned)
})

t.test('foreign and unknown namespaces answer the same, on every route', async t => {
  const hex = () => randomBytes(6).toString('hex')
  const pairs: Array<[string, string]> = [
    [bob.ns, `ns-${hex()}`], // default namespaces: bob's and one nobody has
    [bobExtra, `bx${hex()}`.slice(0, bobExtra.length)] // additional namespaces
  ]
  for (const [foreign, unknown] of pairs) {
    t.equal(foreign.length, unknown.length, 'names of the same length, so even Content-Length may not differ')
    const routes = (ns: string): Array<['GET' | 'POST' | 'PUT' | 'DELETE', string, unknown?]> => {
      const i = `${ns}/consumers/${G}/instances/bob-worker`
      return [
        ['POST', `${ns}/consumers/${G}`, { name: 'bob-worker' }],
        ['POST', `${ns}/consumers/${G}`],
        ['DELETE', i],
        ['GET', `${i}/subscription`],
        ['POST', `${i}/subscription`, { topics: [secret] }],
        ['DELETE', `${i}/subscription`],
        ['GET', `${i}/records?timeout=10`],
        ['POST', `${i}/offsets`, { offsets: [{ topic: secret, partition: 0, offset: 5 }] }],
        ['POST', `${i}/offsets`],
        ['GET', `${i}/offsets`, { partitions: [{ topic: secret, partition: 0 }] }],
        ['GET', `${i}/assignments`],
        ['POST', `${i}/assignments`, { partitions: [{ topic: secret, partition: 0 }] }],
        ['POST', `${i}/positions`, { offsets: [{ topic: secret, partition: 0, offset: 0 }] }],
        ['POST', `${i}/positions/beginning`, { partitions: [{ topic: secret, partition: 0 }] }],
        ['POST', `${i}/positions/end`, { partitions: [{ topic: secret, partition: 0 }] }],
        ['POST', `${ns}/${secret}`, { num_partitions: 1 }],
        ['POST', `${ns}/${secret}`],
        ['DELETE', `${ns}/${secret}`],
        ['PUT', `${ns}/${secret}/recreate`],
        ['DELETE', `namespace/${ns}`],
        ['DELETE', 'namespace', { namespace: ns }]
      ]
    }
    const a = routes(foreign)
    const b = routes(unknown)
    for (let k = 0; k < a.length; k++) {
      const [method, path, body] = a[k] as [string, string, unknown]
      const [, upath, ubody] = b[k] as [string, string, unknown]
      const headers = { accept: path.includes('/records') ? BINARY : '*/*', ...(body === undefined ? {} : { 'content-type': 'application/json' }) }
      const rf = await alice.req(method as 'GET', path, body, headers)
      const ru = await alice.req(method as 'GET', upath, ubody, headers)
      t.ok(rf.statusCode >= 400 && rf.statusCode < 500, `${method} ${path.replace(foreign, '<NS>')}: a 4xx (${rf.statusCode})`)
      t.same(observable(rf, foreign), observable(ru, unknown), `${method} ${path.replace(foreign, '<NS>')}: foreign = unknown`)
    }
  }
  // Claiming: default-shaped names are reserved whoever holds them.
  const claimForeign = await alice.req('POST', `namespace/${bob.ns}`)
  const unknownDefault = `ns-${hex()}`
  const claimUnknown = await alice.req('POST', `namespace/${unknownDefault}`)
  t.equal(claimForeign.statusCode, 409)
  t.same(observable(claimForeign, bob.ns), observable(claimUnknown, unknownDefault), 'claiming bob\'s default namespace reads like claiming a free default-shaped name')
  // Bob's data survived all of it.
  t.same((await bob.req('GET', 'namespace')).json().namespaces[bob.ns].sort(), [shared, secret].sort())
  t.equal((await bob.req('GET', `${bobInstance}/subscription`)).statusCode, 200, 'bob\'s instance is alive')
  t.same(await bobCommitted(), bobCommittedBefore)
})

t.test('another subject\'s instances: the same answer as no instance', async t => {
  // In her own namespace, with bob's group and instance names: no instance there, and no hint of bob's.
  const own = `${alice.ns}/consumers/${G}/instances/bob-worker`
  const none = `${alice.ns}/consumers/${G}/instances/nobody-here`
  for (const suffix of ['/subscription', '/assignments', '/records?timeout=10']) {
    const a = await alice.req('GET', `${own}${suffix}`, undefined, { accept: BINARY })
    const b = await alice.req('GET', `${none}${suffix}`, undefined, { accept: BINARY })
    consumerError(t, a, 404, 40403, `GET ${suffix}`)
    t.same(observable(a, 'bob-worker'), observable(b, 'nobody-here'), `GET ${suffix}: same as an unknown instance`)
  }
  // The same group and instance name in alice's namespace is hers to create: no 409 naming bob's.
  const created = await alice.req('POST', `${alice.ns}/consumers/${G}`, { name: 'bob-worker' })
  t.equal(created.statusCode, 200, 'names are per namespace')
  t.equal((await alice.req('DELETE', own)).statusCode, 204)
  t.equal((await bob.req('GET', `${bobInstance}/subscription`)).statusCode, 200, 'bob\'s instance of that name is untouched')
})

t.test('a released namespace takes its consumer instances with it', async t => {
  // Alice claims X, consumes from it, empties and releases it; bob claims X. Alice's instances must not live on
  // in bob's namespace: no records of bob's flow to them, no partitions of bob's group go to them, and bob's
  // instance names are free.
  const X = shortName('xn')
  t.equal((await alice.req('POST', `namespace/${X}`)).statusCode, 201)
  await createTopic(alice, X, 'old')
  const group = 'g'
  const create = async (user: ApiUser, name: string): Promise<string> => {
    const res = await user.req('POST', `${X}/consumers/${group}`, { name, 'auto.offset.reset': 'earliest' })
    t.equal(res.statusCode, 200, `${name}: created (${res.body})`)
    return `${X}/consumers/${group}/instances/${name}`
  }
  const byPattern = await create(alice, 'w-pattern')
  t.equal((await alice.req('POST', `${byPattern}/subscription`, { topic_pattern: '.*' })).statusCode, 204)
  const byList = await create(alice, 'w-list')
  t.equal((await alice.req('POST', `${byList}/subscription`, { topics: ['new'] })).statusCode, 204)
  t.equal((await alice.req('DELETE', `${X}/old`)).statusCode, 200)
  const released = await alice.req('DELETE', `namespace/${X}`)
  t.equal(released.statusCode, 200, `released (${released.body})`)
  consumerError(t, await alice.req('GET', `${byPattern}/subscription`), 404, 40401, 'alice\'s old instance path')

  t.equal((await bob.req('POST', `namespace/${X}`)).statusCode, 201, 'bob claims X')
  await createTopic(bob, X, 'new', 2)
  await prod.send({ topic: `${X}.new`, messages: [{ value: 'bob-private', partition: 0 }, { value: 'bob-private', partition: 1 }] })
  const bobs = await create(bob, 'w-list') // the name alice used: free
  t.equal((await bob.req('POST', `${bobs}/subscription`, { topics: ['new'] })).statusCode, 204)
  const got = await readAll(bob, bobs, 2)
  t.equal(got.length, 2, 'bob reads both partitions: nothing of his group went to a leftover instance')
  t.same((await bob.req('GET', `${bobs}/assignments`)).json().partitions.length, 2)
  const [kafkaGroup] = (await admin.describeGroups([`${X}.${group}`])).groups
  t.equal(kafkaGroup?.members.length, 1, 'the Kafka group has bob\'s member only')
  t.notOk([...app.consumers.all()].some(i => i.opts.namespace === X && i.opts.subject === alice.subject), 'alice has no instance left in X')
  await bob.req('DELETE', bobs)
  await bob.req('DELETE', `${X}/new`)
})

t.test('crafted names in paths: dots, slashes, percent-encoding, look-alikes, case, length', async t => {
  const ns = alice.ns
  const upper = ns.toUpperCase()
  const cases: Array<[string, string, number, number]> = [
    // [label, path below /api/v3/, status, error_code]
    ['group with a dot into bob\'s prefix', `${ns}/consumers/${bob.ns}.${G}/instances/bob-worker/subscription`, 404, 40403],
    ['group with an encoded slash', `${ns}/consumers/a%2Fb/instances/i/subscription`, 422, 42204],
    ['group, double encoded slash', `${ns}/consumers/a%252Fb/instances/i/subscription`, 422, 42204],
    ['group, fullwidth dot', `${ns}/consumers/a%EF%BC%8Eb/instances/i/subscription`, 422, 42204],
    ['instance, Cyrillic look-alike', `${ns}/consumers/${G}/instances/b%D0%BEb-worker/subscription`, 422, 42204],
    ['instance with an encoded NUL', `${ns}/consumers/${G}/instances/bob-worker%00/subscription`, 422, 42204],
    ['namespace, Cyrillic look-alike of alice\'s', `n%D1%95${ns.slice(2)}/consumers/${G}/instances/i/subscription`, 422, 42204],
    ['namespace with bob\'s name and an encoded slash', `${bob.ns}%2Fconsumers/consumers/${G}/instances/i/subscription`, 422, 42204],
    ['alice\'s namespace in upper case is another name', `${upper}/consumers/${G}/instances/i/subscription`, 404, 40401],
    ['group of 129 characters', `${ns}/consumers/${'g'.repeat(129)}/instances/i/subscription`, 422, 42204],
    ['group of 10 000 characters', `${ns}/consumers/${'g'.repeat(10_000)}/instances/i/subscription`, 422, 42204],
    ['instance of 5 000 characters', `${ns}/consumers/${G}/instances/${'i'.repeat(5000)}/records`, 422, 42204]
  ]
  for (const [label, path, status, code] of cases) {
    const res = await alice.req('GET', path, undefined, { accept: BINARY })
    consumerError(t, res, status, code, label)
    t.ok(res.body.length < 400, `${label}: the answer does not echo an unbounded name`)
  }
  // The longest valid names (128 characters) work end to end: the router's parameter limit is above them.
  const longGroup = `g${'1'.repeat(126)}g`
  const longName = `i${'2'.repeat(126)}i`
  const long = await alice.req('POST', `${ns}/consumers/${longGroup}`, { name: longName })
  t.equal(long.statusCode, 200, `a 128-character group and instance (${long.body.slice(0, 100)})`)
  t.equal((await alice.req('GET', `${ns}/consumers/${longGroup}/instances/${longName}/subscription`)).statusCode, 200)
  t.equal((await alice.req('DELETE', `${ns}/consumers/${longGroup}/instances/${longName}`)).statusCode, 204)

  // Alice's own instance in the group with the dotted name is hers alone: Kafka group `${alice.ns}.${bob.ns}.${G}`.
  const dotted = await alice.subscriber(`${bob.ns}.${G}`, [shared], { name: 'dotted' })
  t.equal((await readAll(alice, dotted, 2)).length, 2)
  const groups = (await admin.describeGroups([`${bob.ns}.${G}`, `${alice.ns}.${bob.ns}.${G}`])).groups
  t.equal(groups[0]?.members.length, 1, 'bob\'s group: still only bob')
  t.equal(groups[1]?.members.length, 1, 'alice\'s dotted group: alice\'s instance, inside her prefix')
  t.same(await bobCommitted(), bobCommittedBefore)
  await alice.req('DELETE', dotted)

  // Management paths: the same names in the management shape.
  const mgmt: Array<[string, 'POST' | 'DELETE' | 'PUT', string, number, string]> = [
    ['topic into bob\'s namespace by a dot', 'POST', `${ns}/${bob.ns}.${secret}`, 422, 'INVALID_NAME'],
    ['topic with an encoded slash', 'POST', `${ns}/${bob.ns}%2F${secret}`, 422, 'INVALID_NAME'],
    ['namespace with an encoded dot', 'DELETE', `${bob.ns}%2E${secret}/xyz`, 422, 'INVALID_NAME'],
    ['recreate bob\'s topic through a look-alike namespace', 'PUT', `n%D1%95${bob.ns.slice(2)}/${secret}/recreate`, 422, 'INVALID_NAME'],
    ['bob\'s namespace in upper case', 'DELETE', `${bob.ns.toUpperCase()}/${secret}`, 404, 'NAMESPACE_NOT_FOUND'],
    ['topic of 5 000 characters', 'POST', `${ns}/${'t'.repeat(5000)}`, 422, 'INVALID_NAME']
  ]
  for (const [label, method, path, status, code] of mgmt) {
    const res = await alice.req(method, path)
    t.equal(res.statusCode, status, `${label}: ${status} (${res.body.slice(0, 200)})`)
    t.match(String(res.headers['content-type']), /^application\/json/)
    t.match(res.json(), { status: 'failure', code }, label)
  }
  t.same((await bob.req('GET', 'namespace')).json().namespaces[bob.ns].sort(), [shared, secret].sort(), 'bob\'s topics are all there')

  // Over a real socket (URL classes would resolve dot segments before sending): encoded dot segments are
  // names that break the rules, and a request line beyond the header size limit is a 431; all in the family
  // shape, none a hang.
  const raw = (path: string): Promise<string> => {
    const { hostname, port } = new URL(url)
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = []
      const socket = net.connect(Number(port), hostname, () => {
        socket.end(`GET /api/v3/${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.token}\r\nAccept: ${V2}\r\nConnection: close\r\n\r\n`)
      })
      const guard = setTimeout(() => { socket.destroy(); reject(new Error('no answer')) }, 20_000)
      socket.on('data', (d: Buffer) => chunks.push(d))
      socket.on('error', () => {})
      socket.on('close', () => { clearTimeout(guard); resolve(Buffer.concat(chunks).toString()) })
    })
  }
  const shaped = (answer: string, status: number, code: number, label: string): void => {
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${label}: ${status}`)
    t.match(answer, /content-type: application\/vnd\.kafka\.v2\+json/i, `${label}: Confluent type`)
    t.match(answer, new RegExp(`\\{"error_code":${code},"message":"[^"]+"\\}$`), `${label}: Confluent shape`)
  }
  shaped(await raw(`${ns}/consumers/%2E/instances/i/subscription`), 422, 42204, 'group "."')
  shaped(await raw(`${ns}/consumers/%2E%2E/instances/%2E%2E/subscription`), 422, 42204, 'group and instance ".."')
  shaped(await raw(`%2E%2E/consumers/${G}/instances/i/subscription`), 422, 42204, 'namespace ".."')
  shaped(await raw(`${ns}/consumers/${'g'.repeat(20_000)}/instances/i/subscription`), 431, 431, 'a 20 000-character group')
})
