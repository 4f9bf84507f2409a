/**
 * The bodies and the streamed requests of the produce scenario, kept light because the runner shares the 2 cores
 * with the server: bodies are made once, before any clock starts, as Buffers (no JSON.stringify per request;
 * plain POSTs go through bench/lib/raw-http.ts); a streamed request (node:http, a socket of its own) writes
 * pre-made chunks with back-pressure and counts the result objects of the answer as its chunks arrive, without
 * parsing the successes.
 */
import http from 'node:http'
import { once } from 'node:events'
import { jsonValue } from './kafka.js'

/** One produce record of Confluent v3 (no key; the value is a BINARY of the same bytes the baseline sends). */
export function recordJson (i: number, size: number): string {
  return `{"value":{"type":"BINARY","data":"${jsonValue(i, size).toString('base64')}"}}`
}

/** A `records:batch` body of `n` entries with ids "0"…"n-1", records from `first` on. */
export function batchBody (first: number, n: number, size: number): Buffer {
  const entries: string[] = []
  for (let j = 0; j < n; j++) entries.push(`{"id":"${j}",${recordJson(first + j, size).slice(1)}`)
  return Buffer.from(`{"entries":[${entries.join(',')}]}`)
}

/**
 * Top-level JSON objects of a stream of concatenated ones (Confluent's streaming answer: one object per
 * record, in request order, whatever separates them), found as the chunks arrive by tracking brace depth
 * outside strings. An object holding `"offset":` is a success; any other is a failure, kept (the first few)
 * for the error message.
 */
export class ResultScanner {
  static readonly OFFSET = Buffer.from('"offset":')
  successes = 0
  failures = 0
  readonly failed: string[] = []
  #depth = 0
  #inString = false
  #escaped = false
  /** Bytes of the object in progress, when it began in an earlier chunk. */
  #partial: Buffer[] = []

  push (chunk: Buffer): void {
    let start = this.#depth > 0 ? 0 : -1
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false
        else if (c === 0x5c) this.#escaped = true // backslash
        else if (c === 0x22) this.#inString = false // quote
        continue
      }
      if (c === 0x22) this.#inString = true
      else if (c === 0x7b) { // {
        if (this.#depth++ === 0) start = i
      } else if (c === 0x7d && this.#depth > 0 && --this.#depth === 0) { // }
        const piece = chunk.subarray(start, i + 1)
        const whole = this.#partial.length > 0 ? Buffer.concat([...this.#partial, piece]) : piece
        this.#partial = []
        this.#object(whole)
        start = -1
      }
    }
    if (this.#depth > 0 && start !== -1) this.#partial.push(Buffer.from(chunk.subarray(start)))
  }

  #object (o: Buffer): void {
    if (o.includes(ResultScanner.OFFSET)) this.successes++
    else {
      this.failures++
      if (this.failed.length < 5) this.failed.push(o.toString('utf8').slice(0, 300))
    }
  }
}

export interface StreamResult {
  status: number
  successes: number
  failures: number
  failed: string[]
  /** performance.now() before the first write and when the answer ended. */
  startedAt: number
  endedAt: number
  /** Bytes written, chunks written. */
  bytes: number
  chunks: number
}

/**
 * One streamed produce: `chunks` (each several concatenated records) written one after the other into one
 * chunked request (Transfer-Encoding: chunked, no Content-Length) on a socket of its own, while the answer is
 * read as it arrives. Ends the request after the last chunk and resolves when the answer has ended.
 */
export function postStream (
  base: URL,
  path: string,
  headers: Record<string, string>,
  chunks: Iterable<Buffer>
): Promise<StreamResult> {
  return new Promise((resolve, reject) => {
    const scanner = new ResultScanner()
    let bytes = 0
    let written = 0
    let answered = false
    const startedAt = performance.now()
    const req = http.request({
      host: base.hostname,
      port: base.port,
      method: 'POST',
      path,
      agent: false,
      headers: { ...headers, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }
    }, res => {
      answered = true
      const status = res.statusCode ?? 0
      const errorBody: Buffer[] = []
      // An answer that ends early (an error status, or the server dropping the stream) ends the request too; the
      // caller compares the results with the records written.
      let done = false
      const finish = (): void => {
        if (done) return
        done = true
        if (!req.writableEnded) req.destroy()
        if (status !== 200) scanner.failed.push(Buffer.concat(errorBody).toString('utf8').slice(0, 300))
        resolve({
          status,
          successes: scanner.successes,
          failures: scanner.failures,
          failed: scanner.failed,
          startedAt,
          endedAt: performance.now(),
          bytes,
          chunks: written
        })
      }
      res.on('data', (c: Buffer) => { if (status === 200) scanner.push(c); else errorBody.push(c) })
      res.on('end', finish)
      res.on('close', finish) // also when the connection is lost before the end (a promise settles once)
    })
    // Before an answer, a request error fails the run; after one, the answer's end or close settles it.
    req.on('error', err => { if (!answered) reject(err) })
    const write = async (): Promise<void> => {
      for (const chunk of chunks) {
        if (req.destroyed) return
        bytes += chunk.length
        written++
        if (!req.write(chunk)) await once(req, 'drain') // rejects if the request fails meanwhile
      }
      req.end()
    }
    write().catch(reject)
  })
}
