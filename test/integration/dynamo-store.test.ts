/**
 * The whole app with METADATA_STORE=dynamodb, over real HTTP, against the real broker and moto in server
 * mode as DynamoDB (AWS cannot exist here; `npm test` starts moto). The app is given no endpoint of ours: the
 * SDK finds it in AWS_ENDPOINT_URL_DYNAMODB, as in a deployment with a local DynamoDB. It reaches moto
 * through a relay that the test cuts at the end, to see a store that stops answering.
 */
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { build } from '../helpers/app.js'
import { testKafka } from '../helpers/broker.js'
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb'
import { getRaw, putRaw, rawClient, relay, TEST_REGION, uniqueTables, dropAtTeardown } from '../helpers/dynamo.js'
import { GLOBAL_NAMESPACES } from '../../plugins/namespaces/dynamo-store.js'

t.test('management routes with the DynamoDB store; 503 and not ready once it cannot be reached', async t => {
  const tables = uniqueTables()
  dropAtTeardown(t, tables)
  const link = await relay(t)
  const saved = process.env.AWS_ENDPOINT_URL_DYNAMODB
  process.env.AWS_ENDPOINT_URL_DYNAMODB = link.endpoint
  t.teardown(() => {
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_DYNAMODB
    else process.env.AWS_ENDPOINT_URL_DYNAMODB = saved
  })
  const env = {
    METADATA_STORE: 'dynamodb',
    USERS_TABLE_NAME: tables.users,
    NAMESPACE_TABLE_NAME: tables.namespaces,
    KEYS_TABLE_NAME: tables.keys,
    AWS_REGION: TEST_REGION
  }

  const missing = await build(t, { env }).then(() => undefined, (e: unknown) => e)
  t.match(String(missing), /table .* \(USERS_TABLE_NAME\) does not exist.*METADATA_CREATE_TABLES=true/, 'missing tables fail the start')

  const { url, globus } = await build(t, { listen: true, env: { ...env, METADATA_CREATE_TABLES: 'true' } })
  const admin = testKafka().admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())

  const subject = randomUUID()
  const other = randomUUID()
  const ns = `ns-${subject.replace(/-/g, '').slice(-12)}`
  const extra = `dyn${randomBytes(5).toString('hex')}`
  const topic = `t${randomBytes(5).toString('hex')}`
  t.teardown(async () => { await admin.deleteTopics({ topics: [`${ns}.${topic}`] }).catch(() => {}) })
  const call = async (
    who: string,
    method: string,
    path: string,
    body?: unknown
  ): Promise<{ status: number, json: Record<string, unknown> }> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${globus.userToken(who)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: res.status, json: await res.json() as Record<string, unknown> }
  }

  t.equal((await call(subject, 'POST', '/api/v3/user')).status, 201)
  t.equal((await call(subject, 'POST', '/api/v3/user')).status, 200, 'idempotent')
  t.equal((await call(subject, 'POST', `/api/v3/namespace/${extra}`)).status, 201)
  const taken = await call(other, 'POST', `/api/v3/namespace/${extra}`)
  t.equal(taken.status, 409, 'names are global')
  t.match(taken.json, { status: 'failure' })
  t.equal((await call(subject, 'POST', `/api/v3/${ns}/${topic}`, { num_partitions: 2 })).status, 201)
  const listed = await call(subject, 'GET', '/api/v3/namespace')
  t.equal(listed.status, 200)
  t.match(listed.json, { namespaces: { [ns]: [topic], [extra]: [] } })
  t.equal((await call(other, 'DELETE', `/api/v3/${ns}/${topic}`)).status, 404, 'a foreign namespace is a 404')
  const recreated = await call(subject, 'PUT', `/api/v3/${ns}/${topic}/recreate`)
  t.equal(recreated.status, 200)
  const described = await admin.fetchTopicMetadata({ topics: [`${ns}.${topic}`] })
  t.equal(described.topics[0]?.partitions.length, 2, 'recreated with the stored settings')

  // The tables hold it as the existing service would: string sets.
  const raw = rawClient(t)
  t.same(
    (await getRaw(raw, tables.users, { subject: { S: subject } }))?.namespaces?.SS?.slice().sort(),
    [extra, ns].sort()
  )
  t.ok((await getRaw(raw, tables.users, { subject: { S: GLOBAL_NAMESPACES } }))?.namespaces?.SS?.includes(extra))
  t.same((await getRaw(raw, tables.namespaces, { namespace: { S: ns } }))?.topics?.SS, [topic])

  t.equal((await call(subject, 'DELETE', `/api/v3/${ns}/${topic}`)).status, 200)
  t.equal((await call(subject, 'DELETE', `/api/v3/namespace/${extra}`)).status, 200)
  t.equal((await call(other, 'POST', `/api/v3/namespace/${extra}`)).status, 201, 'a released name is free')
  t.equal((await fetch(`${url}/ready`)).status, 200)

  // A user, namespace and topic as the existing service left them: sets only, no owner, no settings.
  const legacy = randomUUID()
  const legacyNs = `ns-${legacy.replace(/-/g, '').slice(-12)}`
  const legacyTopic = `old${randomBytes(4).toString('hex')}`
  t.teardown(async () => { await admin.deleteTopics({ topics: [`${legacyNs}.${legacyTopic}`] }).catch(() => {}) })
  await admin.createTopics({ topics: [{ topic: `${legacyNs}.${legacyTopic}`, numPartitions: 3 }], waitForLeaders: true })
  await putRaw(raw, tables.users, { subject: { S: legacy }, namespaces: { SS: [legacyNs] } })
  await raw.send(new UpdateItemCommand({
    TableName: tables.users,
    Key: { subject: { S: GLOBAL_NAMESPACES } },
    UpdateExpression: 'ADD namespaces :n',
    ExpressionAttributeValues: { ':n': { SS: [legacyNs] } }
  }))
  await putRaw(raw, tables.namespaces, { namespace: { S: legacyNs }, topics: { SS: [legacyTopic] } })
  t.equal((await call(legacy, 'POST', '/api/v3/user')).status, 200, 'the existing user is recognised')
  t.match((await call(legacy, 'GET', '/api/v3/namespace')).json, { namespaces: { [legacyNs]: [legacyTopic] } })
  t.equal((await call(subject, 'PUT', `/api/v3/${legacyNs}/${legacyTopic}/recreate`)).status, 404, 'and only its owner sees it')
  const legacyRecreate = await call(legacy, 'PUT', `/api/v3/${legacyNs}/${legacyTopic}/recreate`)
  t.equal(legacyRecreate.status, 200)
  const legacyMeta = await admin.fetchTopicMetadata({ topics: [`${legacyNs}.${legacyTopic}`] })
  t.equal(legacyMeta.topics[0]?.partitions.length, 1, 'no stored settings: recreated with the configured defaults')
  t.match((await getRaw(raw, tables.namespaces, { namespace: { S: legacyNs } }))?.[`topic_settings#${legacyTopic}`], { M: { num_partitions: { N: '1' } } },
    'and the settings are stored from now on')

  await link.cut()
  const down = await call(subject, 'GET', '/api/v3/namespace')
  t.equal(down.status, 503)
  t.match(down.json, { status: 'failure', message: /metadata store is unavailable/ })
  t.equal((await call(subject, 'POST', `/api/v3/${ns}/${topic}`)).status, 503)
  const ready = await fetch(`${url}/ready`)
  t.equal(ready.status, 503)
  t.match(await ready.json(), { status: 'not ready', checks: { metadata_store: false } })
})
