/**
 * Produce over REST (issue 12, Produce items 1–6): single records, batches, streaming mode and v2 produce,
 * against the real broker and the whole app. Records are read back byte for byte by a plain kafkajs consumer.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { KafkaMessage } from 'kafkajs'
import { build } from '../helpers/app.js'
import { apiUser, shortName, BINARY, JSONV2, type ApiUser } from '../helpers/api.js'
import { testKafka } from '../helpers/broker.js'

// A small record limit, so that a too-large record fits in a request body.
const { app, globus } = await build(t, { env: { PRODUCE_MAX_RECORD_BYTES: '100000' } })
const alice = await apiUser(app, globus)
const bob = await apiUser(app, globus)

const JSON_CT = { 'content-type': 'application/json' }

/** POST a v3 body as the SDK sends it. */
function post (user: ApiUser, path: string, body: unknown): ReturnType<ApiUser['req']> {
  return user.req('POST', `${user.ns}/topics/${path}`, typeof body === 'string' ? body : JSON.stringify(body), JSON_CT)
}

interface Read {
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: Array<[string, Buffer | null]>
  timestamp: string
}

/** Every record of a Kafka topic, read from the beginning by a plain kafkajs consumer. */
async function readTopic (topic: string, count: number): Promise<Read[]> {
  const kafka = testKafka()
  // Frequent metadata refresh: a group leader that saw a new topic without all its partitions would otherwise
  // leave those unassigned until kafkajs' 5-minute refresh.
  const consumer = kafka.consumer({ groupId: shortName('read'), maxWaitTimeInMs: 100, metadataMaxAge: 1000 })
  await consumer.connect()
  const out: Read[] = []
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })
  const deadline = setTimeout(done, 20_000)
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }: { partition: number, message: KafkaMessage }) => {
        const headers: Array<[string, Buffer | null]> = []
        for (const [k, v] of Object.entries(message.headers ?? {})) {
          for (const one of Array.isArray(v) ? v : [v]) {
            headers.push([k, one === undefined || one === null ? null : Buffer.from(one)])
          }
        }
        const { offset, key, value, timestamp } = message
        out.push({ partition, offset, key, value, headers, timestamp })
        if (out.length >= count) done()
      }
    })
    await finished
  } finally {
    clearTimeout(deadline)
    await consumer.disconnect()
  }
  return out.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))
}

t.test('one record of each type is written byte for byte and answered after acks=all', async t => {
  const topic = await alice.topic(1)
  const bytes = randomBytes(64)
  const cases: Array<{ body: Record<string, unknown>, key: Buffer | null, value: Buffer | null }> = [
    { body: { key: { type: 'STRING', data: 'job-42' }, value: { type: 'JSON', data: 'text' } }, key: Buffer.from('job-42'), value: Buffer.from('"text"') },
    { body: { value: { type: 'JSON', data: { b: [1, 2, { c: null }], a: 'é' } } }, key: null, value: Buffer.from('{"b":[1,2,{"c":null}],"a":"é"}') },
    { body: { key: { type: 'BINARY', data: bytes.toString('base64') }, value: { type: 'BINARY', data: '' } }, key: bytes, value: Buffer.alloc(0) },
    { body: { key: { type: 'JSON', data: 42 }, value: { type: 'STRING', data: '' } }, key: Buffer.from('42'), value: Buffer.alloc(0) },
    { body: { key: { type: 'STRING', data: 'k' }, value: { type: 'BINARY', data: null } }, key: Buffer.from('k'), value: null },
    { body: { key: { type: 'string', data: 'lower' }, value: { type: 'json' } }, key: Buffer.from('lower'), value: null }
  ]
  for (const [i, c] of cases.entries()) {
    const res = await post(alice, `${topic}/records`, c.body)
    t.equal(res.statusCode, 200, `case ${i}: ${res.body}`)
    t.match(res.headers['content-type'], /^application\/json/)
    const body = res.json()
    t.equal(body.error_code, 200)
    t.equal(body.topic_name, topic)
    t.equal(body.partition_id, 0)
    t.equal(body.offset, i)
    t.match(body.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)
  }
  const read = await readTopic(`${alice.ns}.${topic}`, cases.length)
  t.equal(read.length, cases.length)
  for (const [i, c] of cases.entries()) {
    t.same(read[i]?.key, c.key, `key ${i}`)
    t.same(read[i]?.value, c.value, `value ${i}`)
  }
})

t.test('headers keep order, repeats and nulls; timestamps with offsets; numeric timestamps are seconds', async t => {
  const topic = await alice.topic(1)
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  const r1 = await post(alice, `${topic}/records`, {
    value: { type: 'STRING', data: 'v' },
    headers: [{ name: 'a', value: b64('1') }, { name: 'b', value: null }, { name: 'a', value: b64('2') }],
    timestamp: '2026-01-02T00:00:00-05:00'
  })
  t.equal(r1.statusCode, 200, r1.body)
  t.equal(r1.json().timestamp, '2026-01-02T05:00:00Z')
  const r2 = await post(alice, `${topic}/records`, { value: { type: 'STRING', data: 'w' }, timestamp: '2026-10-26T15:04:05.123Z' })
  t.equal(r2.json().timestamp, '2026-10-26T15:04:05.123Z')
  const r3 = await post(alice, `${topic}/records`, { value: { type: 'STRING', data: 'x' }, timestamp: 1000 })
  t.equal(r3.json().timestamp, '1970-01-01T00:16:40Z')
  const read = await readTopic(`${alice.ns}.${topic}`, 3)
  // kafkajs' consumer groups repeated names (a, b, a reads as a, a, b); the values and nulls are exact.
  t.same(read[0]?.headers, [['a', Buffer.from('1')], ['a', Buffer.from('2')], ['b', null]])
  t.equal(read[0]?.timestamp, String(Date.parse('2026-01-02T05:00:00Z')))
  t.equal(read[1]?.timestamp, String(Date.parse('2026-10-26T15:04:05.123Z')))
  t.equal(read[2]?.timestamp, '1000000')
})

t.test('error rows of a single record are real HTTP statuses', async t => {
  const topic = await alice.topic(2)
  const cases: Array<[string, unknown, number, number]> = [
    ['no key, no value', { headers: [] }, 422, 42206],
    ['AVRO', { value: { type: 'AVRO', data: {} } }, 422, 42206],
    ['no type', { value: { data: 'x' } }, 422, 42206],
    ['bad base64', { value: { type: 'BINARY', data: 'not base64!' } }, 400, 400],
    ['STRING not a string', { value: { type: 'STRING', data: 5 } }, 400, 400],
    ['unknown field', { value: { type: 'JSON', data: 1 }, records: [] }, 400, 400],
    ['timestamp without offset', { value: { type: 'JSON', data: 1 }, timestamp: '2026-10-26T15:04:05' }, 400, 40005],
    ['timestamp garbage', { value: { type: 'JSON', data: 1 }, timestamp: 'yesterday' }, 400, 400],
    ['negative partition', { partition_id: -1, value: { type: 'JSON', data: 1 } }, 404, 40402],
    ['partition beyond the topic', { partition_id: 2, value: { type: 'JSON', data: 1 } }, 404, 40402],
    ['not an object', '[1,2]', 400, 400],
    ['broken JSON', '{"value": ', 400, 400],
    ['empty body', '', 422, 42206]
  ]
  for (const [name, body, status, code] of cases) {
    const res = await post(alice, `${topic}/records`, body)
    t.equal(res.statusCode, status, `${name}: ${res.body}`)
    t.equal(res.json().error_code, code, name)
    t.type(res.json().message, 'string')
  }
  const missing = await post(alice, `${shortName()}/records`, { value: { type: 'JSON', data: 1 } })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error_code, 40401)
  // Bob's namespace, and a topic that exists there: the same 404 as an unknown namespace.
  const bobTopic = await bob.topic(1)
  const foreign = await alice.req('POST', `${bob.ns}/topics/${bobTopic}/records`, JSON.stringify({ value: { type: 'JSON', data: 1 } }), JSON_CT)
  t.equal(foreign.statusCode, 404)
  t.equal(foreign.json().error_code, 40401)
  const unknownNs = await alice.req('POST', `ns-${shortName('x')}/topics/${bobTopic}/records`, JSON.stringify({ value: { type: 'JSON', data: 1 } }), JSON_CT)
  t.equal(unknownNs.statusCode, 404)
  t.equal(unknownNs.json().error_code, 40401)
  const text = await alice.req('POST', `${alice.ns}/topics/${topic}/records`, 'x', { 'content-type': 'text/plain' })
  t.equal(text.statusCode, 415)
  // Nothing of the above was written.
  const admin = testKafka().admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(`${alice.ns}.${topic}`)
  await admin.disconnect()
  t.same(offsets.map(o => o.high), ['0', '0'])
})

t.test('records:batch: 207 with successes and failures in order; request-level faults write nothing', async t => {
  const topic = await alice.topic(3)
  const big = Buffer.alloc(100_001).toString('base64')
  const res = await post(alice, `${topic}/records:batch`, {
    entries: [
      { id: 'a', key: { type: 'STRING', data: 'k1' }, value: { type: 'JSON', data: { n: 1 } } },
      { id: 'b', value: { type: 'JSON', data: 1 }, timestamp: '2026-10-26T15:04:05' },
      { id: 'c', value: { type: 'BINARY', data: big } },
      { id: 'd', value: { type: 'PROTOBUF', data: {} } },
      { id: 'e', partition_id: 2, value: { type: 'STRING', data: 'p2' } },
      { id: 'f', partition_id: 9, value: { type: 'STRING', data: 'p9' } },
      { id: 'g_-9', value: { type: 'STRING', data: 'last' }, headers: [{ name: 'h', value: null }] }
    ]
  })
  t.equal(res.statusCode, 207, res.body)
  const body = res.json()
  t.same(body.successes.map((s: { id: string }) => s.id), ['a', 'e', 'g_-9'])
  t.same(body.failures.map((f: { id: string, error_code: number }) => [f.id, f.error_code]), [['b', 40005], ['c', 41302], ['d', 42206], ['f', 40402]])
  t.match(body.successes[1], { id: 'e', topic_name: topic, partition_id: 2 })
  const read = await readTopic(`${alice.ns}.${topic}`, 3)
  t.equal(read.length, 3)
  // Each reported (partition, offset) holds that entry's record.
  const expected: Record<string, string> = { a: '{"n":1}', e: 'p2', 'g_-9': 'last' }
  for (const s of body.successes as Array<{ id: string, partition_id: number, offset: number }>) {
    const r = read.find(x => x.partition === s.partition_id && x.offset === String(s.offset))
    t.equal(r?.value?.toString(), expected[s.id], `entry ${s.id}`)
  }

  const faults: Array<[string, unknown, number]> = [
    ['not a list', { entries: { id: 'a' } }, 422],
    ['bad id', { entries: [{ id: 'a b', value: { type: 'JSON', data: 1 } }] }, 422],
    ['numeric id', { entries: [{ id: 1, value: { type: 'JSON', data: 1 } }] }, 422],
    ['long id', { entries: [{ id: 'x'.repeat(81), value: { type: 'JSON', data: 1 } }] }, 422],
    ['duplicate ids', { entries: [{ id: 'a', value: { type: 'JSON', data: 1 } }, { id: 'a', value: { type: 'JSON', data: 2 } }] }, 422],
    ['empty', { entries: [] }, 422],
    ['unknown field', { records: [] }, 422],
    ['too many', { entries: Array.from({ length: 501 }, (_, i) => ({ id: String(i), value: { type: 'JSON', data: i } })) }, 422],
    ['array body', [1], 400]
  ]
  for (const [name, b, status] of faults) {
    const r = await post(alice, `${topic}/records:batch`, b)
    t.equal(r.statusCode, status, `${name}: ${r.body}`)
    t.type(r.json().error_code, 'number', name)
  }
  const admin = testKafka().admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(`${alice.ns}.${topic}`)
  await admin.disconnect()
  t.equal(offsets.reduce((n, o) => n + Number(o.high), 0), 3, 'the faulty requests wrote nothing')
})

t.test('v2 produce: binary and json formats', async t => {
  const topic = await alice.topic(1)
  const bin = await alice.req('POST', `${alice.ns}/topics/${topic}`, { records: [{ key: Buffer.from('k').toString('base64'), value: Buffer.from('v').toString('base64') }, { value: 'AAE=', partition: 0 }] }, { 'content-type': BINARY })
  t.equal(bin.statusCode, 200, bin.body)
  t.same(bin.json(), {
    offsets: [
      { partition: 0, offset: 0, error_code: null, error: null },
      { partition: 0, offset: 1, error_code: null, error: null }
    ],
    key_schema_id: null,
    value_schema_id: null
  })
  const json = await alice.req('POST', `${alice.ns}/topics/${topic}`, { records: [{ value: { a: 1 } }, { key: 'k', value: [true] }] }, { 'content-type': JSONV2 })
  t.equal(json.statusCode, 200, json.body)
  t.same(json.json().offsets.map((o: { offset: number }) => o.offset), [2, 3])
  const read = await readTopic(`${alice.ns}.${topic}`, 4)
  t.same(read.map(r => r.value?.toString('hex')), [Buffer.from('v').toString('hex'), '0001', Buffer.from('{"a":1}').toString('hex'), Buffer.from('[true]').toString('hex')])
  t.same(read[3]?.key, Buffer.from('"k"'))
  const avro = await alice.req('POST', `${alice.ns}/topics/${topic}`, { records: [{ value: 1 }] }, { 'content-type': 'application/vnd.kafka.avro.v2+json' })
  t.equal(avro.statusCode, 422)
  t.equal(avro.json().error_code, 42206)
  const badB64 = await alice.req('POST', `${alice.ns}/topics/${topic}`, { records: [{ value: '***' }] }, { 'content-type': BINARY })
  t.equal(badB64.statusCode, 400)
  const beyond = await alice.req('POST', `${alice.ns}/topics/${topic}`, { records: [{ value: 'AA==', partition: 5 }] }, { 'content-type': BINARY })
  t.equal(beyond.statusCode, 200)
  t.equal(beyond.json().offsets[0].error_code, 40402)
})

t.test('metrics: records, bytes, errors by code, send durations', async t => {
  const token = `metrics-${randomBytes(12).toString('hex')}`
  const { app: app2, globus: g2 } = await build(t, { env: { METRICS_TOKEN: token } })
  const user = await apiUser(app2, g2)
  const topic = await user.topic(1)
  const send = (body: unknown) => user.req('POST', `${user.ns}/topics/${topic}/records`, JSON.stringify(body), JSON_CT)
  t.equal((await send({ value: { type: 'STRING', data: 'abc' } })).statusCode, 200)
  t.equal((await send({ key: { type: 'STRING', data: 'k' }, value: { type: 'STRING', data: 'de' } })).statusCode, 200)
  t.equal((await send({ value: { type: 'AVRO', data: 1 } })).statusCode, 422)
  t.equal((await send({ partition_id: 3, value: { type: 'JSON', data: 1 } })).statusCode, 404)
  const text = (await app2.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })).body
  t.match(text, /^diaspora_produce_records_total 2$/m)
  t.match(text, /^diaspora_produce_bytes_total 6$/m)
  t.match(text, /^diaspora_produce_errors_total\{error_code="40402"\} 1$/m)
  t.match(text, /^diaspora_produce_send_duration_seconds_count 2$/m)
  t.match(text, /^diaspora_produce_in_flight_bytes 0$/m)
})

t.test('routing: produce paths never meet the management routes', async t => {
  // A topic named "topics" is managed at /{ns}/topics and produced to at /{ns}/topics/topics/records.
  const created = await alice.req('POST', `${alice.ns}/topics`, {}, JSON_CT)
  t.equal(created.statusCode, 201, created.body)
  const res = await post(alice, 'topics/records', { value: { type: 'JSON', data: 1 } })
  t.equal(res.statusCode, 200, res.body)
  const v2 = await alice.req('POST', `${alice.ns}/topics/topics`, { records: [{ value: 1 }] }, { 'content-type': JSONV2 })
  t.equal(v2.statusCode, 200, v2.body)
  t.equal((await alice.req('DELETE', `${alice.ns}/topics`)).statusCode, 200)
  // Other methods on produce paths: a Confluent-shaped 404.
  const get = await alice.req('GET', `${alice.ns}/topics/topics/records`)
  t.equal(get.statusCode, 404)
  t.type(get.json().error_code, 'number')
  // The colon is literal: records%3Abatch is not the batch route's spelling the SDK uses, records:batch is.
  const batch = await alice.req('POST', `/api/v3/${alice.ns}/topics/nope-${shortName()}/records:batch`, JSON.stringify({ entries: [] }), JSON_CT)
  t.equal(batch.statusCode, 404)
  t.equal(batch.json().error_code, 40401)
})

t.test('as the SDK sends it: Bearer token and Subject header', async t => {
  const topic = await alice.topic(1)
  const body = JSON.stringify({ key: { type: 'STRING', data: 'job-42' }, value: { type: 'JSON', data: 'text' }, headers: [{ name: 'h', value: 'YQ==' }], timestamp: '2026-10-26T15:04:05+00:00' })
  const ok = await alice.req('POST', `${alice.ns}/topics/${topic}/records`, body, { ...JSON_CT, subject: alice.subject })
  t.equal(ok.statusCode, 200, ok.body)
  t.match(ok.json(), { topic_name: topic, partition_id: 0, offset: 0, timestamp: '2026-10-26T15:04:05Z' })
  const other = await alice.req('POST', `${alice.ns}/topics/${topic}/records`, body, { ...JSON_CT, subject: bob.subject })
  t.equal(other.statusCode, 403)
  t.type(other.json().error_code, 'number')
  const anonymous = await app.inject({ method: 'POST', url: `/api/v3/${alice.ns}/topics/${topic}/records`, payload: body, headers: JSON_CT })
  t.equal(anonymous.statusCode, 401)
  t.type(anonymous.json().error_code, 'number')
})

t.test('a deleted topic does not break producing to the others', async t => {
  const doomed = await alice.topic(1)
  t.equal((await post(alice, `${doomed}/records`, { value: { type: 'JSON', data: 1 } })).statusCode, 200)
  t.equal((await alice.req('DELETE', `${alice.ns}/${doomed}`)).statusCode, 200)
  const gone = await post(alice, `${doomed}/records`, { value: { type: 'JSON', data: 2 } })
  t.equal(gone.statusCode, 404)
  t.equal(gone.json().error_code, 40401)
  // kafkajs would keep asking for the deleted topic's metadata, and fail, on every send to a new topic.
  const next = await alice.topic(1)
  const res = await post(alice, `${next}/records`, { value: { type: 'JSON', data: 3 } })
  t.equal(res.statusCode, 200, res.body)
})
