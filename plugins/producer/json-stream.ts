/**
 * Splits a byte stream of concatenated JSON objects (Confluent's streaming produce body: objects back to
 * back, whitespace between them optional) into one Buffer per object, without buffering more than the
 * object being read. Structural characters are ASCII and never occur inside a UTF-8 multi-byte sequence,
 * so scanning bytes is exact. Parsing each object is the caller's job (JSON.parse). Plain module.
 */

export class JsonStreamError extends Error {
  /** 'syntax': not a sequence of objects; 'size': one object beyond the limit. */
  readonly kind: 'syntax' | 'size'
  constructor (kind: 'syntax' | 'size', message: string) {
    super(message)
    this.name = 'JsonStreamError'
    this.kind = kind
  }
}

const OPEN_OBJ = 0x7b
const CLOSE_OBJ = 0x7d
const OPEN_ARR = 0x5b
const CLOSE_ARR = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

function isWhitespace (b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09
}

export class JsonObjectSplitter {
  readonly #maxObjectBytes: number
  #parts: Buffer[] = []
  #size = 0
  #depth = 0
  #inString = false
  #escape = false

  constructor (maxObjectBytes: number) {
    this.#maxObjectBytes = maxObjectBytes
  }

  /** True while an object has started and not ended. */
  get inObject (): boolean { return this.#depth > 0 }

  /**
   * The complete objects that end in `chunk`, in order; throws JsonStreamError on bytes outside an object. An
   * object that lies wholly in `chunk` is a view of it, not a copy: read it before the chunk is reused.
   */
  push (chunk: Buffer): Buffer[] {
    const out: Buffer[] = []
    const n = chunk.length
    let start = this.#depth > 0 ? 0 : -1
    let i = 0
    while (i < n) {
      if (this.#inString) {
        if (this.#escape) {
          this.#escape = false
          i++
          continue
        }
        // Strings (base64 values above all) are most of the bytes: jump to the next quote natively, then see
        // whether an odd run of backslashes escapes it.
        const q = chunk.indexOf(QUOTE, i)
        const stop = q === -1 ? n : q
        let run = 0
        while (stop - run - 1 >= i && chunk[stop - run - 1] === BACKSLASH) run++
        if (q === -1) {
          this.#escape = (run & 1) === 1
          break
        }
        if ((run & 1) === 0) this.#inString = false
        i = q + 1
        continue
      }
      const b = chunk[i] as number
      if (this.#depth === 0) {
        if (!isWhitespace(b)) {
          if (b !== OPEN_OBJ) throw new JsonStreamError('syntax', `Error processing JSON: expected '{' at the start of a record, got ${JSON.stringify(String.fromCharCode(b))}`)
          this.#depth = 1
          start = i
        }
      } else if (b === QUOTE) {
        this.#inString = true
      } else if (b === OPEN_OBJ || b === OPEN_ARR) {
        this.#depth++
      } else if (b === CLOSE_OBJ || b === CLOSE_ARR) {
        this.#depth--
        if (this.#depth === 0) {
          const part = chunk.subarray(start, i + 1)
          if (this.#parts.length === 0) {
            this.#count(part.length)
            out.push(part)
          } else {
            this.#take(part)
            out.push(Buffer.concat(this.#parts, this.#size))
            this.#parts = []
          }
          this.#size = 0
          start = -1
        }
      }
      i++
    }
    if (this.#depth > 0 && start >= 0) this.#take(chunk.subarray(start))
    return out
  }

  /** At the end of the body: throws when an object is left unfinished. */
  end (): void {
    if (this.#depth > 0) throw new JsonStreamError('syntax', 'Error processing JSON: unexpected end of input inside a record')
  }

  #count (bytes: number): void {
    this.#size += bytes
    if (this.#size > this.#maxObjectBytes) {
      throw new JsonStreamError('size', `Produce request size is larger than allowed threshold: one record's JSON exceeds ${this.#maxObjectBytes} bytes`)
    }
  }

  #take (part: Buffer): void {
    this.#count(part.length)
    // Copy: the chunk may be a slice of a larger socket buffer that would otherwise stay alive.
    this.#parts.push(Buffer.from(part))
  }
}
