import t from 'tap'
import { Delivery, jsonText, UNDECODABLE, type ConsumerFormat, type JsonText } from '../../../plugins/consumers/format.js'
import { toWire, wireOf, type WireRecord } from '../../helpers/wire.js'
import { FetchedRecord, type BufferedRecord } from '../../../plugins/kafka/driver.js'

function rec (offset: number, key: string | null, value: string | null, headers?: Array<[string, Buffer | null]>, topic = 'ns-abc.t'): BufferedRecord {
  const k = key === null ? null : Buffer.from(key)
  const v = value === null ? null : Buffer.from(value)
  return {
    topic,
    partition: offset % 3,
    offset,
    timestamp: 1700000000000 + offset,
    key: k,
    value: v,
    headers,
    size: (k?.length ?? 0) + (v?.length ?? 0)
  }
}

const records = [
  rec(0, null, '{"a":1}'),
  rec(1, '"k1"', '{"nested":{"list":[1,2.5,-3e-7,true,null]},"s":"quote \\" backslash \\\\ newline \\n tab \\t"}'),
  rec(2, '42', '"unicode: é 漢字 😀 \\u2028 \\u0000"'),
  rec(3, null, null),
  rec(4, '{"k":[]}', '[]', [['h1', Buffer.from('v1')], ['h2', null], ['h1', Buffer.from([0, 255, 10])], ['ключ', Buffer.from('x')]]),
  rec(5, '""', '""'),
  rec(6, null, ''),
  rec(7, ' 12345678901234567890 ', '{ "spaced" : [ 1 , 2 ] }\n')
]

const user = (k: string): string => k.slice(k.indexOf('.') + 1)

/** What the route does: take (json: check and keep the texts), then render. */
function deliver (recs: BufferedRecord[], format: ConsumerFormat): Delivery {
  if (format === 'binary') return new Delivery(recs, format, user)
  const texts: Array<JsonText | null> = []
  for (const r of recs) {
    const k = jsonText(r.key)
    const v = jsonText(r.value)
    if (k === UNDECODABLE || v === UNDECODABLE) throw new Error(`undecodable ${r.offset}`)
    texts.push(k, v)
  }
  return new Delivery(recs, format, user, texts)
}

t.test('binary: render writes exactly what JSON.stringify (and so the schema serializer) writes', async t => {
  const d = deliver(records, 'binary')
  const wire = wireOf(d)
  t.equal(wire.length, records.length)
  t.equal(d.render().toString('utf8'), JSON.stringify(wire))
  t.equal(wire[1]?.value, records[1]?.value?.toString('base64'), 'values are base64 of the bytes')
})

/** The same record as the fetch decoder buffers it: key and value as ranges of one shared block. */
function fetched (r: BufferedRecord, block: Buffer, at: number): FetchedRecord {
  const k = r.key === null ? -1 : at + block.write(r.key.toString('latin1'), at, 'latin1')
  const vStart = k < 0 ? at : k + 3
  const v = r.value === null ? -1 : vStart + block.write(r.value.toString('latin1'), vStart, 'latin1')
  return new FetchedRecord(r.topic, r.partition, r.offset, r.timestamp, block, at, k, vStart, v, r.headers, false)
}

t.test('binary: records of the fetch decoder (ranges of a block) render byte for byte as the same records do', async t => {
  const block = Buffer.alloc(8192, 0xee)
  const asFetched = records.map((r, i) => fetched(r, block, i * 512))
  t.same(asFetched.map(r => [r.key, r.value, r.size]), records.map(r => [r.key, r.value, r.size]), 'the same keys, values and sizes')
  t.equal(deliver(asFetched, 'binary').render().toString('utf8'), deliver(records, 'binary').render().toString('utf8'))
  t.equal(deliver(asFetched, 'json').render().toString('utf8'), deliver(records, 'json').render().toString('utf8'), 'and json')
})

t.test('json: render is the same JSON value as the records, with each text embedded as produced', async t => {
  const d = deliver(records, 'json')
  const text = d.render().toString('utf8')
  const wire = wireOf(d)
  t.same(JSON.parse(text), wire, 'parses back to the records')
  t.same(wire.map(w => w.value), [{ a: 1 }, { nested: { list: [1, 2.5, -3e-7, true, null] }, s: 'quote " backslash \\ newline \n tab \t' }, 'unicode: é 漢字 😀 \u2028 \u0000', null, [], '', '', { spaced: [1, 2] }], 'empty bytes are the empty text: ""')
  t.ok(text.includes('"key": 12345678901234567890 ,'), 'a large integer keeps its digits (JSON.parse would round it)')
  t.ok(Buffer.isBuffer(d.render()))
})

t.test('an empty delivery renders []', async t => {
  for (const format of ['binary', 'json'] as const) t.equal(deliver([], format).render().toString(), '[]')
})

t.test('topics are escaped and re-rendered when they change within one answer', async t => {
  const recs = [rec(1, null, 'AA', undefined, 'ns.a'), rec(2, 'k', null, undefined, 'ns.b"c'), rec(3, null, 'x', undefined, 'ns.a'), rec(4, null, 'y', undefined, 'ns.ü')]
  const d = deliver(recs, 'binary')
  t.equal(d.render().toString('utf8'), JSON.stringify(wireOf(d)))
  t.same(wireOf(d).map(w => w.topic), ['a', 'b"c', 'a', 'ü'])
})

t.test('the output grows past its estimate without losing bytes', async t => {
  // json texts of multi-byte characters take up to 3 bytes per UTF-16 unit: more than the estimate.
  const big = Array.from({ length: 50 }, (_, i) => rec(i, null, JSON.stringify('漢'.repeat(2000 + i))))
  const d = deliver(big, 'json')
  t.same(JSON.parse(d.render().toString('utf8')), wireOf(d))
})

t.test('json is lenient: one JSON value is embedded, other UTF-8 text is a string, only bytes not UTF-8 are undecodable', async t => {
  const seven = Buffer.from('7')
  t.equal(jsonText(seven), seven, 'UTF-8 JSON: the bytes themselves, embedded as they are')
  t.equal(jsonText(null), null)
  const text = (s: string | Buffer): unknown => {
    const j = jsonText(typeof s === 'string' ? Buffer.from(s) : s)
    return typeof j === 'string' ? JSON.parse(j) : j
  }
  t.equal(text('job-42'), 'job-42', 'plain text: a string (the Diaspora SDK README example)')
  t.equal(text(''), '', 'empty bytes: the empty string, not null (null is a Kafka null)')
  t.equal(text('{"a":'), '{"a":', 'broken JSON is text too')
  t.equal(text('"tab\tinside"'), '"tab\tinside"', 'a raw control character: text, escaped')
  t.equal(text('\ufeff{}'), '\ufeff{}', 'a byte-order mark: text (JSON.parse refuses it as JSON)')
  t.equal(text('quote " backslash \\ nl \n nul \u0000 \u2028 漢 😀'), 'quote " backslash \\ nl \n nul \u0000 \u2028 漢 😀', 'escaped so that it parses back to the same text')
  t.equal(jsonText(Buffer.from('job-42')), '"job-42"', 'the JSON text of the string')
  t.equal(jsonText(Buffer.from([0x22, 0xff, 0x22])), UNDECODABLE, 'not UTF-8, even when the decoded text would be JSON')
  t.equal(jsonText(Buffer.from([0x7b, 0xff])), UNDECODABLE)
  t.equal(jsonText(Buffer.from([0xed, 0xa0, 0x80])), UNDECODABLE, 'an encoded surrogate is not UTF-8')
  t.not(toWire(rec(0, null, 'not json'), 'json', 't'), UNDECODABLE)
  t.equal(toWire({ ...rec(0, null, null), value: Buffer.from([0xc3]) }, 'json', 't'), UNDECODABLE)
  const w = toWire({ ...rec(0, null, null), value: Buffer.from([0xc3]) }, 'binary', 't') as WireRecord
  t.equal(w.value, 'ww==', 'binary never fails')
})

t.test('json: text keys and values render as escaped strings, byte for byte as JSON.stringify writes them', async t => {
  const recs = [rec(0, 'job-42', 'plain text'), rec(1, '42', 'true'), rec(2, 'a"b\\c', 'line\nbreak\u0001'), rec(3, '{"k":', '[1,'), rec(4, '', '漢字 😀')]
  const d = deliver(recs, 'json')
  t.equal(d.render().toString('utf8'), JSON.stringify(wireOf(d)))
  t.same(wireOf(d).map(w => [w.key, w.value]), [['job-42', 'plain text'], [42, true], ['a"b\\c', 'line\nbreak\u0001'], ['{"k":', '[1,'], ['', '漢字 😀']])
})

t.test('headers: always a list of {name, value: base64 | null} in wire order, [] when none, in both formats', async t => {
  const headers: Array<[string, Buffer | null]> = [['h1', Buffer.from('v1')], ['h2', null], ['h1', Buffer.from([0, 255, 10])], ['ключ "q"', Buffer.alloc(0)], ['1', Buffer.from('n')]]
  const recs = [rec(0, null, '1'), rec(1, null, '2', headers), rec(2, null, '3', []), rec(3, 'k', '4', [['only', null]])]
  for (const format of ['binary', 'json'] as const) {
    const d = deliver(recs, format)
    const text = d.render().toString('utf8')
    t.equal(text, JSON.stringify(wireOf(d)), `${format}: rendered as JSON.stringify writes the records`)
    const parsed = JSON.parse(text) as WireRecord[]
    t.same(parsed.map(r => r.headers), [
      [],
      [{ name: 'h1', value: 'djE=' }, { name: 'h2', value: null }, { name: 'h1', value: 'AP8K' }, { name: 'ключ "q"', value: '' }, { name: '1', value: 'bg==' }],
      [],
      [{ name: 'only', value: null }]
    ], `${format}: order, repeats, null and empty values kept`)
    t.ok(text.includes('"timestamp":1700000000000,"headers":[]}'), `${format}: no headers is []`)
  }
  const asFetched = recs.map((r, i) => fetched(r, Buffer.alloc(2048), i * 256))
  t.equal(deliver(asFetched, 'binary').render().toString('utf8'), deliver(recs, 'binary').render().toString('utf8'), 'fetch-decoder records render the same headers')
})

t.test('offsets and timestamps (repeated and changing, every magnitude) are written exactly as JSON.stringify writes them', async t => {
  const edges = [0, 1, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, 999_999_999, 1e9, 1e9 + 1, 1_700_000_000_000,
    1_699_999_999_999,
    2 ** 53 - 1, 9_007_199_000_000_000 - 1, 8_999_999_999_999_999 - 1, 123_000_000_000, 4_000_000_000_000_000]
  const recs: BufferedRecord[] = []
  for (const n of edges) recs.push({ ...rec(0, null, '1'), partition: n % 1000, offset: n, timestamp: n })
  recs.push({ ...rec(0, null, '1'), timestamp: -1 }, { ...rec(0, null, '1'), timestamp: -1_700_000_000_000 })
  for (let i = 0; i < 2000; i++) {
    // Spread over every magnitude up to 2^53; timestamps alternate, so the kept timestamp text is replaced often.
    const n = Math.floor(((i * 0.6180339887) % 1) * 2 ** (1 + (i % 53))) // fixed, spread over [0, 2^k)
    recs.push({ ...rec(0, null, '1'), offset: n, timestamp: n - (i % 2) * 1e9 })
  }
  for (const format of ['binary', 'json'] as const) {
    const d = deliver(recs, format)
    t.equal(d.render().toString('utf8'), JSON.stringify(wireOf(d)), format)
  }
})
