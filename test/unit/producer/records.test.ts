import t from 'tap'
import { encodeRecord, encodeV2Record, isoTimestamp, parseTimestamp, recordSize, BATCH_ID_RE } from '../../../plugins/producer/records.js'
import { ApiError } from '../../../plugins/errors/errors.js'

const code = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (e) {
    return (e as ApiError).errorCode
  }
  return undefined
}

t.test('types to bytes', async t => {
  t.same(encodeRecord({ value: { type: 'JSON', data: 'text' } }).value, Buffer.from('"text"'))
  t.same(encodeRecord({ value: { type: 'JSON', data: { a: [1, { b: null }] } } }).value, Buffer.from('{"a":[1,{"b":null}]}'))
  t.same(encodeRecord({ value: { type: 'STRING', data: 'ü' } }).value, Buffer.from('ü'))
  t.same(encodeRecord({ value: { type: 'STRING', data: '' } }).value, Buffer.alloc(0), 'an empty string is empty bytes, not null')
  t.same(encodeRecord({ value: { type: 'BINARY', data: 'AAEC/w==' } }).value, Buffer.from([0, 1, 2, 255]))
  const r = encodeRecord({ key: { type: 'STRING', data: 'k' }, value: { type: 'JSON', data: null } })
  t.equal(r.value, null, 'data null is a Kafka null')
  t.equal(r.valueType, 'JSON')
  t.equal(encodeRecord({ key: { type: 'STRING', data: 'k' }, value: { type: 'BINARY' } }).value, null, 'absent data is a Kafka null')
  t.equal(encodeRecord({ key: { type: 'STRING', data: 'k' } }).value, null, 'an absent value is a Kafka null')
  t.equal(encodeRecord({ key: { type: 'STRING', data: 'k' } }).valueType, undefined)
})

t.test('bad input: clear codes, never a throw of another kind', async t => {
  t.equal(code(() => encodeRecord({})), 42206, 'no key and no value')
  t.equal(code(() => encodeRecord({ key: { type: 'STRING', data: null } })), 42206, 'typed nulls only')
  for (const type of ['AVRO', 'JSONSCHEMA', 'PROTOBUF', 'protobuf']) t.equal(code(() => encodeRecord({ value: { type, data: 1 } })), 42206, type)
  t.equal(code(() => encodeRecord({ value: { data: 1 } })), 42206, 'no type: the schema registry path')
  t.equal(code(() => encodeRecord({ value: { type: 'XML', data: 1 } })), 400)
  t.equal(code(() => encodeRecord({ value: { type: 7, data: 1 } })), 400)
  t.equal(code(() => encodeRecord({ value: { type: 'BINARY', data: 'abc' } })), 400, 'unpadded base64')
  t.equal(code(() => encodeRecord({ value: { type: 'BINARY', data: 'a-_b' } })), 400, 'url alphabet')
  t.equal(code(() => encodeRecord({ value: { type: 'BINARY', data: 12 } })), 400)
  t.equal(code(() => encodeRecord({ value: { type: 'STRING', data: {} } })), 400)
  t.equal(code(() => encodeRecord({ value: { type: 'JSON', data: 1, schema_id: 3 } })), 400, 'schema fields with a schemaless type')
  t.equal(code(() => encodeRecord({ value: { type: 'JSON', data: 1, extra: 1 } })), 400)
  t.equal(code(() => encodeRecord({ value: { type: 'JSON', data: 1 }, records: [] })), 400, 'unknown field')
  t.equal(code(() => encodeRecord({ id: 'a', value: { type: 'JSON', data: 1 } })), 400, 'id only in batches')
  t.equal(code(() => encodeRecord({ id: 'a', value: { type: 'JSON', data: 1 } }, new Set(['id']))), undefined)
  t.equal(code(() => encodeRecord([1])), 400)
  t.equal(code(() => encodeRecord(null)), 400)
  t.equal(code(() => encodeRecord({ value: 'x' })), 400, 'a bare value is not {type, data}')
  t.equal(code(() => encodeRecord({ partition_id: -1, value: { type: 'JSON', data: 1 } })), 40402)
  t.equal(code(() => encodeRecord({ partition_id: 1.5, value: { type: 'JSON', data: 1 } })), 400)
  t.equal(code(() => encodeRecord({ partition_id: '1', value: { type: 'JSON', data: 1 } })), 400)
  t.equal(code(() => encodeRecord({ headers: {}, value: { type: 'JSON', data: 1 } })), 400)
  t.equal(code(() => encodeRecord({ headers: [{ name: 1 }], value: { type: 'JSON', data: 1 } })), 400)
  t.equal(code(() => encodeRecord({ headers: [{ name: 'h', value: 'x' }], value: { type: 'JSON', data: 1 } })), 400)
  t.equal(code(() => encodeRecord({ headers: [{ name: 'h', value: 'eA==', more: 1 }], value: { type: 'JSON', data: 1 } })), 400)
})

t.test('headers keep order, repeats and nulls', async t => {
  const r = encodeRecord({ value: { type: 'JSON', data: 1 }, headers: [{ name: 'a', value: 'MQ==' }, { name: 'b', value: null }, { name: 'a' }] })
  t.same(r.headers, [{ name: 'a', value: Buffer.from('1') }, { name: 'b', value: null }, { name: 'a', value: null }])
  t.equal(recordSize(r), 1 + 1 + 1 + 1 + 1, 'value + names + values')
})

t.test('timestamps', async t => {
  t.equal(parseTimestamp('2026-10-26T15:04:05Z'), Date.UTC(2026, 9, 26, 15, 4, 5))
  t.equal(parseTimestamp('2026-10-26T15:04:05+00:00'), Date.UTC(2026, 9, 26, 15, 4, 5))
  t.equal(parseTimestamp('2026-01-02T00:00:00-05:00'), Date.UTC(2026, 0, 2, 5))
  t.equal(parseTimestamp('2026-01-02T00:00:00+0530'), Date.UTC(2026, 0, 1, 18, 30))
  t.equal(parseTimestamp('2026-10-26T15:04:05.123456789Z'), Date.UTC(2026, 9, 26, 15, 4, 5, 123))
  t.equal(parseTimestamp('2026-10-26T15:04:05.5Z'), Date.UTC(2026, 9, 26, 15, 4, 5, 500))
  t.equal(parseTimestamp(1000), 1_000_000, 'numbers are epoch seconds (Jackson)')
  t.equal(parseTimestamp(1.5), 1500)
  t.equal(code(() => parseTimestamp('2026-10-26T15:04:05')), 40005)
  t.equal(code(() => parseTimestamp('2026-10-26T15:04:05.123')), 40005)
  t.equal(code(() => parseTimestamp('2026-10-26')), 40005)
  t.equal(code(() => parseTimestamp('2026-02-30T00:00:00Z')), 400)
  t.equal(code(() => parseTimestamp('2026-10-26T25:00:00Z')), 400)
  t.equal(code(() => parseTimestamp('yesterday')), 400)
  t.equal(code(() => parseTimestamp(true)), 400)
  t.equal(code(() => parseTimestamp(-1)), 400)
  t.equal(code(() => parseTimestamp(Number.MAX_VALUE)), 400)
  t.equal(isoTimestamp(Date.UTC(2026, 0, 1)), '2026-01-01T00:00:00Z')
  t.equal(isoTimestamp(Date.UTC(2026, 0, 1, 0, 0, 0, 7)), '2026-01-01T00:00:00.007Z')
  t.equal(isoTimestamp(Date.UTC(2026, 0, 1, 0, 0, 0, 7)), '2026-01-01T00:00:00.007Z', 'the same again (kept)')
  t.equal(isoTimestamp(Date.UTC(2026, 0, 1)), '2026-01-01T00:00:00Z', 'then another')
})

t.test('v2 records', async t => {
  t.same(encodeV2Record({ key: 'aw==', value: 'dg==', partition: 1 }, 'binary'), { key: Buffer.from('k'), value: Buffer.from('v'), headers: [], partition: 1 })
  t.same(encodeV2Record({ value: { a: 1 } }, 'json').value, Buffer.from('{"a":1}'))
  t.same(encodeV2Record({ value: 'k' }, 'json').value, Buffer.from('"k"'))
  t.equal(code(() => encodeV2Record({ value: 'not base64' }, 'binary')), 400)
  t.equal(code(() => encodeV2Record({}, 'binary')), 42206)
  t.equal(code(() => encodeV2Record({ value: 'AA==', partition: -2 }, 'binary')), 40402)
  t.equal(code(() => encodeV2Record({ value: 'AA==', topic: 'x' }, 'binary')), 400)
})

t.test('batch ids', async t => {
  t.ok(BATCH_ID_RE.test('a'))
  t.ok(BATCH_ID_RE.test('A-z_09'))
  t.ok(BATCH_ID_RE.test('x'.repeat(80)))
  t.notOk(BATCH_ID_RE.test(''))
  t.notOk(BATCH_ID_RE.test('x'.repeat(81)))
  t.notOk(BATCH_ID_RE.test('a.b'))
  t.notOk(BATCH_ID_RE.test('a\n'))
})

t.test('JSON data nested beyond the stack is a 400 of its record, not a RangeError', async t => {
  let deep: unknown = 1
  for (let i = 0; i < 200_000; i++) deep = [deep]
  t.equal(code(() => encodeRecord({ value: { type: 'JSON', data: deep } })), 400, 'v3 JSON value')
  t.equal(code(() => encodeRecord({ key: { type: 'JSON', data: deep }, value: { type: 'STRING', data: 'x' } })), 400, 'v3 JSON key')
  t.equal(code(() => encodeV2Record({ value: deep }, 'json')), 400, 'v2 json value')
})

t.test('years before 100 are not read as 19xx', async t => {
  t.equal(code(() => parseTimestamp('0080-01-01T00:00:00Z')), 400, 'year 80 is before 1970, not 1980')
  t.equal(code(() => parseTimestamp('0099-12-31T23:59:59Z')), 400)
  t.equal(parseTimestamp('1970-01-01T00:00:00Z'), 0)
  t.equal(parseTimestamp('9999-12-31T23:59:59Z'), Date.UTC(9999, 11, 31, 23, 59, 59))
})

t.test('a deep value where a string belongs is a 400 too', async t => {
  let deep: unknown = 1
  for (let i = 0; i < 200_000; i++) deep = [deep]
  t.equal(code(() => encodeRecord({ value: { type: 'STRING', data: deep } })), 400)
  t.equal(code(() => encodeRecord({ value: { type: 'BINARY', data: deep } })), 400)
  t.equal(code(() => encodeV2Record({ value: deep }, 'binary')), 400)
})

t.test('a UTC offset with more than 59 minutes is refused', async t => {
  t.equal(code(() => parseTimestamp('2026-01-02T00:00:00+05:99')), 400)
  t.equal(code(() => parseTimestamp('2026-01-02T00:00:00-0160')), 400)
  t.equal(parseTimestamp('2026-01-02T00:00:00+05:59'), Date.UTC(2026, 0, 1, 18, 1))
})
