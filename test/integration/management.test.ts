/**
 * Management endpoints (user, namespace, topic) through the whole app against the real broker and the
 * Globus stand-in, with two users. Kafka failures are injected into one call of the app's real admin client.
 */
import t, { type Test } from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Admin } from 'kafkajs'
import { build } from '../helpers/app.js'
import { testKafka } from '../helpers/broker.js'
import type { GlobusStandIn } from '../helpers/globus.js'

interface User {
  subject: string
  ns: string
  req (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<LightMyRequestResponse>
}

function rand (prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`
}

/** A user with a fresh subject; its Kafka topics are deleted when the test ends. */
function user (t: Test, app: FastifyInstance, globus: GlobusStandIn, admin: Admin): User {
  const subject = randomUUID()
  const token = globus.userToken(subject)
  const ns = `ns-${subject.replace(/-/g, '').slice(-12)}`
  const u: User = {
    subject,
    ns,
    req: (method, path, body) => app.inject({
      method,
      url: `/api/v3/${path}`,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' })
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) })
    })
  }
  t.teardown(() => dropPrefix(admin, `${ns}.`))
  return u
}

async function dropPrefix (admin: Admin, prefix: string): Promise<void> {
  const mine = (await admin.listTopics()).filter(name => name.startsWith(prefix))
  if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => {})
}

async function kafkaHas (admin: Admin, topic: string): Promise<boolean> {
  return (await admin.listTopics()).includes(topic)
}

function failure (t: Test, res: LightMyRequestResponse, status: number, code: string): { message: string } {
  t.equal(res.statusCode, status, `${status} ${code}: ${res.body}`)
  const body = res.json() as { status: string, code: string, message: string, reason: string }
  t.equal(body.status, 'failure')
  t.equal(body.code, code)
  t.equal(body.reason, body.message)
  t.match(res.headers['content-type'], /application\/json/)
  return body
}

const { app, globus } = await build(t)
const admin = testKafka().admin()
await admin.connect()
t.teardown(() => admin.disconnect())

t.test('POST /user creates the default namespace, idempotently', async t => {
  const alice = user(t, app, globus, admin)
  const first = await alice.req('POST', 'user')
  t.equal(first.statusCode, 201)
  t.same(first.json(), {
    status: 'success',
    message: `User ${alice.subject} created with namespace ${alice.ns}`,
    subject: alice.subject,
    namespace: alice.ns
  })
  const again = await alice.req('POST', 'user')
  t.equal(again.statusCode, 200)
  t.equal(again.json().namespace, alice.ns)
  t.equal(again.json().status, 'success')
})

t.test('without a valid token the management shape answers 401', async t => {
  const res = await app.inject({ method: 'GET', url: '/api/v3/namespace' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().status, 'failure')
})

t.test('GET /namespace lists only the caller\'s namespaces and topics', async t => {
  const alice = user(t, app, globus, admin)
  const bob = user(t, app, globus, admin)
  const empty = await alice.req('GET', 'namespace')
  t.equal(empty.statusCode, 200)
  t.same(empty.json(), { status: 'success', message: `Found 0 namespaces for ${alice.subject}`, namespaces: {} })
  await alice.req('POST', 'user')
  await bob.req('POST', 'user')
  t.equal((await alice.req('POST', `${alice.ns}/zeta`)).statusCode, 201)
  t.equal((await alice.req('POST', `${alice.ns}/alpha`)).statusCode, 201)
  const list = await alice.req('GET', 'namespace')
  t.same(list.json(), { status: 'success', message: `Found 1 namespaces for ${alice.subject}`, namespaces: { [alice.ns]: ['alpha', 'zeta'] } })
  t.same((await bob.req('GET', 'namespace')).json().namespaces, { [bob.ns]: [] })
})

t.test('POST /{namespace}/{topic}: created in Kafka as ns.topic with the requested settings', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const topic = rand('t')
  const res = await alice.req('POST', `${alice.ns}/${topic}`, { num_partitions: 3, replication_factor: 1, configs: { 'retention.ms': 3_600_000, 'cleanup.policy': 'delete' } })
  t.equal(res.statusCode, 201)
  t.same(res.json(), {
    status: 'success',
    message: `Topic ${topic} created in ${alice.ns}`,
    topic,
    settings: { num_partitions: 3, replication_factor: 1, configs: { 'cleanup.policy': 'delete', 'retention.ms': '3600000' } },
    topics: [topic]
  })
  const meta = await admin.fetchTopicMetadata({ topics: [`${alice.ns}.${topic}`] })
  t.equal(meta.topics[0]?.partitions.length, 3)
  const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: `${alice.ns}.${topic}`, configNames: ['retention.ms', 'cleanup.policy'] }] })
  const entries = Object.fromEntries(
    (configs.resources[0]?.configEntries ?? []).map(e => [e.configName, e.configValue])
  )
  t.same(entries, { 'retention.ms': '3600000', 'cleanup.policy': 'delete' })

  const repeat = await alice.req('POST', `${alice.ns}/${topic}`)
  t.equal(repeat.statusCode, 200, 'idempotent without a body')
  t.equal(repeat.json().message, `Topic ${topic} already exists in ${alice.ns}`)
  t.equal(repeat.json().settings.num_partitions, 3)
  t.equal((await alice.req('POST', `${alice.ns}/${topic}`, { num_partitions: 3 })).statusCode, 200, 'idempotent with the same settings')
  const other = failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { num_partitions: 4 }), 409, 'TOPIC_SETTINGS_CONFLICT')
  t.match(other.message, /num_partitions is 3/)
})

t.test('POST /{namespace}/{topic}: defaults without a body', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const topic = rand('t')
  const res = await alice.req('POST', `${alice.ns}/${topic}`)
  t.equal(res.statusCode, 201)
  t.same(res.json().settings, { num_partitions: 1, replication_factor: 1, configs: { 'retention.ms': String(7 * 24 * 3600 * 1000) } })
  t.ok(await kafkaHas(admin, `${alice.ns}.${topic}`))
})

t.test('bad names and settings beyond the limits are 422 and create nothing', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const badTopic = failure(t, await alice.req('POST', `${alice.ns}/_bad`), 422, 'INVALID_NAME')
  t.match(badTopic.message, /Invalid topic name: must be 3–32 letters, digits, - or _/)
  failure(t, await alice.req('POST', `${alice.ns}/ab`), 422, 'INVALID_NAME')
  failure(t, await alice.req('POST', `${alice.ns}/${'x'.repeat(33)}`), 422, 'INVALID_NAME')
  failure(t, await alice.req('POST', `${alice.ns}/a.b`), 422, 'INVALID_NAME')
  const badNs = failure(t, await alice.req('POST', 'a%2Eb/topic'), 422, 'INVALID_NAME')
  t.match(badNs.message, /Invalid namespace name/)
  failure(t, await alice.req('DELETE', `${alice.ns}/-x-`), 422, 'INVALID_NAME')
  failure(t, await alice.req('PUT', `${alice.ns}/-x-/recreate`), 422, 'INVALID_NAME')

  const topic = rand('t')
  const rf = failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { replication_factor: 2 }), 422, 'INVALID_TOPIC_SETTINGS')
  t.match(rf.message, /replication_factor 2 exceeds the number of brokers in the cluster \(1\)/)
  failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { num_partitions: 65 }), 422, 'INVALID_TOPIC_SETTINGS')
  failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { configs: { 'retention.ms': 7 * 24 * 3600 * 1000 + 1 } }), 422, 'INVALID_TOPIC_SETTINGS')
  failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { configs: { 'segment.bytes': 1024 } }), 422, 'INVALID_TOPIC_SETTINGS')
  failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { configs: { 'cleanup.policy': 'compact' } }), 422, 'INVALID_TOPIC_SETTINGS')
  const unknown = failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { partitions: 2 }), 422, 'UNPROCESSABLE_ENTITY')
  t.match(unknown.message, /Unrecognized field: partitions/)
  failure(t, await alice.req('POST', `${alice.ns}/${topic}`, { num_partitions: 0 }), 422, 'UNPROCESSABLE_ENTITY')
  t.notOk(await kafkaHas(admin, `${alice.ns}.${topic}`))
  t.same((await alice.req('GET', 'namespace')).json().namespaces, { [alice.ns]: [] })
})

t.test('a foreign namespace is a 404 that reads exactly like an unknown one', async t => {
  const alice = user(t, app, globus, admin)
  const bob = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  await bob.req('POST', 'user')
  const topic = rand('t')
  t.equal((await alice.req('POST', `${alice.ns}/${topic}`)).statusCode, 201)
  const unknownNs = `ns-${randomBytes(6).toString('hex')}`
  const cases: Array<['POST' | 'DELETE' | 'PUT', string]> = [['POST', rand('t')], ['DELETE', topic], ['PUT', `${topic}/recreate`]]
  for (const [method, rest] of cases) {
    const foreign = failure(t, await bob.req(method, `${alice.ns}/${rest}`), 404, 'NAMESPACE_NOT_FOUND')
    const unknown = failure(t, await bob.req(method, `${unknownNs}/${rest}`), 404, 'NAMESPACE_NOT_FOUND')
    t.equal(foreign.message.replace(alice.ns, 'NS'), unknown.message.replace(unknownNs, 'NS'), `${method}: no hint`)
    t.notMatch(foreign.message, alice.subject)
  }
  t.ok(await kafkaHas(admin, `${alice.ns}.${topic}`), 'bob\'s DELETE did not touch alice\'s topic')
  t.same((await alice.req('GET', 'namespace')).json().namespaces, { [alice.ns]: [topic] })
  failure(t, await bob.req('DELETE', `namespace/${alice.ns}`), 404, 'NAMESPACE_NOT_FOUND')
})

t.test('DELETE /{namespace}/{topic}: gone from Kafka and metadata; idempotent', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const keep = rand('t')
  const topic = rand('t')
  await alice.req('POST', `${alice.ns}/${keep}`)
  await alice.req('POST', `${alice.ns}/${topic}`)
  const res = await alice.req('DELETE', `${alice.ns}/${topic}`)
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'success', message: `Topic ${topic} deleted from ${alice.ns}`, topic, topics: [keep] })
  t.notOk(await kafkaHas(admin, `${alice.ns}.${topic}`))
  const again = await alice.req('DELETE', `${alice.ns}/${topic}`)
  t.equal(again.statusCode, 200)
  t.equal(again.json().message, `Topic ${topic} not found in ${alice.ns}`)
  t.equal((await alice.req('POST', `${alice.ns}/${topic}`)).statusCode, 201, 'the name can be created again at once')
})

t.test('PUT /{namespace}/{topic}/recreate drops the records and keeps the settings', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const topic = rand('t')
  const kafkaName = `${alice.ns}.${topic}`
  await alice.req('POST', `${alice.ns}/${topic}`, { num_partitions: 2, configs: { 'retention.ms': 600000 } })
  const producer = testKafka().producer()
  await producer.connect()
  await producer.send({ topic: kafkaName, messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }] })
  await producer.disconnect()
  const before = await admin.fetchTopicOffsets(kafkaName)
  t.same(before.map(p => p.high).sort(), ['1', '1'])

  const res = await alice.req('PUT', `${alice.ns}/${topic}/recreate`)
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    status: 'success',
    message: `Topic ${topic} recreated in ${alice.ns}`,
    topic,
    settings: { num_partitions: 2, replication_factor: 1, configs: { 'retention.ms': '600000' } }
  })
  const after = await admin.fetchTopicOffsets(kafkaName)
  t.same(after.map(p => p.high), ['0', '0'], 'empty, still two partitions')
  t.same((await alice.req('GET', 'namespace')).json().namespaces, { [alice.ns]: [topic] })

  const missing = failure(t, await alice.req('PUT', `${alice.ns}/${rand('t')}/recreate`), 404, 'TOPIC_NOT_FOUND')
  t.match(missing.message, /not found in/)
})

t.test('additional namespaces: claim, conflicts, release', async t => {
  const alice = user(t, app, globus, admin)
  const bob = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  await bob.req('POST', 'user')
  const extra = rand('p')
  t.teardown(() => dropPrefix(admin, `${extra}.`))

  const claimed = await alice.req('POST', `namespace/${extra}`)
  t.equal(claimed.statusCode, 201)
  t.same(claimed.json(), { status: 'success', message: `Namespace ${extra} created for ${alice.subject}`, namespace: extra, namespaces: [alice.ns, extra].sort() })
  t.equal((await alice.req('POST', `namespace/${extra}`)).statusCode, 200)
  t.equal((await alice.req('POST', 'namespace', { namespace: extra })).statusCode, 200, 'the legacy body form')
  failure(t, await bob.req('POST', `namespace/${extra}`), 409, 'NAMESPACE_TAKEN')
  failure(t, await bob.req('POST', 'namespace', { namespace: extra }), 409, 'NAMESPACE_TAKEN')
  failure(t, await bob.req('POST', `namespace/${alice.ns}`), 409, 'NAMESPACE_RESERVED')
  failure(t, await bob.req('POST', 'namespace/namespace'), 422, 'INVALID_NAME')
  failure(t, await bob.req('POST', 'namespace/-bad'), 422, 'INVALID_NAME')
  failure(t, await bob.req('POST', 'namespace', { namespace: 'a.b' }), 422, 'INVALID_NAME')

  const topic = rand('t')
  t.equal((await alice.req('POST', `${extra}/${topic}`)).statusCode, 201, 'topics work in the claimed namespace')
  t.ok(await kafkaHas(admin, `${extra}.${topic}`))
  failure(t, await bob.req('POST', `${extra}/${rand('t')}`), 404, 'NAMESPACE_NOT_FOUND')
  failure(t, await alice.req('DELETE', `namespace/${extra}`), 409, 'NAMESPACE_NOT_EMPTY')
  failure(t, await bob.req('DELETE', `namespace/${extra}`), 404, 'NAMESPACE_NOT_FOUND')
  t.equal((await alice.req('DELETE', `${extra}/${topic}`)).statusCode, 200)
  const released = await alice.req('DELETE', `namespace/${extra}`)
  t.equal(released.statusCode, 200)
  t.same(released.json().namespaces, [alice.ns])
  failure(t, await alice.req('DELETE', `namespace/${extra}`), 404, 'NAMESPACE_NOT_FOUND')
  t.equal((await bob.req('POST', 'namespace', { namespace: extra })).statusCode, 201, 'free for anyone again')
  t.equal((await bob.req('DELETE', 'namespace', { namespace: extra })).statusCode, 200, 'legacy body form of release')
})

t.test('DELETE /user: refused while other namespaces exist; then Kafka topics go first, then metadata', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const extra = rand('p')
  const topics = [rand('t'), rand('t')].sort()
  for (const topic of topics) t.equal((await alice.req('POST', `${alice.ns}/${topic}`)).statusCode, 201)
  await alice.req('POST', `namespace/${extra}`)
  const refused = failure(t, await alice.req('DELETE', 'user'), 409, 'USER_HAS_NAMESPACES')
  t.match(refused.message, /1 additional namespace/)
  t.ok(await kafkaHas(admin, `${alice.ns}.${topics[0]}`), 'nothing deleted')
  await alice.req('DELETE', `namespace/${extra}`)

  const res = await alice.req('DELETE', 'user')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'success', message: `User ${alice.subject} deleted`, subject: alice.subject, namespace: alice.ns, topics })
  for (const topic of topics) t.notOk(await kafkaHas(admin, `${alice.ns}.${topic}`))
  t.same((await alice.req('GET', 'namespace')).json().namespaces, {})
  const again = await alice.req('DELETE', 'user')
  t.equal(again.statusCode, 200, 'idempotent')
  t.equal((await alice.req('POST', 'user')).statusCode, 201, 'the user can start over')
})

t.test('concurrent creates and deletes of one topic end with Kafka and metadata agreeing', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const topic = rand('t')
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    alice.req(i % 2 === 0 ? 'POST' : 'DELETE', `${alice.ns}/${topic}`)))
  t.same(results.map(r => r.statusCode).filter(s => s >= 300), [], 'every request succeeded')
  const created = results.filter(r => r.statusCode === 201).length
  const deleted = results.filter(r => /deleted from/.test(r.json().message)).length
  const listed = ((await alice.req('GET', 'namespace')).json().namespaces[alice.ns] as string[]).includes(topic)
  const inKafka = await kafkaHas(admin, `${alice.ns}.${topic}`)
  t.equal(listed, inKafka, 'metadata and Kafka agree')
  t.ok(created >= 1, 'at least the first create created')
  // Serialized, every real create turns absent into present and every real delete the reverse.
  t.equal(created - deleted, inKafka ? 1 : 0, `${created} creates and ${deleted} deletes are consistent with the end state`)

  await alice.req('DELETE', `${alice.ns}/${topic}`)
  const creates = await Promise.all(Array.from({ length: 8 }, () => alice.req('POST', `${alice.ns}/${topic}`)))
  t.same(creates.map(r => r.statusCode).sort(), [200, 200, 200, 200, 200, 200, 200, 201], 'exactly one concurrent create created')
  t.ok(await kafkaHas(admin, `${alice.ns}.${topic}`))
})

t.test('concurrent claims of one namespace: exactly one user wins', async t => {
  const users = Array.from({ length: 4 }, () => user(t, app, globus, admin))
  const name = rand('p')
  const results = await Promise.all(users.map(u => u.req('POST', `namespace/${name}`)))
  t.same(results.map(r => r.statusCode).sort(), [201, 409, 409, 409])
  const winner = users[results.findIndex(r => r.statusCode === 201)] as User
  t.same(Object.keys((await winner.req('GET', 'namespace')).json().namespaces), [name])
  await winner.req('DELETE', `namespace/${name}`)
})

t.test('topic names Kafka would see as colliding are a 409 that names nothing foreign', async t => {
  const alice = user(t, app, globus, admin)
  const bob = user(t, app, globus, admin)
  const base = rand('c')
  t.teardown(() => dropPrefix(admin, `${base}_q.`))
  t.teardown(() => dropPrefix(admin, `${base}.`))
  t.equal((await alice.req('POST', `namespace/${base}_q`)).statusCode, 201)
  t.equal((await bob.req('POST', `namespace/${base}`)).statusCode, 201)
  t.equal((await alice.req('POST', `${base}_q/zzz`)).statusCode, 201)
  const res = failure(t, await bob.req('POST', `${base}/q_zzz`), 409, 'TOPIC_NAME_COLLISION')
  t.notMatch(res.message, `${base}_q`)
  t.same((await bob.req('GET', 'namespace')).json().namespaces, { [base]: [] })
  await alice.req('DELETE', `${base}_q/zzz`)
  await alice.req('DELETE', `namespace/${base}_q`)
  await bob.req('DELETE', `namespace/${base}`)
})

t.test('a Kafka failure in one real admin call (kafkajs, under the adapter) leaves no orphan and no dangling metadata', async t => {
  const alice = user(t, app, globus, admin)
  await alice.req('POST', 'user')
  const real = await app.kafka.clients.rawAdmin()

  t.test('createTopics fails: no metadata, no topic', async t => {
    const topic = rand('t')
    const original = real.createTopics
    let calls = 0
    real.createTopics = async () => {
      real.createTopics = original
      calls++
      throw Object.assign(new Error('This server does not host this topic-partition'), { name: 'KafkaJSProtocolError', type: 'UNKNOWN_SERVER_ERROR', retriable: false })
    }
    t.teardown(() => { real.createTopics = original })
    const res = await alice.req('POST', `${alice.ns}/${topic}`)
    t.equal(calls, 1, 'the injected call ran')
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'KAFKA_ERROR')
    t.notOk(await kafkaHas(admin, `${alice.ns}.${topic}`), 'no topic in Kafka')
    t.same((await alice.req('GET', 'namespace')).json().namespaces[alice.ns], [], 'no metadata')
    t.equal((await alice.req('POST', `${alice.ns}/${topic}`)).statusCode, 201, 'a retry works')
  })

  t.test('createTopics times out after the broker created the topic: kept, consistent', async t => {
    const topic = rand('t')
    const original = real.createTopics
    real.createTopics = async (args) => {
      real.createTopics = original
      await original.call(real, args)
      throw Object.assign(new Error('Request createTopics(key: 19, version: 3) timed out'), { name: 'KafkaJSRequestTimeoutError' })
    }
    t.teardown(() => { real.createTopics = original })
    const res = await alice.req('POST', `${alice.ns}/${topic}`)
    t.equal(res.statusCode, 201)
    t.ok(await kafkaHas(admin, `${alice.ns}.${topic}`))
    t.ok(((await alice.req('GET', 'namespace')).json().namespaces[alice.ns] as string[]).includes(topic))
  })

  t.test('deleteTopics fails: metadata kept, topic kept, 503', async t => {
    const topic = rand('t')
    t.equal((await alice.req('POST', `${alice.ns}/${topic}`)).statusCode, 201)
    const original = real.deleteTopics
    let calls = 0
    real.deleteTopics = async () => {
      real.deleteTopics = original
      calls++
      throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', code: 'ECONNREFUSED' })
    }
    t.teardown(() => { real.deleteTopics = original })
    const res = failure(t, await alice.req('DELETE', `${alice.ns}/${topic}`), 503, 'BROKER_UNAVAILABLE')
    t.match(res.message, /Broker not available/)
    t.equal(calls, 1)
    t.ok(await kafkaHas(admin, `${alice.ns}.${topic}`), 'topic kept')
    t.ok(((await alice.req('GET', 'namespace')).json().namespaces[alice.ns] as string[]).includes(topic), 'metadata kept')
    t.equal((await alice.req('DELETE', `${alice.ns}/${topic}`)).statusCode, 200, 'a retry deletes it')
    t.notOk(await kafkaHas(admin, `${alice.ns}.${topic}`))
  })

  t.test('the metadata write fails after the Kafka create: the Kafka topic is deleted again', async t => {
    const topic = rand('t')
    const store = app.namespaces.store
    const original = store.putTopic
    store.putTopic = async () => {
      store.putTopic = original
      const { MetadataStoreError } = await import('../../plugins/namespaces/store.js')
      throw new MetadataStoreError('ENOSPC: no space left on device')
    }
    t.teardown(() => { store.putTopic = original })
    failure(t, await alice.req('POST', `${alice.ns}/${topic}`), 503, 'METADATA_STORE_UNAVAILABLE')
    t.notOk(await kafkaHas(admin, `${alice.ns}.${topic}`), 'no orphan')
    t.notOk(((await alice.req('GET', 'namespace')).json().namespaces[alice.ns] as string[]).includes(topic))
  })

  t.test('recreate: the create after the delete fails: both sides agree the topic is gone', async t => {
    const topic = rand('t')
    t.equal((await alice.req('POST', `${alice.ns}/${topic}`)).statusCode, 201)
    const original = real.createTopics
    real.createTopics = async () => {
      real.createTopics = original
      throw Object.assign(new Error('broker failure'), { name: 'KafkaJSProtocolError', type: 'UNKNOWN_SERVER_ERROR', retriable: false })
    }
    t.teardown(() => { real.createTopics = original })
    const res = failure(t, await alice.req('PUT', `${alice.ns}/${topic}/recreate`), 500, 'KAFKA_ERROR')
    t.match(res.message, /was deleted but could not be created again/)
    t.notOk(await kafkaHas(admin, `${alice.ns}.${topic}`))
    t.notOk(((await alice.req('GET', 'namespace')).json().namespaces[alice.ns] as string[]).includes(topic))
  })
})

t.test('Kafka unreachable: topic routes answer 503, user and listing routes still work', async t => {
  const down = await build(t, { globus, env: { DEFAULT_SERVERS: '127.0.0.1:1', KAFKA_CONNECTION_TIMEOUT_MS: '200', KAFKA_REQUEST_TIMEOUT_MS: '500' } })
  const subject = randomUUID()
  const token = globus.userToken(subject)
  const ns = `ns-${subject.replace(/-/g, '').slice(-12)}`
  const req = (method: 'GET' | 'POST' | 'DELETE', url: string) => down.app.inject({ method, url: `/api/v3/${url}`, headers: { authorization: `Bearer ${token}` } })
  t.equal((await req('POST', 'user')).statusCode, 201)
  t.same((await req('GET', 'namespace')).json().namespaces, { [ns]: [] })
  const res = await req('POST', `${ns}/${rand('t')}`)
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'BROKER_UNAVAILABLE')
  t.equal((await req('DELETE', `${ns}/${rand('t')}`)).statusCode, 503)
  t.same((await req('GET', 'namespace')).json().namespaces, { [ns]: [] }, 'nothing recorded')
})

t.test('metadata survives a restart; a corrupt store stops the start', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'diaspora-restart-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'metadata.json')
  const subject = randomUUID()
  const token = globus.userToken(subject)
  const ns = `ns-${subject.replace(/-/g, '').slice(-12)}`
  t.teardown(() => dropPrefix(admin, `${ns}.`))
  const headers = { authorization: `Bearer ${token}` }
  const topic = rand('t')

  const first = await build(t, { globus, env: { METADATA_STORE: path } })
  t.equal((await first.app.inject({ method: 'POST', url: '/api/v3/user', headers })).statusCode, 201)
  t.equal((await first.app.inject({ method: 'POST', url: `/api/v3/${ns}/${topic}`, headers })).statusCode, 201)
  await first.app.close()

  const second = await build(t, { globus, env: { METADATA_STORE: path } })
  const list = await second.app.inject({ method: 'GET', url: '/api/v3/namespace', headers })
  t.same(list.json().namespaces, { [ns]: [topic] })
  t.equal((await second.app.inject({ method: 'POST', url: '/api/v3/user', headers })).statusCode, 200, 'still claimed')
  await second.app.close()

  const corrupt = join(dir, 'corrupt.json')
  writeFileSync(corrupt, '{"format": "diaspora-metadata", "version": 1, "namespaces": {"x": ')
  const err = await build(t, { globus, env: { METADATA_STORE: corrupt } }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof Error, 'the app does not start')
  t.match((err as Error).message, corrupt)
  t.match((err as Error).message, /corrupt/)
})
