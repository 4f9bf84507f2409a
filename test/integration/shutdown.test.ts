/**
 * Graceful shutdown of the real server (issue 6 item 7): `server.ts` runs as a child process against the local
 * broker and the Globus stand-in. With consumers joined and long polls waiting, SIGTERM must make the server
 * stop accepting, let the waiting long polls return 200 with what they hold, close every consumer so it leaves
 * its group (seen with kafkajs' describeGroups: no members, although the session timeout is far away), and
 * exit with code 0, which close-with-grace only allows within CLOSE_GRACE_MS (10 s here).
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomBytes, randomUUID } from 'node:crypto'
import { brokers, testKafka } from '../helpers/broker.js'
import { startGlobus } from '../helpers/globus.js'
import { BINARY, V2, producer, shortName } from '../helpers/api.js'
import { waitFor } from '../helpers/wait.js'
import { defaultNamespace } from '../../plugins/namespaces/names.js'
import { startNode } from '../helpers/cluster.js'

const METRICS_TOKEN = `metrics-${randomBytes(12).toString('hex')}`

t.test('SIGTERM: stop accepting, long polls return what they hold, consumers leave their groups, exit 0', async t => {
  const globus = await startGlobus(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'diaspora-shutdown-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = await startNode(t, 'server', {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DEFAULT_SERVERS: brokers().join(','),
    SERVER_CLIENT_ID: globus.clientId,
    SERVER_SECRET: globus.clientSecret,
    GLOBUS_AUTH_URL: globus.url,
    METADATA_STORE: path.join(dir, 'metadata.json'),
    TOPIC_DEFAULT_REPLICATION_FACTOR: '1',
    // Far away: an empty group right after exit can only come from the members leaving, not from expiry.
    CONSUMER_SESSION_TIMEOUT_MS: '45000',
    CONSUMER_HEARTBEAT_INTERVAL_MS: '500',
    CONSUMER_FETCH_MAX_WAIT_MS: '100',
    CLOSE_GRACE_MS: '10000',
    METRICS_TOKEN
  })
  const { url } = server
  const subject = randomUUID()
  const token = globus.userToken(subject)
  const ns = defaultNamespace(subject)
  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> => fetch(`${url}/api/v3/${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': V2 }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text()
    const line = text.split('\n').find(l => l.startsWith(`${name} `))
    return line === undefined ? NaN : Number(line.split(' ')[1])
  }

  t.equal((await call('POST', 'user')).status, 201)
  const topics = [shortName(), shortName()]
  for (const topic of topics) t.equal((await call('POST', `${ns}/${topic}`, {}, { 'content-type': 'application/json' })).status, 201)

  // Group A: a long poll that waits for more bytes than will come (fetch.min.bytes), holding 3 buffered records.
  // Group B, on another topic: a long poll with nothing to return.
  const groups = [shortName('ga'), shortName('gb')]
  const instances: string[] = []
  for (const [i, group] of groups.entries()) {
    const res = await call('POST', `${ns}/consumers/${group}`, { name: 'c', 'auto.offset.reset': 'earliest', ...(i === 0 ? { 'fetch.min.bytes': 1_000_000 } : {}) })
    t.equal(res.status, 200)
    const inst = `${ns}/consumers/${group}/instances/c`
    t.equal((await call('POST', `${inst}/subscription`, { topics: [topics[i]] })).status, 204)
    // The first read starts the consumer (a subscription joins nothing before it, as in Java).
    t.equal((await call('GET', `${inst}/records?timeout=0`, undefined, { accept: BINARY })).status, 200)
    instances.push(inst)
  }
  const kafkaGroups = groups.map(g => `${ns}.${g}`)
  const admin = testKafka().admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  await waitFor('both instances to join their groups', async () => {
    const { groups: described } = await admin.describeGroups(kafkaGroups)
    return described.every(g => g.state === 'Stable' && g.members.length === 1)
  })

  const prod = await producer(t)
  await prod.send({ topic: `${ns}.${topics[0]}`, messages: ['r0', 'r1', 'r2'].map(value => ({ value })) })
  await waitFor('three records buffered in group A', async () => (await metric('diaspora_consumer_buffered_records')) >= 3)

  const polls = instances.map(inst => call('GET', `${inst}/records?timeout=30000`, undefined, { accept: BINARY }))
  await waitFor('both long polls to wait', async () => (await metric('diaspora_consumer_long_polls')) === 2)

  const signalledAt = Date.now()
  server.child.kill('SIGTERM')

  const [a, b] = await Promise.all(polls) as [Response, Response]
  t.equal(a.status, 200, 'the long poll holding records answered 200')
  t.same((await a.json() as Array<{ value: string, offset: number }>).map(r => [r.offset, Buffer.from(r.value, 'base64').toString()]),
    [[0, 'r0'], [1, 'r1'], [2, 'r2']], 'with the records it held')
  t.equal(b.status, 200, 'the empty long poll answered 200')
  t.same(await b.json(), [], 'with nothing')

  // New work is refused: a 503 while the server closes, or no connection at all once it stopped listening.
  let refused: string
  try {
    const res = await fetch(`${url}/api/v3/namespace`, { headers: { authorization: `Bearer ${token}` } })
    refused = `HTTP ${res.status}`
  } catch (err) {
    refused = String((err as { cause?: { code?: string } }).cause?.code ?? err)
  }
  t.match(refused, /^(HTTP 503|ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)$/, `a new request after SIGTERM is refused (${refused})`)

  let timer: NodeJS.Timeout | undefined
  const exit = await Promise.race([
    server.exited,
    new Promise<undefined>(resolve => { timer = setTimeout(() => resolve(undefined), 30_000) })
  ])
  clearTimeout(timer)
  t.ok(exit, 'the process exited')
  t.same(exit, { code: 0, signal: null }, 'with code 0 (close-with-grace exits 1 past CLOSE_GRACE_MS)')
  t.comment(`exited ${Date.now() - signalledAt} ms after SIGTERM`)
  const logged = server.lines.map(l => {
    try { return (JSON.parse(l) as { msg?: string }).msg } catch { return undefined }
  })
  t.ok(logged.includes('closing') && logged.includes('closed'), 'logged closing and closed')

  const { groups: after } = await admin.describeGroups(kafkaGroups)
  for (const g of after) {
    t.same(g.members, [], `${g.groupId}: no members left`)
    t.match(g.state, /^(Empty|Dead)$/, `${g.groupId}: ${g.state}`)
  }
})
