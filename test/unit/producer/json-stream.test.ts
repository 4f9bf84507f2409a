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

t.test('random objects (escapes, backslash runs, brackets in strings) cut into random chunks', async t => {
  let seed = 987654321
  const rand = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const pieces = ['a', '\\', '\\\\', '"', '{', '}', '[', ']', 'ü', '😀', ' ', '\n', 'xyz', '\\"', ':', ',']
  const value = (depth: number): unknown => {
    switch (depth > 3 ? 0 : rand(4)) {
      case 0: { let s = ''; for (let i = rand(12); i > 0; i--) s += pieces[rand(pieces.length)] as string; return s }
      case 1: return rand(1000)
      case 2: return Array.from({ length: rand(4) }, () => value(depth + 1))
      default: return Object.fromEntries(Array.from({ length: rand(4) }, (_, i) => [`k${i}${pieces[rand(pieces.length)] as string}`, value(depth + 1)]))
    }
  }
  let ok = 0
  const runs = 300
  for (let run = 0; run < runs; run++) {
    const objects = Array.from({ length: 1 + rand(8) }, () => JSON.stringify({ v: value(0) }))
    const body = Buffer.from(objects.map(o => o + [' ', '', '\n', '\r\n\t'][rand(4)] as string).join(''))
    const s = new JsonObjectSplitter(1 << 20)
    const out: string[] = []
    for (let at = 0; at < body.length;) {
      const len = 1 + rand(rand(2) === 0 ? 4 : 64)
      out.push(...texts(s.push(body.subarray(at, at + len))))
      at += len
    }
    s.end()
    if (JSON.stringify(out) === JSON.stringify(objects)) ok++
    else t.same(out, objects, `run ${run}`)
  }
  t.equal(ok, runs)
})
