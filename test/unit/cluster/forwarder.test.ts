/**
 * The forwarder between real loopback HTTP servers (no Kafka): bodies stream both ways (a GET body too),
 * connection headers stay on their hop, a node whose port refuses the connection is "gone" (40403), an answer
 * cut by the owner cuts the client's, and a client that leaves stops the owner's request.
 */
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { Forwarder } from '../../../plugins/cluster/forwarder.js'

async function listen (t: Tap, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
type Tap = { teardown (fn: () => unknown): void }

async function relay (
  t: Tap, target: string, outcomes: string[] = [], ownerGone?: () => Promise<boolean>
): Promise<string> {
  const forwarder = new Forwarder({ connectTimeoutMs: 1000, onDone: o => outcomes.push(o) }, (
    res, status, code, message
  ) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: code, message }))
  })
  t.teardown(() => forwarder.close())
  return listen(t, (req, res) => forwarder.forward(req, res, target, { 'x-diaspora-forwarded-by': 'relay' }, ownerGone === undefined ? {} : { ownerGone }))
}

function request (
  url: string, method: string, body?: string, headers: Record<string, string> = {}
): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }) } }, res => {
      let data = ''
      res.setEncoding('utf8').on('data', (c: string) => { data += c }).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('bodies stream both ways, a GET body included; connection headers stay on their hop', async t => {
  let seen: http.IncomingHttpHeaders = {}
  const origin = await listen(t, (req, res) => {
    seen = req.headers
    let body = ''
    req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-answer': 'yes', 'keep-alive': 'timeout=5' }).end(JSON.stringify({ method: req.method, url: req.url, body }))
    })
  })
  const outcomes: string[] = []
  const via = await relay(t, origin, outcomes)
  const res = await request(`${via}/api/v2/consumers/g/instances/n1..c/offsets?x=1`, 'GET', '{"partitions":[]}', { authorization: 'Bearer tok', 'proxy-authorization': 'secret', connection: 'keep-alive, x-hop', 'x-hop': 'drop me' })
  t.equal(res.status, 201)
  t.same(JSON.parse(res.body), { method: 'GET', url: '/api/v2/consumers/g/instances/n1..c/offsets?x=1', body: '{"partitions":[]}' })
  t.equal(res.headers['x-answer'], 'yes', 'answer headers pass')
  t.equal(seen.authorization, 'Bearer tok', 'the token goes to the owner')
  t.equal(seen['x-diaspora-forwarded-by'], 'relay', 'the hop headers are added')
  t.notOk(seen['proxy-authorization'], 'proxy credentials stay on their hop')
  t.notOk(seen['x-hop'], 'headers the Connection header names stay on their hop')
  t.ok(String(seen['x-forwarded-for']).includes('127.0.0.1'))
  t.same(outcomes, ['forwarded'])
})

t.test('a node whose port refuses the connection is gone: 404/40403', async t => {
  const closed = net.createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>(resolve => closed.close(() => resolve()))
  const outcomes: string[] = []
  const via = await relay(t, `http://127.0.0.1:${port}`, outcomes)
  const res = await request(`${via}/x`, 'POST', '{"a":1}')
  t.equal(res.status, 404)
  t.equal(JSON.parse(res.body).error_code, 40403)
  t.same(outcomes, ['gone'])
})

t.test('an answer the owner cuts is cut for the client too', async t => {
  const origin = await listen(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
    res.write('[{"partial":')
    setTimeout(() => res.destroy(), 50)
  })
  const outcomes: string[] = []
  const via = await relay(t, origin, outcomes)
  await t.rejects(request(`${via}/x`, 'GET'), 'the client sees the answer cut, never a complete one')
  t.same(outcomes, ['failed'])
})

t.test('a client that leaves stops the owner\'s request (a long poll ends there too)', async t => {
  let closedAtOrigin!: () => void
  const originClosed = new Promise<void>(resolve => { closedAtOrigin = resolve })
  // Never answers, as a long poll that waits.
  const origin = await listen(t, (_req, res) => { res.once('close', () => closedAtOrigin()) })
  const via = await relay(t, origin)
  const req = http.request(`${via}/records?timeout=30000`)
  req.on('error', () => {})
  req.end()
  setTimeout(() => req.destroy(), 100)
  await originClosed
  t.pass('the owner saw its request closed')
})

t.test('a 503 from an owner that left the node table (shutting down) is 40403; from a live owner it passes', async t => {
  const origin = await listen(t, (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"error_code":503,"message":"closing"}')
  })
  const outcomes: string[] = []
  const gone = await relay(t, origin, outcomes, async () => true)
  const res = await request(`${gone}/x`, 'GET')
  t.equal(res.status, 404)
  t.equal(JSON.parse(res.body).error_code, 40403)
  const live = await relay(t, origin, outcomes, async () => false)
  const passed = await request(`${live}/x`, 'GET')
  t.equal(passed.status, 503, 'a live owner\'s 503 (Kafka unreachable, say) passes as it is')
  t.equal(JSON.parse(passed.body).message, 'closing')
  t.same(outcomes, ['gone', 'forwarded'])
})

t.test('a refused connection with a reroute hook: the body waits, and goes whole to the node the hook names', async t => {
  const origin = await listen(t, (req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-diaspora-node': 'n3' }).end(JSON.stringify({ body, hop: req.headers['x-hop'] }))
    })
  })
  const closed = net.createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const dead = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
  await new Promise<void>(resolve => closed.close(() => resolve()))
  const outcomes: string[] = []
  const answers: Array<[number, string | undefined]> = []
  let reroutes = 0
  let next: string | undefined = origin
  const forwarder = new Forwarder({ connectTimeoutMs: 1000, onDone: o => outcomes.push(o) }, (res, status, code) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: code }))
  })
  t.teardown(() => forwarder.close())
  const via = await listen(t, (req, res) => forwarder.forward(req, res, dead, {}, {
    reroute: async () => { reroutes++; return next === undefined ? undefined : { base: next, extra: { 'x-hop': 'second' } } },
    onAnswer: (status, node) => answers.push([status, node])
  }))
  const res = await request(`${via}/api/v2/consumers/g/instances/worker-1/subscription`, 'POST', '{"topics":["a"]}')
  t.equal(res.status, 200, 'served by the node the hook named')
  t.same(JSON.parse(res.body), { body: '{"topics":["a"]}', hop: 'second' }, 'with the whole body and the new hop headers')
  t.same(answers, [[200, 'n3']], 'the answer\'s node is reported')
  t.same(outcomes, ['forwarded'])
  t.equal(reroutes, 1)
  // Nobody else holds it: 40403, as for any gone owner.
  next = undefined
  const gone = await request(`${via}/api/v2/consumers/g/instances/worker-1/subscription`, 'GET')
  t.same([gone.status, JSON.parse(gone.body).error_code], [404, 40403])
  t.same(outcomes, ['forwarded', 'gone'])
})

t.test('a kept-alive connection reset as a GET goes out: the GET is sent once more on a new connection', async t => {
  let n = 0
  const origin = await listen(t, (req, res) => {
    n++
    // The second request finds its kept-alive connection reset (the owner dropped it).
    if (n === 2) { req.socket.resetAndDestroy(); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ n }))
  })
  const outcomes: string[] = []
  const via = await relay(t, origin, outcomes)
  t.equal((await request(`${via}/x`, 'GET')).status, 200, 'first GET')
  const again = await request(`${via}/x`, 'GET')
  t.same([again.status, JSON.parse(again.body)], [200, { n: 3 }], 'the reset GET was sent again, on a new connection')
  t.same(outcomes, ['forwarded', 'forwarded'])
})
