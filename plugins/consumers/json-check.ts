/**
 * Is this UTF-8 byte sequence one JSON text (RFC 8259), as JSON.parse would accept it? A scanner over the bytes
 * that allocates nothing: the json format embeds a record's key and value verbatim, so the check is all it needs,
 * and JSON.parse of a decoded copy built a string and the whole document only to drop them (in the fetch profile
 * the garbage collector was the largest item of the json path). UTF-8 validity is not checked here; see
 * `isUtf8` in node:buffer.
 */

// Byte values of the JSON syntax.
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const SPACE = 0x20
const QUOTE = 0x22
const PLUS = 0x2b
const COMMA = 0x2c
const MINUS = 0x2d
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const COLON = 0x3a
const UPPER_E = 0x45
const OPEN_BRACKET = 0x5b
const BACKSLASH = 0x5c
const CLOSE_BRACKET = 0x5d
const LOWER_E = 0x65
const LOWER_U = 0x75
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/** The byte after each escape letter that JSON allows (`\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`; `\u` apart). */
const SIMPLE_ESCAPE = new Uint8Array(256)
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1

const HEX = new Uint8Array(256)
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1

const LITERALS: ReadonlyArray<readonly number[]> = ['true', 'false', 'null'].map(w => [...w].map(c => c.charCodeAt(0)))

function skipSpace (b: Buffer, i: number, end: number): number {
  for (;;) {
    if (i >= end) return i
    const c = b[i]
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) return i
    i++
  }
}

/** Index after the string whose opening quote is at i - 1; -1 if it is not a valid JSON string. */
function scanString (b: Buffer, i: number, end: number): number {
  // The next quote comes from native indexOf (memchr); it stays valid across escapes before it, so a string with
  // many escapes is not searched again each time. The bytes up to it need a look for control bytes and escapes.
  // Short strings (names, most values) end within a few bytes: a plain loop finds that without a native call.
  const short = Math.min(end, i + 24)
  while (i < short) {
    const c = b[i] as number
    if (c === QUOTE) return i + 1
    if (c < SPACE || c === BACKSLASH) break
    i++
  }
  let quote = -1
  for (;;) {
    if (quote < i) {
      quote = (b as Buffer).indexOf(QUOTE, i)
      if (quote < 0) return -1
    }
    i = plainUntil(b, i, quote)
    if (i === quote) return i + 1
    if (b[i] !== BACKSLASH) return -1 // a raw control character
    const e = b[i + 1] as number
    if (SIMPLE_ESCAPE[e] === 1) { i += 2; continue }
    if (e !== LOWER_U || i + 5 >= end) return -1
    if (
      HEX[b[i + 2] as number] === 0 || HEX[b[i + 3] as number] === 0 ||
      HEX[b[i + 4] as number] === 0 || HEX[b[i + 5] as number] === 0
    ) return -1
    i += 6
  }
}

/**
 * The last buffer's word view (the records of a batch share one copy block), held weakly: a strong hold would
 * keep a block, possibly a large record's own, alive after its records were delivered.
 */
let lastWords: WeakRef<Int32Array<ArrayBufferLike>> | undefined

function wordView (buffer: ArrayBufferLike): Int32Array<ArrayBufferLike> {
  const cached = lastWords?.deref()
  if (cached?.buffer === buffer) return cached
  const view = new Int32Array(buffer, 0, buffer.byteLength >> 2)
  lastWords = new WeakRef(view)
  return view
}

/**
 * Index of the first control byte or backslash in [i, stop), or stop. Long runs go four bytes at a time: a
 * word holds a byte below 0x20 iff (x - 0x20202020) & ~x & 0x80808080 is not 0, and a byte 0x5c iff the same
 * zero-byte test finds one in x ^ 0x5c5c5c5c (both exact as yes/no answers; the byte loop then finds which).
 */
function plainUntil (b: Buffer, i: number, stop: number): number {
  if (stop - i >= 32) {
    const base = b.byteOffset
    while (((base + i) & 3) !== 0) {
      const c = b[i] as number
      if (c < SPACE || c === BACKSLASH) return i
      i++
    }
    const view = wordView(b.buffer)
    let w = (base + i) >> 2
    const last = (base + stop) >> 2
    for (; w < last; w++) {
      const x = view[w] as number
      const y = x ^ 0x5c5c5c5c
      if ((((x - 0x20202020) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) break
    }
    i = (w << 2) - base
  }
  while (i < stop) {
    const c = b[i] as number
    if (c < SPACE || c === BACKSLASH) return i
    i++
  }
  return stop
}

function digits (b: Buffer, i: number, end: number): number {
  while (i < end && (b[i] as number) >= ZERO && (b[i] as number) <= NINE) i++
  return i
}

/** Index after the number starting at i; -1 if there is none. */
function scanNumber (b: Buffer, i: number, end: number): number {
  if (b[i] === MINUS) i++
  if (i >= end) return -1
  if (b[i] === ZERO) i++
  else {
    const j = digits(b, i, end)
    if (j === i) return -1
    i = j
  }
  if (i < end && b[i] === DOT) {
    const j = digits(b, i + 1, end)
    if (j === i + 1) return -1
    i = j
  }
  if (i < end && (b[i] === LOWER_E || b[i] === UPPER_E)) {
    i++
    if (i < end && (b[i] === PLUS || b[i] === MINUS)) i++
    const j = digits(b, i, end)
    if (j === i) return -1
    i = j
  }
  return i
}

function scanLiteral (b: Buffer, i: number, end: number, word: readonly number[]): number {
  if (i + word.length > end) return -1
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1
  return i + word.length
}

/** Index after the scalar (string, number, literal) at i; -1 if invalid. Containers are the caller's. */
function scanScalar (b: Buffer, i: number, end: number): number {
  const c = b[i] as number
  if (c === QUOTE) return scanString(b, i + 1, end)
  if (c === MINUS || (c >= ZERO && c <= NINE)) return scanNumber(b, i, end)
  if (c === 0x74 /* t */) return scanLiteral(b, i, end, LITERALS[0] as readonly number[])
  if (c === 0x66 /* f */) return scanLiteral(b, i, end, LITERALS[1] as readonly number[])
  if (c === 0x6e /* n */) return scanLiteral(b, i, end, LITERALS[2] as readonly number[])
  return -1
}

/** Index of the member's value after `"name" :` starting at i (whitespace after the colon skipped); -1 if invalid. */
function scanMemberName (b: Buffer, i: number, end: number): number {
  if (b[i] !== QUOTE) return -1
  i = scanString(b, i + 1, end)
  if (i < 0) return -1
  i = skipSpace(b, i, end)
  if (b[i] !== COLON) return -1
  return skipSpace(b, i + 1, end)
}

/**
 * True when `b` is exactly one JSON value with optional surrounding whitespace. Iterative, so any nesting depth
 * is fine (JSON.parse accepts deep nesting too). Reads past the end see undefined, which matches no byte.
 */
export function isJsonText (b: Buffer): boolean {
  const end = b.length
  // Open containers, innermost last: true for an object, false for an array.
  const stack: boolean[] = []
  let i = skipSpace(b, 0, end)
  for (;;) {
    // Expecting a value at i.
    if (i >= end) return false
    const c = b[i]
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const object = c === OPEN_BRACE
      i = skipSpace(b, i + 1, end)
      if (i < end && b[i] === (object ? CLOSE_BRACE : CLOSE_BRACKET)) {
        i++ // an empty container is a complete value
      } else {
        stack.push(object)
        if (object) {
          i = scanMemberName(b, i, end)
          if (i < 0) return false
        }
        continue
      }
    } else {
      i = scanScalar(b, i, end)
      if (i < 0) return false
    }
    // A value ended at i: close containers or move on to the next element.
    for (;;) {
      i = skipSpace(b, i, end)
      if (stack.length === 0) return i === end
      const object = stack[stack.length - 1]
      const d = b[i]
      if (d === COMMA) {
        i = skipSpace(b, i + 1, end)
        if (object) {
          i = scanMemberName(b, i, end)
          if (i < 0) return false
        }
        break
      }
      if (d !== (object ? CLOSE_BRACE : CLOSE_BRACKET)) return false
      stack.pop()
      i++
    }
  }
}
