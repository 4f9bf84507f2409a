/**
 * The Confluent v2 consumer API end to end: real Kafka broker, Globus stand-in over real HTTP, the whole
 * Fastify app. Every test uses its own topics and groups.
 */
import t from 'tap'
import { build } from '../helpers/app.js'
import { apiUser, awaitPartitions, producer, readAll, shortName, b64, unb64, BINARY, JSONV2 } from '../helpers/api.js'
import { produceWithJava } from '../helpers/java-producer.js'
import { brokers } from '../helpers/broker.js'

const { app, globus } = await build(t, { env: { CONSUMER_PATTERN_REFRESH_MS: '500', CONSUMER_MAX_INSTANCES_PER_SUBJECT: '20' } })
const alice = await apiUser(app, globus)
const bob = await apiUser(app, globus)
const prod = await producer(t)

t.test('create, subscribe, read, commit, committed, delete', async t => {
  const topic = await alice.topic(2)
  const group = shortName('g')
  const created = await alice.req('POST', `${alice.ns}/consumers/${group}`, { name: 'w1', format: 'binary', 'auto.offset.reset': 'earliest' })
  t.equal(created.statusCode, 200)
  t.match(created.headers['content-type'], /application\/vnd\.kafka\.v2\+json/)
  const body = created.json()
  t.equal(body.instance_id, 'w1')
  t.match(body.base_uri, new RegExp(`^http://[^/]+/api/v3/${alice.ns}/consumers/${group}/instances/w1$`))
  const path = `${alice.ns}/consumers/${group}/instances/w1`

  t.equal((await alice.req('POST', `${path}/subscription`, { topics: [topic] })).statusCode, 204)
  t.same((await alice.req('GET', `${path}/subscription`)).json(), { topics: [topic] })

  await prod.send({ topic: `${alice.ns}.${topic}`, messages: [0, 1, 2, 3, 4].map(i => ({ key: `k${i}`, value: `v${i}`, partition: i % 2, headers: i === 0 ? { h: 'x' } : {} })) })
  const records = await readAll(alice, path, 5)
  t.equal(records.length, 5)
  t.same(records.map(r => unb64(r.value)).sort(), ['v0', 'v1', 'v2', 'v3', 'v4'])
  t.ok(records.every(r => r.topic === topic), 'records carry the user topic name')
  const withHeader = records.find(r => unb64(r.value) === 'v0') as Record<string, unknown>
  t.same(withHeader.headers, [{ name: 'h', value: b64('x') }])
  t.same((records.find(r => unb64(r.value) === 'v1') as Record<string, unknown>).headers, [], 'headers always present: [] when none')
  t.ok(records.every(r => typeof r.timestamp === 'number'))

  const assignment = (await alice.req('GET', `${path}/assignments`)).json()
  t.same(assignment, { partitions: [{ topic, partition: 0 }, { topic, partition: 1 }] })

  const commit = await alice.req('POST', `${path}/offsets`)
  t.equal(commit.statusCode, 200)
  t.same(commit.json(), [])
  const committed = await alice.req('GET', `${path}/offsets`, { partitions: [{ topic, partition: 0 }, { topic, partition: 1 }] })
  t.equal(committed.statusCode, 200)
  t.same(committed.json(), { offsets: [{ topic, partition: 0, offset: 3, metadata: '' }, { topic, partition: 1, offset: 2, metadata: '' }] })

  const noBody = await alice.req('GET', `${path}/offsets`)
  t.equal(noBody.statusCode, 404)
  t.equal(noBody.json().error_code, 40402)

  t.equal((await alice.req('DELETE', path)).statusCode, 204)
  const gone = await alice.req('GET', `${path}/subscription`)
  t.equal(gone.statusCode, 404)
  t.equal(gone.json().error_code, 40403)
})

t.test('explicit commit uses the +1 rule; resume from the committed offset after recreate', async t => {
  const topic = await alice.topic(1)
  const group = shortName('g')
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) })
  let path = await alice.subscriber(group, [topic])
  const first = await readAll(alice, path, 10)
  t.equal(first.length, 10)
  const c = await alice.req('POST', `${path}/offsets`, { offsets: [{ topic, partition: 0, offset: 5 }] })
  t.equal(c.statusCode, 200)
  const committed = (await alice.req('GET', `${path}/offsets`, { partitions: [{ topic, partition: 0 }] })).json()
  t.same(committed.offsets, [{ topic, partition: 0, offset: 6, metadata: '' }])
  t.equal((await alice.req('DELETE', path)).statusCode, 204)

  path = await alice.subscriber(group, [topic])
  const again = await readAll(alice, path, 4)
  t.same(again.map(r => r.offset), [6, 7, 8, 9], 'resumes exactly after the committed record, nothing lost or repeated')
  await alice.req('DELETE', path)
})

t.test('max_bytes: commit-all after a limited read commits only what was delivered; a huge record still comes', async t => {
  const topic = await alice.topic(1)
  const group = shortName('g')
  const path = await alice.subscriber(group, [topic])
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: [{ value: 'a'.repeat(100) }, { value: 'b'.repeat(100) }, { value: 'c'.repeat(5000) }] })
  // Wait until all three are buffered, then read one at a time.
  let got: Array<Record<string, unknown>> = []
  for (let i = 0; i < 40 && got.length === 0; i++) {
    const res = await alice.req('GET', `${path}/records?timeout=1000&max_bytes=150`, undefined, { accept: BINARY })
    got = res.json()
  }
  t.equal(got.length, 1, 'max_bytes 150 allows one 100-byte record')
  t.equal(got[0]?.offset, 0)
  t.equal((await alice.req('POST', `${path}/offsets`)).statusCode, 200)
  const committed = (await alice.req('GET', `${path}/offsets`, { partitions: [{ topic, partition: 0 }] })).json()
  t.same(committed.offsets[0].offset, 1, 'commit-all commits after the delivered record only, not the prefetched ones')
  const next = await readAll(alice, path, 1, { maxBytes: 150 })
  t.equal(next[0]?.offset, 1)
  const huge = await readAll(alice, path, 1, { maxBytes: 10 })
  t.equal(huge.length, 1, 'a record larger than max_bytes is still delivered')
  t.equal(unb64(huge[0]?.value).length, 5000)
  await alice.req('DELETE', path)
})

t.test('json format: embedded values, undecodable record named, Accept checks', async t => {
  const topic = await alice.topic(1)
  const path = await alice.consumer(shortName('g'), { format: 'json', 'auto.offset.reset': 'earliest' })
  await alice.req('POST', `${path}/subscription`, { topics: [topic] })
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: [{ key: '"k"', value: JSON.stringify({ qty: 3 }) }, { value: Buffer.from([0x7b, 0xff, 0x7d]) }] })
  const recs = await readAll(alice, path, 1, { accept: JSONV2 })
  t.same(recs[0]?.value, { qty: 3 })
  t.equal(recs[0]?.key, 'k')
  // Text that is not JSON comes back as a string (Diaspora 0.7): only bytes that are not UTF-8 fail the read.
  let bad = await alice.req('GET', `${path}/records?timeout=2000`, undefined, { accept: JSONV2 })
  for (let i = 0; i < 10 && bad.statusCode === 200; i++) bad = await alice.req('GET', `${path}/records?timeout=1000`, undefined, { accept: JSONV2 })
  t.equal(bad.statusCode, 422)
  t.equal(bad.json().error_code, 42203)
  t.match(bad.json().message, new RegExp(`${topic}/0@1`))
  const mismatch = await alice.req('GET', `${path}/records`, undefined, { accept: BINARY })
  t.equal(mismatch.statusCode, 406)
  t.equal(mismatch.json().error_code, 40601)
  const any = await alice.req('POST', `${path}/positions`, { offsets: [{ topic, partition: 0, offset: 2 }] })
  t.equal(any.statusCode, 204, 'seeking past the bad record unblocks the instance')
  const after = await alice.req('GET', `${path}/records?timeout=300`, undefined, { accept: '*/*' })
  t.equal(after.statusCode, 200)
  t.match(after.headers['content-type'], /vnd\.kafka\.json\.v2\+json/)
  await alice.req('DELETE', path)
})

t.test('long poll returns early on new data and waits out the timeout when none comes', async t => {
  const topic = await alice.topic(1)
  const path = await alice.subscriber(shortName('g'), [topic])
  t.equal(await awaitPartitions(alice, path, 1), 1, 'joined the group')
  const empty = await alice.req('GET', `${path}/records?timeout=300`, undefined, { accept: BINARY })
  t.equal(empty.statusCode, 200)
  t.same(empty.json(), [], 'no data: an empty list once the timeout ends')
  const pending = alice.req('GET', `${path}/records?timeout=20000`, undefined, { accept: BINARY })
  await new Promise(resolve => setTimeout(resolve, 300))
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: [{ value: 'wake' }] })
  const res = await pending
  t.equal(res.statusCode, 200)
  t.same(res.json().map((r: { value: string }) => unb64(r.value)), ['wake'], 'the waiting read returns the new record')
  await alice.req('DELETE', path)
})

t.test('manual assignment, seek to offset / beginning / end, conflicts', async t => {
  const topic = await alice.topic(2)
  const group = shortName('g')
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: Array.from({ length: 10 }, (_, i) => ({ value: `p0-${i}`, partition: 0 })) })
  const path = await alice.consumer(group, { 'auto.offset.reset': 'earliest' })
  const notHeld = await alice.req('POST', `${path}/positions`, { offsets: [{ topic, partition: 0, offset: 3 }] })
  t.equal(notHeld.statusCode, 409)
  t.equal(notHeld.json().error_code, 40903)
  t.equal((await alice.req('POST', `${path}/assignments`, { partitions: [{ topic, partition: 0 }] })).statusCode, 204)
  t.same((await alice.req('GET', `${path}/assignments`)).json(), { partitions: [{ topic, partition: 0 }] })
  t.same((await alice.req('GET', `${path}/subscription`)).json(), { topics: [] })
  const sub = await alice.req('POST', `${path}/subscription`, { topics: [topic] })
  t.equal(sub.statusCode, 409)
  t.equal(sub.json().error_code, 40903)

  const first = await readAll(alice, path, 10)
  t.same(first.map(r => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'assigned partition read from auto.offset.reset')

  t.equal((await alice.req('POST', `${path}/positions`, { offsets: [{ topic, partition: 0, offset: 3 }] })).statusCode, 204)
  const fromThree = await readAll(alice, path, 7)
  t.same(fromThree.map(r => r.offset), [3, 4, 5, 6, 7, 8, 9], 'seek: the next read starts exactly there')

  t.equal((await alice.req('POST', `${path}/positions/beginning`, { partitions: [{ topic, partition: 0 }] })).statusCode, 204)
  const fromStart = await readAll(alice, path, 1)
  t.equal(fromStart[0]?.offset, 0)

  t.equal((await alice.req('POST', `${path}/positions/end`, { partitions: [{ topic, partition: 0 }] })).statusCode, 204)
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: [{ value: 'tail', partition: 0 }] })
  const tail = await readAll(alice, path, 1)
  t.same(tail.map(r => [r.offset, unb64(r.value)]), [[10, 'tail']])

  const commit = await alice.req('POST', `${path}/offsets`, { offsets: [{ topic, partition: 0, offset: 10 }] })
  t.equal(commit.statusCode, 200, 'manual assignment commits into the real group')
  const committed = (await alice.req('GET', `${path}/offsets`, { partitions: [{ topic, partition: 0 }] })).json()
  t.same(committed.offsets, [{ topic, partition: 0, offset: 11, metadata: '' }])

  const unknownPartition = await alice.req('POST', `${path}/assignments`, { partitions: [{ topic, partition: 7 }] })
  t.equal(unknownPartition.statusCode, 404)
  t.equal(unknownPartition.json().error_code, 40402)
  const unknownTopic = await alice.req('POST', `${path}/assignments`, { partitions: [{ topic: 'nosuchtopic', partition: 0 }] })
  t.equal(unknownTopic.statusCode, 404)
  t.equal(unknownTopic.json().error_code, 40401)
  t.equal((await alice.req('DELETE', `${path}/subscription`)).statusCode, 204)
  t.same((await alice.req('GET', `${path}/assignments`)).json(), { partitions: [] })
  await alice.req('DELETE', path)
})

t.test('pattern subscription sees a topic created later and never another namespace', async t => {
  const prefix = shortName('p').slice(0, 8)
  const first = `${prefix}-a`
  await alice.req('POST', `${alice.ns}/${first}`, {}, { 'content-type': 'application/json' })
  const bobTopic = `${prefix}-a`
  await bob.req('POST', `${bob.ns}/${bobTopic}`, {}, { 'content-type': 'application/json' })
  const path = await alice.consumer(shortName('g'), { 'auto.offset.reset': 'earliest' })
  const res = await alice.req('POST', `${path}/subscription`, { topic_pattern: `${prefix}-.*|.*` })
  t.equal(res.statusCode, 204)
  await prod.send({ topic: `${bob.ns}.${bobTopic}`, messages: [{ value: 'bob-secret' }] })
  await prod.send({ topic: `${alice.ns}.${first}`, messages: [{ value: 'alice-1' }] })
  const later = `${prefix}-b`
  t.equal((await alice.req('POST', `${alice.ns}/${later}`, {}, { 'content-type': 'application/json' })).statusCode < 300, true)
  await prod.send({ topic: `${alice.ns}.${later}`, messages: [{ value: 'alice-2' }] })
  // The pattern (with its hostile `|.*`) matches every topic of alice's namespace, and only those.
  const recs: Array<Record<string, unknown>> = []
  for (let i = 0; i < 40 && !(recs.some(r => unb64(r.value) === 'alice-1') && recs.some(r => unb64(r.value) === 'alice-2')); i++) {
    recs.push(...await readAll(alice, path, 1, { attempts: 1 }))
  }
  t.ok(recs.some(r => unb64(r.value) === 'alice-1'))
  t.ok(recs.some(r => unb64(r.value) === 'alice-2'), 'a topic created after subscribing is picked up')
  t.notOk(recs.some(r => unb64(r.value) === 'bob-secret'), 'nothing from another namespace')
  const subscription = (await alice.req('GET', `${path}/subscription`)).json().topics as string[]
  t.ok(subscription.includes(first) && subscription.includes(later))
  t.ok(subscription.every(s => !s.includes('.')), 'user names only')
  const both = await alice.req('POST', `${path}/subscription`, { topics: [first], topic_pattern: 'x' })
  t.equal(both.statusCode, 409)
  const neither = await alice.req('POST', `${path}/subscription`, {})
  t.equal(neither.statusCode, 422)
  t.equal(neither.json().error_code, 42204)
  await alice.req('DELETE', path)
})

t.test('records compressed by the Java producer (snappy, lz4, zstd, gzip) are delivered', async t => {
  const topic = await alice.topic(1)
  const path = await alice.subscriber(shortName('g'), [topic])
  for (const compression of ['snappy', 'lz4', 'zstd', 'gzip'] as const) {
    await produceWithJava({ brokers: brokers(), topic: `${alice.ns}.${topic}`, compression, records: [{ key: compression, value: `${compression}-value-${'z'.repeat(200)}` }] })
  }
  const recs = await readAll(alice, path, 4)
  t.same(recs.map(r => unb64(r.key)).sort(), ['gzip', 'lz4', 'snappy', 'zstd'])
  t.ok(recs.every(r => unb64(r.value).startsWith(`${unb64(r.key)}-value-`)))
  await alice.req('DELETE', path)
})

t.test('two instances in one group share partitions through a rebalance', async t => {
  const topic = await alice.topic(2)
  const group = shortName('g')
  const a = await alice.subscriber(group, [topic])
  t.equal(await awaitPartitions(alice, a, 2), 2, 'a lone member holds both partitions')
  const b = await alice.subscriber(group, [topic])
  let pa = 0
  let pb = 0
  for (let i = 0; i < 30 && !(pa === 1 && pb === 1); i++) {
    await Promise.all([alice.req('GET', `${a}/records?timeout=300`, undefined, { accept: BINARY }), alice.req('GET', `${b}/records?timeout=300`, undefined, { accept: BINARY })])
    pa = (await alice.req('GET', `${a}/assignments`)).json().partitions.length
    pb = (await alice.req('GET', `${b}/assignments`)).json().partitions.length
  }
  t.equal(pa, 1)
  t.equal(pb, 1)
  await alice.req('DELETE', b)
  await alice.req('DELETE', a)
})

t.test('instance errors: names, formats, configs, duplicates, foreign subjects and namespaces', async t => {
  const group = shortName('g')
  const cases: Array<[Record<string, unknown> | string, number, number]> = [
    [{ format: 'avro' }, 422, 42204],
    [{ format: 'xml' }, 422, 422],
    [{ 'auto.offset.reset': 'sometimes' }, 422, 42204],
    [{ 'auto.commit.enable': 'maybe' }, 422, 42204],
    [{ 'fetch.min.bytes': -5 }, 422, 40001],
    [{ unknown: 1 }, 422, 422],
    [{ 'fetch.min.bytes': 'abc' }, 400, 400],
    ['{"name":', 400, 400]
  ]
  for (const [body, status, code] of cases) {
    const res = await alice.req('POST', `${alice.ns}/consumers/${group}`, body)
    t.equal(res.statusCode, status, JSON.stringify(body))
    t.equal(res.json().error_code, code, JSON.stringify(body))
  }
  const noBody = await alice.req('POST', `${alice.ns}/consumers/${group}`)
  t.equal(noBody.statusCode, 200, 'no body: defaults')
  const path = `${alice.ns}/consumers/${group}/instances/dup`
  t.equal((await alice.req('POST', `${alice.ns}/consumers/${group}`, { name: 'dup' })).statusCode, 200)
  const dup = await alice.req('POST', `${alice.ns}/consumers/${group}`, { name: 'dup' })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().error_code, 40902)
  const foreign = await bob.req('GET', `${path.replace(alice.ns, bob.ns)}/subscription`)
  t.equal(foreign.statusCode, 404)
  const otherNs = await bob.req('GET', `${path}/subscription`)
  t.equal(otherNs.statusCode, 404, 'someone else\'s namespace is not found')
  t.equal(otherNs.json().error_code, 40401)
  const badGroup = await alice.req('POST', `${alice.ns}/consumers/bad%2Fgroup`, {})
  t.equal(badGroup.statusCode, 422)
  const wrongType = await alice.req('POST', `${path}/subscription`, { topics: 'a' })
  t.equal(wrongType.statusCode, 400)
  const media = await alice.req('POST', `${path}/subscription`, 'topics=a', { 'content-type': 'text/plain' })
  t.equal(media.statusCode, 415)
  t.equal(media.json().error_code, 415)
  const notSubscribed = await alice.req('GET', `${path}/records?timeout=10`, undefined, { accept: BINARY })
  t.equal(notSubscribed.statusCode, 409)
  t.equal(notSubscribed.json().error_code, 40903)
  const badTimeout = await alice.req('GET', `${path}/records?timeout=abc`, undefined, { accept: BINARY })
  t.equal(badTimeout.statusCode, 400)
  const negOffset = await alice.req('POST', `${path}/offsets`, { offsets: [{ topic: 'abc', partition: 0, offset: -1 }] })
  t.equal(negOffset.statusCode, 422)
  const missing = await alice.req('POST', `${path}/assignments`)
  t.equal(missing.statusCode, 422)
  t.match(missing.headers['content-type'], /^application\/vnd\.kafka\.v2\+json/)
  await alice.req('DELETE', path)
})

t.test('quota and idle expiry', async t => {
  const local = await build(t, { env: { CONSUMER_MAX_INSTANCES_PER_SUBJECT: '2', CONSUMER_INSTANCE_TIMEOUT_MS: '1500' } })
  const carol = await apiUser(local.app, local.globus)
  const group = shortName('g')
  const p1 = await carol.consumer(group)
  await carol.consumer(group)
  const third = await carol.req('POST', `${carol.ns}/consumers/${group}`, {})
  t.equal(third.statusCode, 429)
  t.equal(third.json().error_code, 42901)
  await new Promise(resolve => setTimeout(resolve, 2500))
  const expired = await carol.req('GET', `${p1}/subscription`)
  t.equal(expired.statusCode, 404)
  t.equal(expired.json().error_code, 40403)
  t.match(expired.json().message, /expired/)
  t.equal((await carol.req('POST', `${carol.ns}/consumers/${group}`, {})).statusCode, 200, 'expired instances free the quota')
})

t.test('an expired instance leaves its group and its partitions go to the remaining member', async t => {
  const local = await build(t, { env: { CONSUMER_INSTANCE_TIMEOUT_MS: '2500' } })
  const dave = await apiUser(local.app, local.globus)
  const topic = await dave.topic(2)
  const group = shortName('g')
  const a = await dave.subscriber(group, [topic])
  t.equal(await awaitPartitions(dave, a, 2), 2)
  const b = await dave.subscriber(group, [topic])
  let split = false
  for (let i = 0; i < 30 && !split; i++) {
    const [ha, hb] = await Promise.all([awaitPartitions(dave, a, 1, 1), awaitPartitions(dave, b, 1, 1)])
    split = ha === 1 && hb === 1
  }
  t.ok(split, 'the two members share the partitions')
  // Only b is used from now on; a expires, is closed and leaves the group.
  t.equal(await awaitPartitions(dave, b, 2, 60), 2, 'b holds both partitions after a expired')
  const gone = await dave.req('GET', `${a}/assignments`)
  t.equal(gone.statusCode, 404)
  t.match(gone.json().message, /expired/)
})
