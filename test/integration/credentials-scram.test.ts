/**
 * KAFKA_CREDENTIALS=scram against the real broker (its SASL listener with SCRAM-SHA-512 and the
 * StandardAuthorizer, broker/server.properties): a key from POST /api/v3/key lets a plain kafkajs client
 * produce and consume in the owner's namespaces and nowhere else; releases, key deletion and user deletion
 * take the access away. And KAFKA_CREDENTIALS=off answers 403 in the management shape.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { build, twoNodesOverDynamo } from '../helpers/app.js'
import { apiUser, type ApiUser } from '../helpers/api.js'
import { saslBrokers, testKafka } from '../helpers/broker.js'
import { kafkaErrorType } from '../../plugins/kafka/kafkajs/errors.js'
import { kafkajsAdmin } from '../../plugins/kafka/kafkajs/admin.js'
import { principalOf } from '../../plugins/credentials/acls.js'
import { recordSecret } from '../../scripts/log-leaks.js'

interface Key {
  access_key: string
  secret_key: string
  create_date: string
  endpoint: string
  fresh: boolean
  mechanism: string
  status: string
  message: string
}

const env = {
  KAFKA_CREDENTIALS: 'scram',
  KEYS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  KAFKA_CREDENTIALS_ENDPOINT: saslBrokers().join(',')
}

async function postKey (t: Test, user: ApiUser): Promise<Key> {
  const res = await user.req('POST', 'key')
  t.equal(res.statusCode, 200, `POST /key: ${res.body}`)
  t.equal(res.headers['cache-control'], 'no-store', 'no cache keeps the secret')
  const key = res.json() as Key
  recordSecret(key.secret_key)
  return key
}

/** A plain kafkajs client, as a user outside the service would make one with the key. */
function client (t: Test, key: Key, retries = 0): Kafka {
  const kafka = new Kafka({
    clientId: 'native-client',
    brokers: key.endpoint.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries, initialRetryTime: 100 },
    sasl: { mechanism: 'scram-sha-512', username: key.access_key, password: key.secret_key }
  })
  t.ok(key.mechanism === 'SCRAM-SHA-512')
  return kafka
}

async function produce (kafka: Kafka, topic: string, value: string): Promise<string> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } })
  try {
    await producer.connect()
    await producer.send({ topic, messages: [{ value }] })
    return 'ok'
  } catch (err) {
    return kafkaErrorType(err) ?? (err as Error).name
  } finally {
    await producer.disconnect().catch(() => {})
  }
}

/**
 * 'ok', or 'refused': the group's coordinator lookup is refused (kafkajs drops the GROUP_AUTHORIZATION_FAILED
 * of FindCoordinator and reports KafkaJSGroupCoordinatorNotFound) or its offsets are.
 */
async function groupOffsets (admin: Admin, groupId: string, topic: string): Promise<string> {
  try {
    await admin.fetchOffsets({ groupId, topics: [topic] })
    return 'ok'
  } catch (err) {
    const type = kafkaErrorType(err) ?? (err as Error).name
    return type === 'GROUP_AUTHORIZATION_FAILED' || type === 'KafkaJSGroupCoordinatorNotFound' ? 'refused' : type
  }
}

async function consumeOne (kafka: Kafka, groupId: string, topic: string): Promise<string> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 })
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    return await new Promise<string>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, e => reject(e.payload.error))
      consumer.run({ eachMessage: async ({ message }) => { resolve(String(message.value)) } }).catch(reject)
    })
  } finally {
    await consumer.disconnect().catch(() => {})
  }
}

async function loginWorks (key: Key): Promise<boolean> {
  const admin = new Kafka({ brokers: key.endpoint.split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 }, sasl: { mechanism: 'scram-sha-512', username: key.access_key, password: key.secret_key } }).admin()
  try {
    await admin.connect()
    return true
  } catch {
    return false
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

t.test('scram: a key reaches its owner\'s namespaces only, and follows claims, releases and deletion', async t => {
  const { app, globus } = await build(t, { env })
  const superAdmin = testKafka().admin()
  await superAdmin.connect()
  t.teardown(() => superAdmin.disconnect())
  const alice = await apiUser(app, globus)
  const bob = await apiUser(app, globus)
  t.teardown(async () => {
    await alice.req('DELETE', 'user')
    await bob.req('DELETE', 'user')
  })
  const aliceTopic = `${alice.ns}.${await alice.topic()}`
  const bobTopic = `${bob.ns}.${await bob.topic()}`

  const key = await postKey(t, alice)
  t.match(key, { status: 'success', access_key: alice.subject, fresh: true, mechanism: 'SCRAM-SHA-512', endpoint: saslBrokers().join(',') })
  t.ok(key.secret_key.length >= 32, 'a long random password')
  const again = await postKey(t, alice)
  t.same({ ...again, fresh: true, message: '' }, { ...key, message: '' }, 'the stored key comes back')
  t.equal(again.fresh, false)

  const kafka = client(t, key)
  t.equal(await produce(kafka, aliceTopic, 'hello'), 'ok', 'writes its own namespace')
  t.equal(await consumeOne(kafka, `${alice.ns}.readers`, aliceTopic), 'hello', 'reads it in a group of its namespace')
  t.equal(await produce(kafka, bobTopic, 'x'), 'TOPIC_AUTHORIZATION_FAILED', 'refused on another user\'s topic')
  const admin = client(t, key, 3).admin()
  await admin.connect()
  t.teardown(() => admin.disconnect().catch(() => {}))
  t.equal(await groupOffsets(admin, `${alice.ns}.readers`, aliceTopic), 'ok')
  t.equal(await groupOffsets(admin, `${bob.ns}.readers`, bobTopic), 'refused', 'refused on another user\'s group')
  t.equal(await groupOffsets(admin, 'no-namespace-group', aliceTopic), 'refused', 'and on groups outside its namespaces')
  await t.rejects(admin.createTopics({ topics: [{ topic: `${alice.ns}.direct` }] }), 'topics are made through the API only')

  // A claimed namespace is granted; a released one is withdrawn.
  const extra = `x${randomBytes(5).toString('hex')}`
  t.ok((await alice.req('POST', `namespace/${extra}`)).statusCode < 300)
  const extraTopic = 'events'
  t.ok((await alice.req('POST', `${extra}/${extraTopic}`)).statusCode < 300)
  t.equal(await produce(kafka, `${extra}.${extraTopic}`, 'x'), 'ok', 'a claimed namespace is granted')
  t.equal((await alice.req('DELETE', `${extra}/${extraTopic}`)).statusCode, 200)
  t.equal((await alice.req('DELETE', `namespace/${extra}`)).statusCode, 200)
  t.equal(await produce(kafka, `${extra}.${extraTopic}`, 'x'), 'TOPIC_AUTHORIZATION_FAILED', 'a released namespace is withdrawn')
  t.notOk((await kafkajsAdmin(superAdmin).aclsOf(principalOf(alice.subject))).some(a => a.resourceName.startsWith(`${extra}.`)))

  // A deleted key: no new login, and an open connection loses access.
  t.equal((await alice.req('DELETE', 'key')).statusCode, 200)
  t.equal(await groupOffsets(admin, `${alice.ns}.readers`, aliceTopic), 'refused', 'an open connection loses its grants')
  t.equal(await loginWorks(key), false, 'the credential is gone')
  t.same(await kafkajsAdmin(superAdmin).aclsOf(principalOf(alice.subject)), [])
  const del = await alice.req('DELETE', 'key')
  t.match(del.json(), { status: 'success', message: /no key/ }, 'idempotent')

  // A new key works again; deleting the user removes it all.
  const second = await postKey(t, alice)
  t.equal(second.fresh, true)
  t.not(second.secret_key, key.secret_key)
  t.equal(await loginWorks(second), true)
  t.equal(await produce(client(t, second), aliceTopic, 'again'), 'ok')
  await t.resolves(alice.req('DELETE', `${alice.ns}/${aliceTopic.split('.')[1]}`))
  t.equal((await alice.req('DELETE', 'user')).statusCode, 200)
  t.equal(await loginWorks(second), false, 'user deletion removes the SCRAM user')
  t.same(await kafkajsAdmin(superAdmin).aclsOf(principalOf(alice.subject)), [], 'and its ACLs')
  t.equal((await alice.req('DELETE', 'user')).statusCode, 200, 'idempotent')
})

t.test('scram: two POST /api/v3/key at once leave exactly one working key', async t => {
  const { app, globus } = await build(t, { env })
  const carol = await apiUser(app, globus)
  t.teardown(() => carol.req('DELETE', 'user'))
  const [a, b] = await Promise.all([postKey(t, carol), postKey(t, carol)])
  if (!a || !b) throw new Error('missing reply')
  t.equal(a.secret_key, b.secret_key, 'both got the same key')
  t.same([a.fresh, b.fresh].sort(), [false, true], 'one created it, the other got the stored one')
  t.equal(await loginWorks(a), true)
})

t.test('scram: two nodes over one DynamoDB store, two POST /api/v3/key at once: one key, working when returned', async t => {
  const { nodeA, nodeB } = await twoNodesOverDynamo(t, { ...env, AWS_REGION: 'us-east-1' })
  const erin = await apiUser(nodeA.app, nodeA.globus)
  t.teardown(() => erin.req('DELETE', 'user'))
  const topic = `${erin.ns}.${await erin.topic()}`
  const onB = () => nodeB.app.inject({ method: 'POST', url: '/api/v3/key', headers: { authorization: `Bearer ${erin.token}` } })
  for (let round = 0; round < 3; round++) {
    const [a, b] = await Promise.all([erin.req('POST', 'key'), onB()])
    t.equal(a.statusCode, 200, a.body)
    t.equal(b.statusCode, 200, b.body)
    const ka = a.json() as Key
    const kb = b.json() as Key
    recordSecret(ka.secret_key)
    recordSecret(kb.secret_key)
    t.same([ka.access_key, ka.secret_key], [kb.access_key, kb.secret_key], `round ${round}: both nodes answer the same key`)
    t.same([ka.fresh, kb.fresh].sort(), [false, true])
    t.equal(await produce(client(t, ka), topic, `round ${round}`), 'ok', 'the key works as soon as either reply is in')
    t.equal((await erin.req('DELETE', 'key')).statusCode, 200)
  }
})

t.test('scram: two nodes over one DynamoDB store, DELETE and POST /api/v3/key at once: the stored key works, a deleted one does not', async t => {
  const { nodeA, nodeB } = await twoNodesOverDynamo(t, { ...env, AWS_REGION: 'us-east-1' })
  const superAdmin = testKafka().admin()
  await superAdmin.connect()
  t.teardown(() => superAdmin.disconnect())
  const frank = await apiUser(nodeA.app, nodeA.globus)
  t.teardown(() => frank.req('DELETE', 'user'))
  const topic = `${frank.ns}.${await frank.topic()}`
  const on = (node: typeof nodeA, method: 'POST' | 'DELETE') =>
    node.app.inject({ method, url: '/api/v3/key', headers: { authorization: `Bearer ${frank.token}` } })
  for (let round = 0; round < 8; round++) {
    const before = await postKey(t, frank)
    // Every other round the record is gone but the credential is live, as a delete that failed midway leaves
    // it: the DELETE then clears the leftover while the POST creates the next key. And alternate which node
    // deletes; the other creates the next key meanwhile.
    if (round % 4 >= 2) await nodeA.app.namespaces.store.removeKey(frank.subject)
    const [deleter, creator] = round % 2 === 0 ? [nodeA, nodeB] : [nodeB, nodeA]
    const [del, post] = await Promise.all([on(deleter, 'DELETE'), on(creator, 'POST')])
    t.equal(del.statusCode, 200, del.body)
    t.equal(post.statusCode, 200, post.body)
    const posted = post.json() as Key
    recordSecret(posted.secret_key)
    const stored = await nodeA.app.namespaces.store.getKey(frank.subject)
    if (stored) {
      // The POST came last: its key is the stored one, and it works.
      const now = await postKey(t, frank)
      t.equal(now.fresh, false)
      t.equal(now.secret_key, posted.secret_key, `round ${round}: the stored key is the one the POST returned`)
      t.equal(await loginWorks(now), true, `round ${round}: the stored key logs in`)
      t.equal(await produce(client(t, now), topic, `round ${round}`), 'ok', 'and writes its namespace')
      if (now.secret_key !== before.secret_key) t.equal(await loginWorks(before), false, 'the deleted key does not')
      t.equal((await frank.req('DELETE', 'key')).statusCode, 200)
    } else {
      // The DELETE came last: no key works, no ACL is left.
      t.equal(await loginWorks(posted), false, `round ${round}: nothing stored, nothing logs in`)
      t.same(await kafkajsAdmin(superAdmin).aclsOf(principalOf(frank.subject)), [], 'and no ACL is left')
    }
  }
})

t.test('off: the key routes answer 403 in the management shape', async t => {
  const { app, globus } = await build(t)
  const dave = await apiUser(app, globus)
  t.teardown(() => dave.req('DELETE', 'user'))
  for (const method of ['POST', 'DELETE'] as const) {
    const res = await dave.req(method, 'key')
    t.equal(res.statusCode, 403)
    t.match(res.json(), { status: 'failure', code: 'CREDENTIALS_DISABLED', message: /KAFKA_CREDENTIALS=iam or scram/ })
  }
})
