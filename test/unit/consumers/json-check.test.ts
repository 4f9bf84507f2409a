/**
 * isJsonText must accept exactly what JSON.parse accepts: it decides which record values the json format embeds
 * as they are, and an accepted invalid text would break the whole answer's JSON. Checked on fixed edge cases and
 * differentially against JSON.parse over generated and mutated documents.
 */
import t from 'tap'
import { isJsonText } from '../../../plugins/consumers/json-check.js'

function parses (s: string): boolean {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

t.test('edge cases agree with JSON.parse', async t => {
  const cases = [
    '', ' ', '0', '-0', '01', '-', '1.', '.5', '1e', '1e+', '1E-7', '-12.5e+3', '2.', '1.5.2', '+1', 'NaN', 'Infinity',
    'true', 'tru', 'truex', 'false', 'null', 'nul', 'True',
    '""', '"a"', '"\\"', '"\\\\"', '"\\/"', '"\\b\\f\\n\\r\\t"', '"\\u00e9"', '"\\u00E9"', '"\\u00g9"', '"\\u12"', '"\\x"', '"\\\'"',
    '"\u0000"', '"\u001f"', '"\u007f"', '"\t"', '"é 漢 😀"', '"unterminated', '"a"b',
    '[]', '[ ]', '[1,]', '[,1]', '[1 2]', '[[[]]]', '[1,[2,[3]]]', '{}', '{ }', '{"a":1}', '{"a":1,}', '{"a" 1}', '{a:1}',
    '{"a":1 "b":2}', '{"a":{"b":{"c":[]}}}', '{"":""}', '{"a":1}{"b":2}', '1 2', ' \t\r\n{"a" : [ 1 , 2 ] } \n',
    '\ufeff{}', '\u00a0{}', '{"a":1}\u0000', '[' + '1,'.repeat(1000) + '1]'
  ]
  for (const s of cases) t.equal(isJsonText(Buffer.from(s)), parses(s), JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s))
})

t.test('any nesting depth, without recursion', async t => {
  const depth = 200_000
  t.equal(isJsonText(Buffer.from('['.repeat(depth) + ']'.repeat(depth))), true)
  t.equal(isJsonText(Buffer.from('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))), true)
  t.equal(isJsonText(Buffer.from('['.repeat(depth) + ']'.repeat(depth - 1))), false, 'one bracket short')
})

t.test('a view of a larger buffer is judged on its own bytes', async t => {
  const whole = Buffer.from('["a"]"tail')
  t.equal(isJsonText(whole.subarray(0, 5)), true)
  t.equal(isJsonText(whole.subarray(0, 3)), false, '"a with the closing quote beyond the view')
  t.equal(isJsonText(Buffer.from('"\\u12"34').subarray(0, 6)), false, 'a \\u escape cut by the end of the view')
})

t.test('long strings (checked four bytes at a time): a control byte or backslash anywhere, at any alignment', async t => {
  const wrong: string[] = []
  let checked = 0
  for (const length of [31, 32, 33, 47, 64, 65, 130]) {
    for (let at = 0; at < length; at++) {
      for (const bad of [0x00, 0x0a, 0x1f, 0x5c, 0x20, 0x7f, 0x5b]) {
        const body = Buffer.alloc(length, 0x61)
        body[at] = bad
        for (let shift = 0; shift < 4; shift++) {
          // The text at every offset within a word of a larger buffer, as records sit in a shared copy block.
          const whole = Buffer.alloc(shift + length + 2 + 5, 0x20)
          whole[shift] = 0x22
          body.copy(whole, shift + 1)
          whole[shift + 1 + length] = 0x22
          const view = whole.subarray(shift, shift + length + 2)
          const text = view.toString('latin1')
          checked++
          if (isJsonText(view) !== parses(text)) wrong.push(`${length}/${at}/0x${bad.toString(16)}/${shift}`)
        }
      }
    }
  }
  t.same(wrong, [], `${checked} strings judged as JSON.parse judges them`)
})

t.test('differentially against JSON.parse on generated and mutated documents', async t => {
  // mulberry32: a fixed seed, so a failure reproduces.
  let seed = 20261124
  const rnd = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296 * n) | 0
  }
  const atoms = ['0', '-0', '7', '-1.5', '1e5', '1E+5', '2e-3', '0.5', '01', '1.', '"a"', '""', '"\\n"', '"\\u00e9"', '"é"', 'true', 'false', 'null']
  const spaces = [' ', '', '\n', '\t', '\r', '']
  const ws = (): string => spaces[rnd(spaces.length)] as string
  const gen = (depth: number): string => {
    const k = rnd(depth > 4 ? 1 : 4)
    if (k === 0) return atoms[rnd(atoms.length)] as string
    if (k === 1) return '[' + ws() + Array.from({ length: rnd(4) }, () => ws() + gen(depth + 1) + ws()).join(',') + ']'
    if (k === 2) return '{' + ws() + Array.from({ length: rnd(4) }, () => ws() + (atoms[10 + rnd(4)] as string) + ws() + ':' + ws() + gen(depth + 1)).join(',') + '}'
    return ws() + gen(depth + 1) + ws()
  }
  const noise = '[]{}",:-+.eE0 1\\\nu\ta\u0001'
  const mutate = (s: string): string => {
    const a = [...s]
    for (let n = 1 + rnd(3); n > 0; n--) {
      const p = rnd(a.length + 1)
      const op = rnd(3)
      if (op === 0) a.splice(p, 1)
      else if (op === 1) a.splice(p, 0, noise[rnd(noise.length)] as string)
      else a[p] = noise[rnd(noise.length)] as string
    }
    return a.join('')
  }
  let valid = 0
  const disagreements: string[] = []
  for (let i = 0; i < 50_000; i++) {
    const s = rnd(2) === 0 ? gen(0) : mutate(gen(0))
    const expected = parses(s)
    if (expected) valid++
    if (isJsonText(Buffer.from(s)) !== expected) disagreements.push(s)
  }
  t.same(disagreements.slice(0, 10), [], 'no document judged otherwise than by JSON.parse')
  t.ok(valid > 10_000 && valid < 40_000, `both kinds well represented (${valid} of 50,000 valid)`)
})
