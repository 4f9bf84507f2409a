import t, { type Test } from 'tap'
import { ApiError } from '../../../plugins/errors/errors.js'
import { COMPLEXITY_BUDGET, MAX_PATTERN_LENGTH, analyse, scopePattern } from '../../../plugins/namespaces/pattern.js'

const NS = 'ns-aaaa'
/** Topics of our namespace, of others, and internal ones. */
const CLUSTER = [
  'ns-aaaa.events', 'ns-aaaa.events-1', 'ns-aaaa.logs', 'ns-aaaa.x_y',
  'ns-aaaa2.events', 'ns-bbbb.events', 'ns-bbbb.secret', 'other.events', 'ns2.events',
  '__consumer_offsets', 'ns-aaaa', 'ns-aaaa.', 'ns-aaaa.a.b', 'ns-aaaa.' + 'e'.repeat(40)
]

function matched (pattern: string): string[] {
  const s = scopePattern(NS, pattern)
  return CLUSTER.filter(topic => s.matches(topic))
}

function refused (t: Test, pattern: string, why: RegExp): void {
  try {
    scopePattern(NS, pattern)
    t.fail(`accepted ${JSON.stringify(pattern.slice(0, 60))}`)
  } catch (err) {
    t.ok(err instanceof ApiError, 'an ApiError')
    t.equal((err as ApiError).statusCode, 422)
    t.equal((err as ApiError).errorCode, 42204)
    t.match((err as Error).message, why, JSON.stringify(pattern.slice(0, 60)))
  }
}

t.test('ordinary patterns match whole names inside the namespace', async t => {
  t.same(matched('events'), ['ns-aaaa.events'])
  t.same(matched('events.*'), ['ns-aaaa.events', 'ns-aaaa.events-1'])
  t.same(matched('ev.*|logs'), ['ns-aaaa.events', 'ns-aaaa.events-1', 'ns-aaaa.logs'])
  t.same(matched('(events|logs)'), ['ns-aaaa.events', 'ns-aaaa.logs'])
  t.same(matched('[a-z]+_[a-z]'), ['ns-aaaa.x_y'])
  t.same(matched('vent'), [], 'a full match, not a search (Java matches())')
  t.same(matched('\\p{L}+'), ['ns-aaaa.events', 'ns-aaaa.logs'])
})

t.test('source is the anchored, grouped, escaped pattern', async t => {
  const s = scopePattern(NS, 'a|b')
  t.equal(s.source, '^ns-aaaa\\.(?:a|b)$')
  t.equal(s.flags, 'u')
  t.ok(new RegExp(s.source, s.flags).test('ns-aaaa.a'))
  t.notOk(new RegExp(s.source, s.flags).test('ns-bbbb.b'))
})

t.test('hostile patterns never reach another namespace', async t => {
  const mine = (ts: string[]) => ts.every(x => x.startsWith('ns-aaaa.'))
  for (const p of ['a|.*', '.*', '.*|.*', '(?:.*)', '.+', '[^]*'.replace('[^]', '[\\s\\S]'), 'ns-bbbb\\..*', '.*secret',
    '^other\\..*', 'ns2\\..*', '(?=x)', '(?=.*)', '(?<=ns-bbbb\\.).*', '(?<!ns-aaaa\\.).*', '$|.*', '|', '()', '.*$|^.*']) {
    const got = matched(p)
    t.ok(mine(got), `${p} stays inside: ${got.join(', ')}`)
    t.notOk(got.includes('ns-aaaa.a.b'), `${p}: not a topic name`)
    t.notOk(got.some(x => x.length > 'ns-aaaa.'.length + 32), `${p}: no over-long names`)
  }
  t.same(matched('a|.*'), ['ns-aaaa.events', 'ns-aaaa.events-1', 'ns-aaaa.logs', 'ns-aaaa.x_y'], 'the alternation stays inside the group')
  t.same(matched('^other\\..*'), [], 'a ^ inside the group can never match after the prefix')
  t.same(matched('ns2\\..*'), [])
  t.same(matched('(?=x)'), [], 'lookahead alone matches the empty remainder only, which is not a topic name')
  t.same(matched('(?<=ns-bbbb\\.).*'), [], 'lookbehind sees our own prefix')
})

t.test('patterns that would break out of the group do not compile', async t => {
  for (const p of [')|(.*', ').*|(', '(', ')', '[', 'a\\', '(?:a))|((?:b', '\\)|(.*']) {
    refused(t, p, /not a valid regular expression|Java-only|nothing to repeat/)
  }
})

t.test('Java-only syntax is refused with a message naming it', async t => {
  refused(t, 'a++', /possessive/)
  refused(t, 'a*+', /possessive/)
  refused(t, 'a{2}+', /possessive/)
  refused(t, '(?i)events', /inline flags/)
  refused(t, '(?i:events)', /inline flags/)
  refused(t, '(?-i)x', /inline flags/)
  refused(t, '(?>a|ab)c', /atomic/)
  refused(t, '\\Qa.b\\E', /\\Q/)
  refused(t, '[a-z&&[^b]]', /intersection/)
  refused(t, '[a-z[0-9]]', /nested character classes/)
  refused(t, '\\Aabc', /\\A is Java-only/)
  refused(t, 'abc\\z', /\\z is Java-only/)
  refused(t, '[]a]', /must be escaped/)
  refused(t, '\\h+', /not a valid regular expression/) // invalid escape under the u flag
})

t.test('backreferences are refused', async t => {
  refused(t, '(a)\\1', /backreferences/)
  refused(t, '(?<x>a)\\k<x>', /backreferences/)
  refused(t, '(.*)(.*)\\2\\1', /backreferences/)
})

t.test('catastrophic backtracking candidates are refused before they run', async t => {
  refused(t, '(a+)+b', /repeated group/)
  refused(t, '(a*)*b', /repeated group/)
  refused(t, '(a|aa)*b', /repeated group/)
  refused(t, '(a|a)+', /repeated group/)
  refused(t, '(.*a){10}', /repeated group/)
  refused(t, '(?:x+x+)+y', /repeated group/)
  refused(t, '.*.*.*.*.*.*.*.*.*.*x', /too complex/)
  refused(t, 'a?'.repeat(30) + 'a'.repeat(30), /too complex/)
  refused(t, 'a{1000}', /bound above/)
  refused(t, 'a{2,1000}', /bound above/)
})

t.test('length is bounded', async t => {
  refused(t, 'a'.repeat(MAX_PATTERN_LENGTH + 1), /longer than/)
  t.ok(scopePattern(NS, 'a'.repeat(32)).matches('ns-aaaa.' + 'a'.repeat(32)))
  refused(t, '', /non-empty/)
})

t.test('accepted patterns stay within the complexity budget', async t => {
  t.ok(analyse('.*.*.*.*') <= COMPLEXITY_BUDGET)
  t.ok(analyse('(temp|pressure)-[0-9]+') <= COMPLEXITY_BUDGET)
  t.equal(analyse('abc'), 1)
  t.equal(analyse('a|b|c'), 3)
  t.equal(analyse('a?'), 2)
  t.equal(analyse('a*'), 33)
  t.equal(analyse('(ab)*'), 33)
  t.equal(analyse('\\p{L}{2}'), 33, 'the braces of \\p{…} are not a quantifier')
})

t.test('the matcher checks the prefix and the name before the regex', async t => {
  const s = scopePattern(NS, '.*')
  t.notOk(s.matches('ns-bbbb.events'))
  t.notOk(s.matches('ns-aaaa.a.b'))
  t.notOk(s.matches('ns-aaaa.' + 'e'.repeat(33)))
  t.notOk(s.matches('ns-aaaa.-x-'))
  t.notOk(s.matches(undefined as unknown as string))
  t.ok(s.matches('ns-aaaa.events'))
})

t.test('an invalid namespace is refused', async t => {
  for (const ns of ['a.b', '']) {
    const err = t.throws(() => scopePattern(ns, '.*')) as ApiError
    t.equal(err.statusCode, 422, JSON.stringify(ns))
  }
})
