import t from 'tap'
import { JsonObjectSplitter, JsonStreamError } from '../../../plugins/producer/json-stream.js'

const texts = (bufs: Buffer[]) => bufs.map(b => b.toString())

t.test('objects back to back, with or without whitespace, split anywhere', async t => {
  const body = '{"a":1}{"b":"}{\\"x"} \n\r\t{"c":[{"d":"]"}]}'
  for (let cut = 0; cut <= body.length; cut++) {
    const s = new JsonObjectSplitter(1000)
    const out = [...s.push(Buffer.from(body.slice(0, cut))), ...s.push(Buffer.from(body.slice(cut)))]
    s.end()
    t.same(texts(out), ['{"a":1}', '{"b":"}{\\"x"}', '{"c":[{"d":"]"}]}'], `cut at ${cut}`)
  }
})

t.test('multi-byte characters split across chunks', async t => {
  const body = Buffer.from('{"v":"ü€😀"}')
  for (let cut = 0; cut <= body.length; cut++) {
    const s = new JsonObjectSplitter(1000)
    const out = [...s.push(body.subarray(0, cut)), ...s.push(body.subarray(cut))]
    t.same(texts(out), ['{"v":"ü€😀"}'])
  }
})

t.test('errors: bytes outside an object, an unfinished object, an object beyond the limit', async t => {
  t.throws(() => new JsonObjectSplitter(100).push(Buffer.from('[1]')), { name: 'JsonStreamError', kind: 'syntax' })
  t.ok(catchIt(() => new JsonObjectSplitter(100).push(Buffer.from('[1]'))) instanceof JsonStreamError)
  t.throws(() => new JsonObjectSplitter(100).push(Buffer.from('{"a":1} x')), { name: 'JsonStreamError', kind: 'syntax' })
  const s = new JsonObjectSplitter(100)
  s.push(Buffer.from('{"a":'))
  t.throws(() => s.end(), { name: 'JsonStreamError', kind: 'syntax' })
  const big = new JsonObjectSplitter(10)
  t.throws(() => big.push(Buffer.from('{"a":"0123456789"}')), { name: 'JsonStreamError', kind: 'size' })
  const across = new JsonObjectSplitter(10)
  across.push(Buffer.from('{"a":"01'))
  t.throws(() => across.push(Buffer.from('23456789"}')), { name: 'JsonStreamError', kind: 'size' }, 'counted across chunks')
})

function catchIt (fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}
