/**
 * The forwarding node in one process (no Kafka, no DynamoDB): the cluster plugin over a node directory in memory,
 * a stand-in for authentication, and a plain HTTP server as the owner node (it checks the hop signature and the
 * token, as a real owner does). Each forwarded request is published on `diaspora:cluster:forward` with its route
 * template; the forwarding node does not authenticate a request it forwards (the owner does), but does before it
 * answers one itself (owner gone); it writes one log line per forwarded request instead of Fastify's two.
 */
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { serverOptions } from '../../../app.js'
import { loadConfig } from '../../../plugins/config/config.js'
import { ApiError } from '../../../plugins/errors/errors.js'
import clusterPlugin from '../../../plugins/cluster/index.js'
import errorsPlugin from '../../../plugins/errors/index.js'
import { FORWARD_CHANNEL, type ForwardMessage } from '../../../plugins/cluster/channels.js'
import { FORWARDED_BY, checkHop } from '../../../plugins/cluster/hop-auth.js'
import type { NodeDirectory, NodeEntry } from '../../../plugins/cluster/node-table.js'
import { MemoryClaims } from '../../helpers/memory-claims.js'

const SECRET = 'a-unit-test-node-secret-of-forty-characters'
const GOOD = 'Bearer good-token'
const ROUTE = '/api/v2/consumers/:group/instances/:instance/assignments'

class Directory implements NodeDirectory {
  constructor (readonly entries: NodeEntry[]) {}
  async register (): Promise<boolean> { return true }
  async heartbeat (): Promise<boolean> { return true }
  // Heartbeats an hour ahead: live for the whole test.
  async list (): Promise<NodeEntry[]> { return this.entries.map(e => ({ ...e, heartbeat: Date.now() + 3_600_000 })) }
  async deregister (): Promise<void> {}
  close (): void {}
}

interface Setup {
  url: string, owner: { requests: number }, authentications: () => number, logs: Array<Record<string, unknown>>
}

async function setup (t: Tap, level = 'info'): Promise<Setup> {
  const owner = { requests: 0 }
  const origin = http.createServer((req, res) => {
    owner.requests++
    const hop = checkHop(SECRET, { method: req.method ?? 'GET', url: req.url ?? '/', authorization: req.headers.authorization }, req.headers, 'owner')
    const status = hop.forwarded !== true ? 400 : req.headers.authorization === GOOD ? 200 : 401
    res.writeHead(status, { 'content-type': 'application/vnd.kafka.v2+json', 'x-diaspora-node': 'owner' })
    res.end(JSON.stringify(status === 200 ? { partitions: [] } : { error_code: status === 401 ? 40101 : 400, message: 'no' }))
  })
  await new Promise<void>(resolve => origin.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { origin.closeAllConnections(); origin.close(() => resolve()) }))
  const ownerUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`

  const config = loadConfig({
    AUTH_MODE: 'dev',
    DEV_TOKEN: 'a-dev-token-of-the-unit-test-0123456789',
    METADATA_STORE: 'dynamodb',
    LOG_LEVEL: 'info',
    NODE_ID: 'self',
    NODE_URL: 'http://127.0.0.1:1',
    NODE_SECRET: SECRET
  })
  const logs: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) { logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() }
  })
  const app: FastifyInstance = Fastify({ ...serverOptions(config), logger: { level, stream } })
  let authentications = 0
  await app.register(fp(async f => { f.decorate('config', config) }, { name: 'config' }))
  await app.register(errorsPlugin)
  app.decorate('authenticate', async (request: FastifyRequest) => {
    authentications++
    if (request.headers.authorization !== GOOD) throw new ApiError(401, 40101, 'Token is invalid, expired, or revoked', { headers: { 'www-authenticate': 'Bearer' } })
  })
  await app.register(clusterPlugin, {
    directory: new Directory([{ id: 'owner', url: ownerUrl, heartbeat: 0 }]),
    claimStore: new MemoryClaims()
  })
  await app.register(async f => {
    const cluster = f.cluster
    if (cluster === null) throw new Error('the cluster plugin is off')
    f.addHook('onRequest', cluster.onRequest)
    f.addHook('onRequest', f.authenticate)
    f.addHook('onRequest', cluster.onAuthenticated)
    f.get(ROUTE, async () => ({ served: 'here' }))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, owner, authentications: () => authentications, logs }
}
type Tap = { teardown (fn: () => unknown): void }

/** Subscribes to the forward channel for the test; the messages seen so far. */
function listen (t: Tap): ForwardMessage[] {
  const seen: ForwardMessage[] = []
  const onMessage = (message: unknown): void => { seen.push(message as ForwardMessage) }
  subscribe(FORWARD_CHANNEL, onMessage)
  t.teardown(() => { unsubscribe(FORWARD_CHANNEL, onMessage) })
  return seen
}

async function get (
  url: string, headers: Record<string, string> = {}
): Promise<{ status: number, body: string, node: string | null }> {
  const res = await fetch(url, { headers })
  return { status: res.status, body: await res.text(), node: res.headers.get('x-diaspora-node') }
}

/** The channel's message is published once the answer is done: wait for it rather than for a time. */
async function until (what: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !what(); i++) await new Promise(resolve => setTimeout(resolve, 10))
}

t.test('a forwarded request is published with its route template; the owner authenticates it', async t => {
  const { url, owner, authentications, logs } = await setup(t, 'debug')
  const seen = listen(t)
  const res = await get(`${url}/api/v2/consumers/g1/instances/owner..c1/assignments`, { authorization: GOOD })
  t.equal(res.status, 200)
  t.equal(res.node, 'owner', 'the owner answered')
  await until(() => seen.length === 1)
  t.equal(seen.length, 1)
  const message = seen[0] as ForwardMessage
  t.match(message, { method: 'GET', route: ROUTE, statusCode: 200, outcome: 'forwarded' })
  t.ok(message.durationMs >= 0 && message.durationMs < 60_000, 'a duration in ms')
  t.notOk(JSON.stringify(message).includes('owner..c1'), 'no instance id in the message')
  t.equal(authentications(), 0, 'the forwarding node left authentication to the owner')
  t.equal(owner.requests, 1)
  await until(() => logs.some(l => l.msg === 'request forwarded'))
  const lines = logs.filter(l => l.msg === 'request forwarded' || l.msg === 'incoming request' || l.msg === 'request completed')
  t.same(lines.map(l => l.msg), ['request forwarded'], 'one log line on the forwarding node, not Fastify\'s two')
  t.match(lines[0], { level: 20, owner: 'owner', statusCode: 200, outcome: 'forwarded' })
  t.notOk(JSON.stringify(logs).includes('good-token'), 'no token in the log')

  const unauthenticated = await get(`${url}/api/v2/consumers/g1/instances/owner..c1/assignments`, { authorization: 'Bearer bad' })
  t.equal(unauthenticated.status, 401, 'a bad token is refused by the owner')
  t.equal(unauthenticated.node, 'owner')
  await until(() => seen.length === 2)
  t.match(seen[1], { statusCode: 401, outcome: 'forwarded' })

  const local = await get(`${url}/api/v2/consumers/g1/instances/self..c1/assignments`, { authorization: GOOD })
  t.same(JSON.parse(local.body), { served: 'here' }, 'this node\'s own instance is served here')
  t.equal(authentications(), 1, 'and authenticated here')
  t.ok(logs.some(l => l.msg === 'incoming request'), 'with Fastify\'s request lines')
  t.equal(seen.length, 2, 'nothing published for a request served here')
})

t.test('an instance of a node that is gone: authenticated here, then 404/40403 (an unknown caller gets 401)', async t => {
  const { url, owner, logs } = await setup(t)
  const seen = listen(t)
  const gone = await get(`${url}/api/v2/consumers/g1/instances/ghost..c1/assignments`, { authorization: GOOD })
  t.equal(gone.status, 404)
  t.equal(JSON.parse(gone.body).error_code, 40403)
  const stranger = await get(`${url}/api/v2/consumers/g1/instances/ghost..c1/assignments`, { authorization: 'Bearer bad' })
  t.equal(stranger.status, 401, 'the caller is not told whether the instance exists')
  t.equal(JSON.parse(stranger.body).error_code, 40101)
  await until(() => seen.length === 2)
  t.match(seen, [{ route: ROUTE, statusCode: 404, outcome: 'owner-gone' }, { route: ROUTE, statusCode: 401, outcome: 'owner-gone' }])
  t.equal(owner.requests, 0)
  t.match(logs.filter(l => l.msg === 'request forwarded'), [{ level: 30, statusCode: 404 }, { level: 30, statusCode: 401 }], 'answered here: logged at info')
})

t.test('forwarding headers without a valid signature are refused before anything else', async t => {
  const { url, owner, authentications } = await setup(t)
  const seen = listen(t)
  const res = await get(`${url}/api/v2/consumers/g1/instances/owner..c1/assignments`, { authorization: GOOD, [FORWARDED_BY]: 'owner' })
  t.equal(res.status, 401)
  t.equal(owner.requests, 0, 'not forwarded')
  t.equal(authentications(), 0)
  t.equal(seen.length, 0)
})
