/**
 * KAFKA_CREDENTIALS=iam against moto in server mode (IAM on the endpoint `npm test` starts, with dummy
 * credentials): the existing service's IAM user, policy and access keys, the policy following namespace
 * claims and releases, key rotation and deletion, plain-text keys of the existing service, user deletion.
 */
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand
} from '@aws-sdk/client-iam'
import { build, twoNodesOverDynamo } from '../helpers/app.js'
import { apiUser } from '../helpers/api.js'
import { dynamoEndpoint, TEST_REGION } from '../helpers/dynamo.js'
import { recordSecret } from '../../scripts/log-leaks.js'

const ACCOUNT = '123456789012'
const CLUSTER = `cluster-${randomBytes(4).toString('hex')}`
// The service's IAM client takes its endpoint from the SDK's standard variable, as in production.
process.env.AWS_ENDPOINT_URL_IAM = dynamoEndpoint()
const env = {
  KAFKA_CREDENTIALS: 'iam',
  KEYS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  AWS_ACCOUNT_ID: ACCOUNT,
  AWS_ACCOUNT_REGION: TEST_REGION,
  MSK_CLUSTER_NAME: CLUSTER,
  KAFKA_CREDENTIALS_ENDPOINT: 'b-1.example.kafka.us-east-1.amazonaws.com:9098'
}

interface Key {
  status: string
  access_key: string
  secret_key: string
  create_date: string
  endpoint: string
  fresh: boolean
  mechanism: string
}

const iam = new IAMClient({ region: 'us-east-1', endpoint: dynamoEndpoint() })
t.teardown(() => iam.destroy())
const policyArn = (subject: string) => `arn:aws:iam::${ACCOUNT}:policy/msk-policy/${subject}`

async function policyResources (subject: string): Promise<string[]> {
  const p = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn(subject) }))
  const v = await iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policyArn(subject), VersionId: p.Policy?.DefaultVersionId })
  )
  const doc = JSON.parse(decodeURIComponent(v.PolicyVersion?.Document ?? '{}')) as { Statement: Array<{ Resource: string[], Action: string[] }> }
  return doc.Statement[0]?.Resource ?? []
}

async function accessKeys (subject: string): Promise<string[]> {
  return ((await iam.send(new ListAccessKeysCommand({ UserName: subject }))).AccessKeyMetadata ?? []).map(k => k.AccessKeyId ?? '').sort()
}

const topicArn = (ns: string) => `arn:aws:kafka:${TEST_REGION}:${ACCOUNT}:topic/${CLUSTER}/*/${ns}.*`

t.test('iam: user, policy, keys and their lifecycle, as the existing service has them', async t => {
  const { app, globus } = await build(t, { env })
  const alice = await apiUser(app, globus)
  t.teardown(() => alice.req('DELETE', 'user'))

  // POST /user made the IAM user and its policy.
  const user = await iam.send(new GetUserCommand({ UserName: alice.subject }))
  t.equal(user.User?.Path, '/msk-users/')
  const attached = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: alice.subject }))
  t.same(attached.AttachedPolicies?.map(p => p.PolicyArn), [policyArn(alice.subject)])
  t.same(await policyResources(alice.subject), [
    `arn:aws:kafka:${TEST_REGION}:${ACCOUNT}:group/${CLUSTER}/*`,
    `arn:aws:kafka:${TEST_REGION}:${ACCOUNT}:cluster/${CLUSTER}/*`,
    `arn:aws:kafka:${TEST_REGION}:${ACCOUNT}:transactional-id/${CLUSTER}/*`,
    topicArn(alice.ns)
  ])

  const res = await alice.req('POST', 'key')
  t.equal(res.statusCode, 200, res.body)
  const key = res.json() as Key
  recordSecret(key.secret_key)
  t.match(key, { status: 'success', fresh: true, mechanism: 'AWS_MSK_IAM', endpoint: env.KAFKA_CREDENTIALS_ENDPOINT })
  t.same(await accessKeys(alice.subject), [key.access_key], 'one IAM key, the one returned')
  const again = (await alice.req('POST', 'key')).json() as Key
  t.same(
    [again.access_key, again.secret_key, again.create_date, again.fresh],
    [key.access_key, key.secret_key, key.create_date, false]
  )
  const raw = await app.namespaces.store.getKey(alice.subject)
  t.equal(raw?.encryption, 'aes-256-gcm:v1', 'sealed at rest')
  t.not(raw?.secret_key, key.secret_key)
  t.notOk(raw?.secret_key.includes(key.secret_key))

  // The policy follows claims and releases.
  const extra = `x${randomBytes(5).toString('hex')}`
  t.ok((await alice.req('POST', `namespace/${extra}`)).statusCode < 300)
  t.ok((await policyResources(alice.subject)).includes(topicArn(extra)), 'a claimed namespace is in the policy')
  t.ok((await policyResources(alice.subject)).includes(topicArn(alice.ns)))
  t.equal((await alice.req('DELETE', `namespace/${extra}`)).statusCode, 200)
  t.notOk((await policyResources(alice.subject)).includes(topicArn(extra)), 'a released one is not')
  for (let i = 0; i < 5; i++) { // more changes than IAM keeps policy versions
    t.ok((await alice.req('POST', `namespace/${extra}`)).statusCode < 300)
    t.equal((await alice.req('DELETE', `namespace/${extra}`)).statusCode, 200)
  }
  const after = await policyResources(alice.subject)
  t.ok(after.includes(topicArn(alice.ns)) && !after.includes(topicArn(extra)), 'old versions make room for new ones')

  // Deletion and rotation.
  t.equal((await alice.req('DELETE', 'key')).statusCode, 200)
  t.same(await accessKeys(alice.subject), [], 'the IAM key is deleted')
  t.equal(await app.namespaces.store.getKey(alice.subject), undefined)
  const [a, b] = await Promise.all([alice.req('POST', 'key'), alice.req('POST', 'key')])
  const ka = a.json() as Key
  const kb = b.json() as Key
  recordSecret(ka.secret_key)
  t.equal(ka.access_key, kb.access_key, 'two at once: the same key')
  t.not(ka.access_key, key.access_key, 'a new key')
  t.same(await accessKeys(alice.subject), [ka.access_key], 'exactly one IAM key')

  // The user goes with everything it had.
  t.equal((await alice.req('DELETE', 'user')).statusCode, 200)
  await t.rejects(iam.send(new GetUserCommand({ UserName: alice.subject })), { name: 'NoSuchEntity' })
  await t.rejects(iam.send(new GetPolicyCommand({ PolicyArn: policyArn(alice.subject) })), { name: 'NoSuchEntity' })
  t.equal(await app.namespaces.store.getKey(alice.subject), undefined)
  t.equal((await alice.req('DELETE', 'user')).statusCode, 200, 'idempotent')
})

t.test('iam: a plain-text key written by the existing service is returned as it is', async t => {
  const { app, globus } = await build(t, { env })
  const bob = await apiUser(app, globus)
  t.teardown(() => bob.req('DELETE', 'user'))
  const secret = randomBytes(30).toString('base64')
  recordSecret(secret)
  await app.namespaces.store.putKeyIfAbsent({ subject: bob.subject, access_key: 'AKIAEXISTINGSERVICE1', secret_key: secret, create_date: '2024-05-01T00:00:00' })
  const key = (await bob.req('POST', 'key')).json() as Key
  t.match(key, { access_key: 'AKIAEXISTINGSERVICE1', secret_key: secret, create_date: '2024-05-01T00:00:00', fresh: false })
})

t.test('iam: two nodes over one DynamoDB store, two POST /api/v3/key at once: exactly one key', async t => {
  const { nodeA, nodeB } = await twoNodesOverDynamo(t, env)
  const carol = await apiUser(nodeA.app, nodeA.globus)
  t.teardown(() => carol.req('DELETE', 'user'))
  const onB = () => nodeB.app.inject({ method: 'POST', url: '/api/v3/key', headers: { authorization: `Bearer ${carol.token}` } })
  for (let round = 0; round < 3; round++) {
    const [a, b] = await Promise.all([carol.req('POST', 'key'), onB()])
    const ka = a.json() as Key
    const kb = b.json() as Key
    recordSecret(ka.secret_key)
    recordSecret(kb.secret_key)
    t.equal(a.statusCode, 200, a.body)
    t.equal(b.statusCode, 200, b.body)
    t.same([ka.access_key, ka.secret_key], [kb.access_key, kb.secret_key], `round ${round}: both nodes answer the same key`)
    t.same(await accessKeys(carol.subject), [ka.access_key], 'exactly one IAM key, the stored one')
    t.equal((await nodeA.app.namespaces.store.getKey(carol.subject))?.access_key, ka.access_key)
    t.equal((await carol.req('DELETE', 'key')).statusCode, 200)
  }
})

t.test('iam: two nodes over one DynamoDB store, DELETE and POST /api/v3/key at once: the stored key exists, the deleted one does not', async t => {
  const { nodeA, nodeB } = await twoNodesOverDynamo(t, env)
  const dan = await apiUser(nodeA.app, nodeA.globus)
  t.teardown(() => dan.req('DELETE', 'user'))
  const on = (node: typeof nodeA, method: 'POST' | 'DELETE') =>
    node.app.inject({ method, url: '/api/v3/key', headers: { authorization: `Bearer ${dan.token}` } })
  for (let round = 0; round < 6; round++) {
    const first = await on(nodeA, 'POST')
    const before = first.json() as Key
    recordSecret(before.secret_key)
    const [deleter, creator] = round % 2 === 0 ? [nodeA, nodeB] : [nodeB, nodeA]
    const [del, post] = await Promise.all([on(deleter, 'DELETE'), on(creator, 'POST')])
    t.equal(del.statusCode, 200, del.body)
    t.equal(post.statusCode, 200, post.body)
    const posted = post.json() as Key
    recordSecret(posted.secret_key)
    const stored = await nodeA.app.namespaces.store.getKey(dan.subject)
    const live = await accessKeys(dan.subject)
    if (stored) {
      t.equal(stored.access_key, posted.access_key, `round ${round}: the stored key is the one the POST returned`)
      t.ok(live.includes(stored.access_key), 'and its IAM access key exists')
    } else {
      t.notOk(live.includes(posted.access_key), `round ${round}: nothing stored, the returned key is revoked`)
    }
    if (stored?.access_key !== before.access_key) t.notOk(live.includes(before.access_key), 'the deleted key is revoked')
    t.equal((await on(nodeA, 'DELETE')).statusCode, 200)
  }
})

t.test('iam: an IAM user of the subject\'s name outside /msk-users/ is never touched', async t => {
  const { app, globus } = await build(t, { env })
  const subject = randomUUID()
  await iam.send(new CreateUserCommand({ UserName: subject, Path: '/admins/' }))
  const theirs = (await iam.send(new CreateAccessKeyCommand({ UserName: subject }))).AccessKey?.AccessKeyId
  t.teardown(async () => {
    for (const k of await accessKeys(subject)) {
      await iam.send(new DeleteAccessKeyCommand({ UserName: subject, AccessKeyId: k }))
    }
    await iam.send(new DeleteUserCommand({ UserName: subject }))
  })
  const token = globus.userToken(subject)
  const req = (method: 'POST' | 'DELETE', url: string) => app.inject({ method, url: `/api/v3/${url}`, headers: { authorization: `Bearer ${token}` } })
  const user = await req('POST', 'user')
  t.equal(user.statusCode, 409, user.body)
  t.match(user.json(), { status: 'failure', code: 'IDENTITY_CONFLICT' })
  const key = await req('POST', 'key')
  t.equal(key.statusCode, 409, 'no access key of that user is handed out')
  t.notOk(key.body.includes('secret_key'))
  t.same(await accessKeys(subject), [theirs], 'its keys are as they were')
  t.same((await iam.send(new ListAttachedUserPoliciesCommand({ UserName: subject }))).AttachedPolicies, [], 'no policy attached')
  t.equal((await req('DELETE', 'user')).statusCode, 200)
  t.equal((await iam.send(new GetUserCommand({ UserName: subject }))).User?.Path, '/admins/', 'deleting the API user leaves it alone')
  t.same(await accessKeys(subject), [theirs])
})
