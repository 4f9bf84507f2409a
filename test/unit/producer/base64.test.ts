import t, { type Test } from 'tap'
import { strictBase64 } from '../../../plugins/producer/records.js'

// The rule strictBase64 replaced: padded standard base64, nothing else.
const OLD_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function same (t: Test, s: string): boolean {
  const expected = OLD_RE.test(s)
  const got = strictBase64(s)
  if ((got !== undefined) !== expected) {
    t.fail(`${JSON.stringify(s)}: RegExp says ${expected}, strictBase64 ${got !== undefined}`)
    return false
  }
  if (got !== undefined && !got.equals(Buffer.from(s, 'base64'))) {
    t.fail(`${JSON.stringify(s)}: bytes differ`)
    return false
  }
  return true
}

// A seeded generator, so a failure repeats.
let seed = 12345
const rand = (n: number): number => {
  // xorshift32
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) % n
}

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
// Characters a strict check must refuse, among them ones Node's decoder skips, ones it accepts (url alphabet)
// and ones beyond ASCII whose low byte is a base64 character (Node reads two-byte strings by their low byte).
const ODD = [' ', '\n', '\r', '\t', '=', '-', '_', '.', '\0', '\u00e9', '\u0141', '\u0171', '\u012b', '\u012f', '\u0130', '\ud83d', '\ude00', '😀', '%', '"']

t.test('hand-picked strings agree with the old RegExp', async t => {
  const cases = [
    '', 'QQ==', 'QUE=', 'QUFB', 'QUFBQQ==', 'QQ', 'QUE', 'Q', 'QQ=', 'Q===', '====', '=QQ=', 'Q=Q=', 'QQ==QUFB',
    'QU=B', 'QUFB====', 'Q-_B', 'QUF-', 'QUF_', 'QUF/', 'QUF+', ' QUFB', 'QUFB ', 'QU FB', 'QUFB\n', 'QUFB\r\n',
    'QUF\u0141', 'QU\u0141B', 'QUFB\u0141===', 'QUF\u00e9', 'QR==', 'QUF=', 'QUFBQ===', 'QUFBQUE=', 'QUFBQU==',
    'QUFB\0', '\0\0\0\0', 'QUFBQUFBQUFBQUFB', 'QUFB=QUF', 'QUFBQ=E=', 'AAA=', 'AA==', 'AAAA', '+/+/', '////'
  ]
  let ok = 0
  for (const s of cases) if (same(t, s)) ok++
  t.equal(ok, cases.length)
})

t.test('random strings and mutations of valid ones agree with the old RegExp', async t => {
  let ok = 0
  let valid = 0
  const N = 30000
  for (let n = 0; n < N; n++) {
    const bytes = Buffer.alloc(rand(40))
    for (let i = 0; i < bytes.length; i++) bytes[i] = rand(256)
    let s = bytes.toString('base64')
    switch (rand(8)) {
      case 0: break // valid as it is
      case 1: { // one character replaced by an odd one
        const i = rand(s.length + 1)
        s = s.slice(0, i) + (ODD[rand(ODD.length)] as string) + s.slice(i + 1)
        break
      }
      case 2: { // one odd character inserted
        const i = rand(s.length + 1)
        s = s.slice(0, i) + (ODD[rand(ODD.length)] as string) + s.slice(i)
        break
      }
      case 3: s = s.replace(/=+$/, ''); break // unpadded
      case 4: s = s.replace(/\+/g, '-').replace(/\//g, '_'); break // url-safe alphabet
      case 5: s = s.slice(0, rand(s.length + 1)); break // truncated
      case 6: { // random characters of both kinds
        s = ''
        const len = rand(4) === 0 ? rand(13) : 4 * rand(5)
        for (let i = 0; i < len; i++) s += rand(6) === 0 ? ODD[rand(ODD.length)] as string : STD[rand(64)] as string
        break
      }
      case 7: { // two valid strings concatenated (padding in the middle)
        const b = Buffer.alloc(rand(6))
        for (let i = 0; i < b.length; i++) b[i] = rand(256)
        s += b.toString('base64')
        break
      }
    }
    if (OLD_RE.test(s)) valid++
    if (same(t, s)) ok++
  }
  t.equal(ok, N, 'every string agrees')
  t.ok(valid > N / 5 && valid < N * 0.8, `a mix of valid (${valid}) and invalid strings`)
})

t.test('large values round-trip', async t => {
  for (const size of [1023, 1024, 1025, 65536 + 1]) {
    const b = Buffer.alloc(size)
    for (let i = 0; i < size; i++) b[i] = rand(256)
    const s = b.toString('base64')
    t.same(strictBase64(s), b)
    t.equal(strictBase64(s.slice(0, 100) + '\u0141' + s.slice(101)), undefined)
    t.equal(strictBase64(s.slice(0, 100) + ' ' + s.slice(101)), undefined)
  }
})
