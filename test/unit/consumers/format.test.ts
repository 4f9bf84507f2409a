import t from 'tap'
import { renderRecords, toWire, UNDECODABLE, type WireRecord } from '../../../plugins/consumers/format.js'
import type { BufferedRecord } from '../../../plugins/consumers/record-buffer.js'

function rec (offset: number, key: string | null, value: string | null, headers?: Array<[string, Buffer | null]>): BufferedRecord {
  const k = key === null ? null : Buffer.from(key)
  const v = value === null ? null : Buffer.from(value)
  return { topic: 'ns-abc.t', partition: offset % 3, offset, timestamp: 1700000000000 + offset, key: k, value: v, headers, size: (k?.length ?? 0) + (v?.length ?? 0) }
}

const records = [
  rec(0, null, '{"a":1}'),
  rec(1, '"k1"', '{"nested":{"list":[1,2.5,-3e-7,true,null]},"s":"quote \\" backslash \\\\ newline \\n tab \\t"}'),
  rec(2, '42', '"unicode: é 漢字 😀 \\u2028 \\u0000"'),
  rec(3, null, null),
  rec(4, '{"k":[]}', '[]', [['h1', Buffer.from('v1')], ['h2', null], ['h1', Buffer.from([0, 255, 10])]]),
  rec(5, '""', '""'),
  rec(6, null, '')
]

t.test('renderRecords writes exactly what JSON.stringify (and so the schema serializer) writes', async t => {
  for (const format of ['binary', 'json'] as const) {
    const wire = records.map(r => toWire(r, format, 't')).filter((w): w is WireRecord => w !== UNDECODABLE)
    t.equal(wire.length, records.length, `${format}: every record renders`)
    t.equal(renderRecords(wire, format), JSON.stringify(wire), format)
    t.same(JSON.parse(renderRecords(wire, format)), wire, `${format}: parses back to the records`)
  }
  t.equal(renderRecords([], 'binary'), '[]')
  t.equal(renderRecords([], 'json'), '[]')
})

t.test('topics are escaped and re-rendered when they change within one answer', async t => {
  const wire: WireRecord[] = [
    { topic: 'a', key: null, value: 'AA==', partition: 0, offset: 1, timestamp: -1 },
    { topic: 'b"c', key: 'AQ==', value: null, partition: 1, offset: 2, timestamp: 0 },
    { topic: 'a', key: null, value: 'AA==', partition: 0, offset: 2, timestamp: 5 }
  ]
  t.equal(renderRecords(wire, 'binary'), JSON.stringify(wire))
})

t.test('a non-string value on a binary answer is still rendered as JSON', async t => {
  const wire: WireRecord[] = [{ topic: 't', key: 7, value: { x: 'y"z' }, partition: 0, offset: 0, timestamp: 0 }]
  t.equal(renderRecords(wire, 'binary'), JSON.stringify(wire))
})
