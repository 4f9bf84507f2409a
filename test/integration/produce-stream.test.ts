/**
 * Confluent's streaming mode on POST …/records over real HTTP (issue 12, Produce item 3): records written as
 * they arrive in one chunked request, one result line per record in order, a bad record failing alone, a
 * syntax error ending the stream; a body of known length holding several records answers as a stream too.
 */
import t from 'tap'
import http from 'node:http'
import { build } from '../helpers/app.js'
import { apiUser, type ApiUser } from '../helpers/api.js'
import { testKafka } from '../helpers/broker.js'

const { app, globus, url } = await build(t, { listen: true })
const alice = await apiUser(app, globus)

interface StreamClient {
  status: Promise<number>
  headers: Promise<http.IncomingHttpHeaders>
  /** The next result line (resolves when it arrives). */
  next (): Promise<Record<string, unknown>>
  send (text: string): void
  end (): void
  /** Every remaining line once the response ended. */
  rest (): Promise<Array<Record<string, unknown>>>
}

function openStream (user: ApiUser, topic: string, base = url): StreamClient {
  const target = new URL(`/api/v3/${user.ns}/topics/${topic}/records`, base)
  const req = http.request(target, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }
  })
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<(l: Record<string, unknown>) => void> = []
  let ended!: () => void
  const done = new Promise<void>(resolve => { ended = resolve })
  const response = new Promise<http.IncomingMessage>((resolve, reject) => { req.on('response', resolve); req.on('error', reject) })
  response.then(res => {
    let buf = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      buf += chunk
      let i
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, i)) as Record<string, unknown>
        buf = buf.slice(i + 2)
        const w = waiters.shift()
        if (w) w(line)
        else lines.push(line)
      }
    })
    res.on('end', () => ended())
  }, () => ended())
  // The request line and headers go out at once; the records follow one by one.
  req.flushHeaders()
  return {
    status: response.then(r => r.statusCode ?? 0),
    headers: response.then(r => r.headers),
    next: () => {
      const l = lines.shift()
      return l ? Promise.resolve(l) : new Promise(resolve => waiters.push(resolve))
    },
    send: (text) => { req.write(text) },
    end: () => { req.end() },
    rest: async () => { await done; return lines.splice(0) }
  }
}

const rec = (data: unknown) => JSON.stringify({ value: { type: 'JSON', data } })

t.test('records are written as they arrive and answered in order; a bad record fails alone', async t => {
  const topic = await alice.topic(1)
  const s = openStream(alice, topic)
  s.send(rec(1))
  // The result of the first record arrives before the second record is sent.
  t.equal(await s.status, 200)
  t.match((await s.headers)['content-type'], /^application\/json/)
  t.match(await s.next(), { error_code: 200, topic_name: topic, partition_id: 0, offset: 0 })
  s.send(rec(2) + '\n' + JSON.stringify({ value: { type: 'AVRO', data: {} } }))
  t.match(await s.next(), { error_code: 200, offset: 1 })
  t.match(await s.next(), { error_code: 42206 })
  // Split across chunks, in the middle of a multi-byte character.
  const text = rec('ü€')
  const bytes = Buffer.from(text)
  const cut = bytes.indexOf(Buffer.from('€')) + 1
  s.send(bytes.subarray(0, cut) as unknown as string)
  s.send(bytes.subarray(cut) as unknown as string)
  t.match(await s.next(), { error_code: 200, offset: 2 })
  s.end()
  t.same(await s.rest(), [])
  const admin = testKafka().admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(`${alice.ns}.${topic}`)
  await admin.disconnect()
  t.equal(offsets[0]?.high, '3')
})

t.test('a syntax error in the middle ends the stream with an error result', async t => {
  const topic = await alice.topic(1)
  const s = openStream(alice, topic)
  s.send(rec('a') + rec('b') + '{"value": oops} ' + rec('never'))
  s.end()
  t.equal(await s.status, 200)
  const lines = [await s.next(), await s.next(), ...await s.rest()]
  t.equal(lines.length, 3, JSON.stringify(lines))
  t.match(lines[0], { error_code: 200, offset: 0 })
  t.match(lines[1], { error_code: 200, offset: 1 })
  t.match(lines[2], { error_code: 400 })
  const admin = testKafka().admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(`${alice.ns}.${topic}`)
  await admin.disconnect()
  t.equal(offsets[0]?.high, '2', 'the record after the syntax error was never written')
})

t.test('a body of known length: one record has a real status, several are a stream', async t => {
  const topic = await alice.topic(1)
  const post = (body: string) => fetch(new URL(`/api/v3/${alice.ns}/topics/${topic}/records`, url), {
    method: 'POST', headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' }, body
  })
  const one = await post(rec(1))
  t.equal(one.status, 200)
  t.match(await one.json(), { error_code: 200, offset: 0 })
  const bad = await post(JSON.stringify({ value: { type: 'JSON', data: 1 }, timestamp: '2026-10-26T15:04:05' }))
  t.equal(bad.status, 400)
  t.match(await bad.json(), { error_code: 40005 })
  const many = await post(`${rec(2)} ${rec(3)}\n${rec(4)}`)
  t.equal(many.status, 200)
  const lines = (await many.text()).split('\r\n').filter(Boolean).map(l => JSON.parse(l) as { offset: number })
  t.same(lines.map(l => l.offset), [1, 2, 3])
})

t.test('a long stream keeps flowing through back-pressure', async t => {
  const topic = await alice.topic(2)
  const s = openStream(alice, topic)
  const n = 3000
  const payload = 'x'.repeat(200)
  let sent = 0
  // Send in slices, and read as we go.
  const results: Array<Record<string, unknown>> = []
  while (sent < n) {
    let chunk = ''
    for (let i = 0; i < 100 && sent < n; i++, sent++) chunk += JSON.stringify({ key: { type: 'STRING', data: `k${sent}` }, value: { type: 'STRING', data: payload } })
    s.send(chunk)
    while (results.length < sent - 200) results.push(await s.next())
  }
  s.end()
  while (results.length < n) results.push(await s.next())
  t.equal(results.length, n)
  t.ok(results.every(r => r.error_code === 200), 'every record written')
  const admin = testKafka().admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(`${alice.ns}.${topic}`)
  await admin.disconnect()
  t.equal(offsets.reduce((a, o) => a + Number(o.high), 0), n)
})

t.test('a stream meets a tiny in-flight budget with back-pressure, not with 429s', async t => {
  const tiny = await build(t, { listen: true, env: { PRODUCE_MAX_IN_FLIGHT_BYTES: '300', PRODUCE_MAX_RECORD_BYTES: '300' } })
  const user = await apiUser(tiny.app, tiny.globus)
  const topic = await user.topic(1)
  const s = openStream(user, topic, tiny.url)
  const n = 200
  let body = ''
  for (let i = 0; i < n; i++) body += JSON.stringify({ value: { type: 'STRING', data: `${i}:${'y'.repeat(100)}` } })
  s.send(body)
  s.end()
  const results: Array<Record<string, unknown>> = []
  while (results.length < n) results.push(await s.next())
  t.same(results.map(r => r.error_code === 200 ? r.offset : r.error_code), Array.from({ length: n }, (_, i) => i), 'every record written, in order')
})

t.test('a stream outlives the bound on request bodies; only silence ends it', async t => {
  // A tiny bound on bodies: a slow non-stream body gets its 408, the stream opened before it goes on.
  const short = await build(t, { listen: true, env: { REQUEST_BODY_TIMEOUT_MS: '200', PRODUCE_STREAM_IDLE_TIMEOUT_MS: '600000' } })
  const user = await apiUser(short.app, short.globus)
  const topic = await user.topic(1)
  const s = openStream(user, topic, short.url)
  s.send(rec(1))
  t.match(await s.next(), { error_code: 200, offset: 0 })
  // Opened after the stream, so once it is cut, the stream has outlived the bound too.
  const slow = await new Promise<{ status: number, body: Record<string, unknown> }>((resolve, reject) => {
    const req = http.request(new URL(`/api/v3/${user.ns}/topics/${topic}/records`, short.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json', 'content-length': '1000' }
    })
    req.on('response', res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }))
    })
    req.on('error', reject)
    req.write(rec(2).slice(0, 10))
  })
  t.equal(slow.status, 408, 'a body of known length that never arrives is cut')
  t.match(slow.body, { error_code: 408 }, 'in the Confluent shape of the produce routes')
  s.send(rec(3))
  t.match(await s.next(), { error_code: 200, offset: 1 }, 'the stream still takes records')
  s.end()
  t.same(await s.rest(), [])
})

t.test('a stream that sends nothing for PRODUCE_STREAM_IDLE_TIMEOUT_MS ends with a 408 result', async t => {
  const idle = await build(t, { listen: true, env: { PRODUCE_STREAM_IDLE_TIMEOUT_MS: '200' } })
  const user = await apiUser(idle.app, idle.globus)
  const topic = await user.topic(1)
  const s = openStream(user, topic, idle.url)
  s.send(rec(1))
  t.match(await s.next(), { error_code: 200, offset: 0 })
  // Half a record, then silence.
  s.send(rec(2).slice(0, 10))
  t.match(await s.next(), { error_code: 408, message: /sent nothing/ })
  t.same(await s.rest(), [], 'the response ends after the error result')
  const admin = testKafka().admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(`${user.ns}.${topic}`)
  await admin.disconnect()
  t.equal(offsets[0]?.high, '1', 'only the complete record was written')
})

t.test('shutdown ends a stream with a 503 result instead of waiting for it', async t => {
  const node = await build(t, { listen: true })
  const user = await apiUser(node.app, node.globus)
  const topic = await user.topic(1)
  const s = openStream(user, topic, node.url)
  s.send(rec(1))
  t.match(await s.next(), { error_code: 200, offset: 0 })
  const closed = node.app.close()
  // The engine drains first (preClose); a record after that is refused with nothing sent, and ends the stream.
  await new Promise<void>(resolve => {
    const check = (): void => { if (node.app.producer.draining) resolve(); else setImmediate(check) }
    check()
  })
  s.send(rec(2))
  t.match(await s.next(), { error_code: 50302 })
  t.same(await s.rest(), [], 'the response ends')
  await closed
  t.pass('the server closed with the stream still open on the client side')
})

t.test('a client that stops reading its results is cut off after the idle bound', async t => {
  const node = await build(t, { listen: true, env: { PRODUCE_STREAM_IDLE_TIMEOUT_MS: '300' } })
  const user = await apiUser(node.app, node.globus)
  const topic = await user.topic(1)
  const req = http.request(new URL(`/api/v3/${user.ns}/topics/${topic}/records`, node.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }
  })
  const state = { closed: false }
  const gone = new Promise<void>(resolve => {
    const end = (): void => { state.closed = true; resolve() }
    req.on('error', end)
    req.on('close', end)
  })
  // The results are never read: the server's output backs up until its writes wait.
  req.on('response', res => { res.pause() })
  req.flushHeaders()
  let chunk = ''
  for (let i = 0; i < 200; i++) chunk += rec(`${i}:${'z'.repeat(50)}`)
  // Send until the server cuts the connection (or our own writes wait, then until they drain or it is cut).
  while (!state.closed) {
    if (!req.write(chunk)) await Promise.race([new Promise(resolve => req.once('drain', resolve)), gone])
  }
  await gone
  t.ok(state.closed, 'the connection was closed by the server')
})
