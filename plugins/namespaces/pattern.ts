/**
 * Scoping a user's topic pattern (Confluent `topic_pattern`, Java regex syntax) to one namespace.
 *
 * The existing service built `ns\.` + pattern, so `a|.*` matched every topic of every namespace. Here the
 * pattern must compile on its own (so its groups are balanced and it cannot close ours), is wrapped as
 * `^ns\.(?:PATTERN)$` (full match, like Java's `matches()`), and every candidate is also checked to carry the
 * prefix with a valid topic name after it before the regex runs at all.
 *
 * Patterns are compiled with the `u` flag: invalid escapes (Java's `\Q`, `\A`, `\Z`, `\z`, `\h`, …) are syntax
 * errors there instead of silently meaning a letter. Java-only constructs that JS would read differently are
 * refused with a message naming them. Because V8 backtracks, the pattern's worst case is bounded statically:
 * a length cap, no repetition of a group that itself repeats or alternates, no backreferences, and a budget
 * on the product of the quantifiers' ranges. Candidate topics are at most 65 characters long.
 * Plain module: no Fastify import.
 */
import { Errors } from '../errors/errors.js'
import { isValidName } from './names.js'

/** Longest pattern accepted (characters). Topic names are at most 32 characters; real patterns are short. */
export const MAX_PATTERN_LENGTH = 256
/** Largest bound accepted in `{n}`, `{n,m}` (a topic remainder is at most 32 characters anyway). */
export const MAX_REPEAT_BOUND = 64
/** Upper bound on backtracking paths (product of quantifier ranges, sum over alternatives). */
export const COMPLEXITY_BUDGET = 1 << 21
/** The range a repeating quantifier contributes: one more than the longest remainder. */
const REPEAT_FACTOR = 33

export interface ScopedPattern {
  /** `^ns\.(?:PATTERN)$`, for logs and display; compile with flag `u` (see `flags`). */
  source: string
  flags: 'u'
  /** Does this Kafka topic belong to the namespace and match the user's pattern? */
  matches (kafkaTopic: string): boolean
}

function invalid (message: string): Error {
  return Errors.unprocessable(`Invalid topic_pattern: ${message}`, 42204)
}

function escapeRegExp (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/** Build the scoped matcher for `userPattern` in namespace `ns`; throws a 422 ApiError when it is refused. */
export function scopePattern (ns: string, userPattern: string): ScopedPattern {
  if (!isValidName(ns)) throw invalid('unknown namespace')
  if (typeof userPattern !== 'string' || userPattern.length === 0) throw invalid('must be a non-empty string')
  if (userPattern.length > MAX_PATTERN_LENGTH) throw invalid(`longer than ${MAX_PATTERN_LENGTH} characters`)
  rejectJavaOnly(userPattern)
  try {
    // Compiling alone proves the groups and classes are balanced, so the wrapper below cannot be escaped.
    // eslint-disable-next-line no-new
    new RegExp(userPattern, 'u')
  } catch (err) {
    throw invalid(`not a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')})`)
  }
  const cost = analyse(userPattern)
  if (cost > COMPLEXITY_BUDGET) throw invalid('too complex (too many quantifiers); simplify it, e.g. use fewer .* parts')

  const prefix = `${ns}.`
  const source = `^${escapeRegExp(ns)}\\.(?:${userPattern})$`
  const re = new RegExp(source, 'u')
  return {
    source,
    flags: 'u',
    matches (topic: string): boolean {
      // The prefix and name checks come first: they bound the input the regex ever sees.
      if (typeof topic !== 'string' || !topic.startsWith(prefix)) return false
      if (!isValidName(topic.slice(prefix.length))) return false
      return re.test(topic)
    }
  }
}

/** Java syntax that JS either rejects obscurely or, worse, accepts with another meaning. */
function rejectJavaOnly (p: string): void {
  let inClass = false
  for (let i = 0; i < p.length; i++) {
    const c = p[i]
    if (c === '\\') {
      const n = p[i + 1] ?? ''
      if (n === 'Q' || n === 'E') throw invalid('\\Q…\\E quoting is Java-only; escape each character with \\ instead')
      if ('AZzG'.includes(n) && n !== '') throw invalid(`\\${n} is Java-only; the pattern is already anchored to the whole topic name`)
      if ((n === 'p' || n === 'P' || n === 'u') && p[i + 2] === '{') {
        const end = p.indexOf('}', i + 3)
        i = end < 0 ? p.length : end
      } else {
        i++
      }
      continue
    }
    if (inClass) {
      if (c === ']') inClass = false
      else if (c === '&' && p[i + 1] === '&') throw invalid('character class intersection (&&) is Java-only')
      else if (c === '[') throw invalid('nested character classes are Java-only')
      continue
    }
    if (c === '[') {
      inClass = true
      if (p[i + 1] === '^') i++
      if (p[i + 1] === ']') throw invalid('a ] at the start of a character class must be escaped as \\]')
      continue
    }
    if (c === '(' && p[i + 1] === '?') {
      const rest = p.slice(i + 2)
      if (rest.startsWith('>')) throw invalid('atomic groups (?>…) are Java-only')
      if (/^[a-zA-Z-]*[:)]/.test(rest) && !rest.startsWith(':')) throw invalid('inline flags such as (?i) are not supported')
    }
    if ((c === '*' || c === '+' || c === '?' || c === '}') && p[i + 1] === '+' && !(c === '?' && p[i - 1] === '(')) {
      throw invalid('possessive quantifiers (*+, ++, ?+, {n}+) are Java-only')
    }
  }
}

interface Frame {
  /** Cost of the alternatives closed so far in this group. */
  alternatives: number
  /** Cost of the current alternative (product of its atoms). */
  sequence: number
  /** Does the group contain a quantifier (at any depth)? */
  quantified: boolean
  /** Does the group contain an alternation (at any depth)? */
  alternated: boolean
}

interface Atom { cost: number, quantified: boolean, alternated: boolean }

/**
 * Worst-case backtracking estimate of a pattern that already compiles with flag `u`: a sequence multiplies
 * its atoms' costs, an alternation adds its branches' costs, a repeating quantifier multiplies by
 * REPEAT_FACTOR, an optional one by 2. Throws for constructs whose cost is not bounded that way.
 */
export function analyse (p: string): number {
  const stack: Frame[] = [{ alternatives: 0, sequence: 1, quantified: false, alternated: false }]
  let last: Atom | undefined
  const top = () => stack[stack.length - 1] as Frame
  const push = (atom: Atom) => {
    const f = top()
    f.sequence *= atom.cost
    if (atom.quantified) f.quantified = true
    if (atom.alternated) f.alternated = true
    last = atom
  }
  for (let i = 0; i < p.length; i++) {
    const c = p[i]
    if (c === '\\') {
      const n = p[i + 1] ?? ''
      if (/[1-9]/.test(n) || n === 'k') throw invalid('backreferences are not supported')
      // \p{…}, \P{…}, \u{…}: skip the braces so they are not read as a quantifier.
      if ((n === 'p' || n === 'P' || n === 'u') && p[i + 2] === '{') {
        const end = p.indexOf('}', i + 3)
        i = end < 0 ? p.length : end
      } else {
        i++
      }
      push({ cost: 1, quantified: false, alternated: false })
      continue
    }
    if (c === '[') {
      let j = i + 1
      if (p[j] === '^') j++
      while (j < p.length && p[j] !== ']') j += p[j] === '\\' ? 2 : 1
      i = j
      push({ cost: 1, quantified: false, alternated: false })
      continue
    }
    if (c === '(') {
      if (p[i + 1] === '?') {
        // (?: (?= (?! (?<= (?<! (?<name>
        if (p[i + 2] === '<' && p[i + 3] !== '=' && p[i + 3] !== '!') {
          const end = p.indexOf('>', i + 3)
          i = end < 0 ? p.length : end
        } else {
          i += p[i + 2] === '<' ? 3 : 2
        }
      }
      stack.push({ alternatives: 0, sequence: 1, quantified: false, alternated: false })
      last = undefined
      continue
    }
    if (c === ')') {
      const f = stack.pop() as Frame
      push({ cost: f.alternatives + f.sequence, quantified: f.quantified, alternated: f.alternated })
      continue
    }
    if (c === '|') {
      const f = top()
      f.alternatives += f.sequence
      f.sequence = 1
      f.alternated = true
      last = undefined
      continue
    }
    const q = quantifierAt(p, i)
    if (q) {
      if (!last) throw invalid('nothing to repeat')
      const f = top()
      if (q.max > MAX_REPEAT_BOUND && q.max !== Infinity) throw invalid(`repetition bound above ${MAX_REPEAT_BOUND}`)
      if (q.min > MAX_REPEAT_BOUND) throw invalid(`repetition bound above ${MAX_REPEAT_BOUND}`)
      const repeats = q.max > 1
      if (repeats && (last.quantified || last.alternated)) {
        throw invalid('a repeated group may not itself contain a quantifier or an alternation (catastrophic backtracking)')
      }
      // Replace the atom's contribution by its quantified cost.
      const factor = repeats ? REPEAT_FACTOR : 2
      f.sequence = (f.sequence / last.cost) * (last.cost * factor)
      f.quantified = true
      last = { cost: last.cost * factor, quantified: true, alternated: last.alternated }
      i = q.end
      if (p[i + 1] === '?') i++ // lazy: same cost
      continue
    }
    push({ cost: 1, quantified: false, alternated: false })
  }
  const root = stack[0] as Frame
  return root.alternatives + root.sequence
}

/** A quantifier starting at `i`: `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`; `end` is its last index. */
function quantifierAt (p: string, i: number): { min: number, max: number, end: number } | undefined {
  const c = p[i]
  if (c === '*') return { min: 0, max: Infinity, end: i }
  if (c === '+') return { min: 1, max: Infinity, end: i }
  if (c === '?') return { min: 0, max: 1, end: i }
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i))
    if (!m) return undefined
    const min = Number(m[1])
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])
    return { min, max, end: i + m[0].length - 1 }
  }
  return undefined
}
