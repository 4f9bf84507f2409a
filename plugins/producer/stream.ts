/**
 * The body of `POST …/records`: one record, or Confluent's streaming mode (records back to back in one
 * request, one result per record streamed back in order). Plain module: no Fastify.
 *
 * The mode: a chunked body (Transfer-Encoding: chunked, `streaming`) is Confluent's streaming mode from its
 * first record on, answered as a 200 stream of result lines as the records are written, so that a client
 * may wait for each result before it sends the next record. A body of known length holding one record is a
 * single record, answered with a real HTTP status (the Diaspora 0.7 API, as its SDK sends); one holding
 * several records is answered as a stream too. Either way each record is sent as soon as it is read. Memory
 * stays bounded however long the stream runs: the body is read one chunk at a time, only the record being read
 * is buffered, and reading pauses while `window` records wait for their results (back-pressure to the client).
 * A syntax error ends the stream with one error result; records before it keep their results.
 */
import { ApiError, Errors } from '../errors/errors.js'
import { decodeUtf8, parseJsonBody } from '../http/media.js'
import { JsonObjectSplitter, JsonStreamError } from './json-stream.js'

export type RecordResult = { ok: true, report: Record<string, unknown> } | { ok: false, error: ApiError }

/**
 * A record handed to the engine: `done` gives its result; `refused` is set when admission refused it (429);
 * `last` when nothing more will be admitted (the gateway is shutting down): its result ends the stream.
 */
export interface Admission { done: Promise<RecordResult>, refused?: ApiError, last?: boolean }

/**
 * Records handed to the engine together (one Kafka admission for all of them): `done` gives their results in
 * order; `refused` when the engine refused them as a whole (nothing sent): the stream then admits them one
 * by one, as `handle` would have.
 */
export type GroupAdmission = { done: Promise<RecordResult[]>, refused?: undefined } | { refused: ApiError }

export type StreamEnd =
  | { mode: 'empty' }
  | { mode: 'single', result: RecordResult }
  | { mode: 'stream' }

export interface StreamOptions {
  /** Largest JSON text of one record. */
  maxObjectBytes: number
  /** Streaming mode from the first record on (a chunked body). */
  streaming: boolean
  /** Records sent and not yet answered before reading pauses. */
  window: number
  /**
   * Longest wait for the client's next chunk (only while the body is being waited for, never while reading
   * is paused by back-pressure); beyond it the stream ends with a 408 result. Absent: no bound.
   */
  idleMs?: number
  /** Encode one parsed record and hand it to the engine; resolves once it is queued (or refused); never rejects. */
  handle (raw: unknown): Promise<Admission>
  /**
   * `handle` for the records of one chunk at once (one admission, one promise, one write of their results);
   * never rejects. Absent: records are handled one by one.
   */
  handleMany? (raws: unknown[]): Promise<GroupAdmission>
  /** Streaming mode starts: send the 200 and headers. */
  open (): void
  /** Write one result line; resolves when the output can take more. */
  write (result: Record<string, unknown>): Promise<void>
  /** Write several result lines at once (absent: `write` for each). */
  writeMany? (results: Array<Record<string, unknown>>): Promise<void>
}

export function resultLine (r: RecordResult): Record<string, unknown> {
  return r.ok ? { error_code: 200, ...r.report } : { error_code: r.error.errorCode, message: r.error.message }
}

/** The client sent nothing for `ms`: the stream ends with this result. */
export const idleStream = (ms: number): ApiError => new ApiError(408, 408, `Request Timeout: the stream sent nothing for ${ms} ms; it is ended (records before this line keep their results)`)

class IdleError extends Error {
  readonly ms: number
  constructor (ms: number) { super('stream idle'); this.ms = ms }
}

/** `source` with at most `ms` of waiting for each chunk (IdleError beyond it). */
async function * idleBounded<T> (source: AsyncIterable<T>, ms: number | undefined): AsyncGenerator<T> {
  if (ms === undefined) { yield * source; return }
  const it = source[Symbol.asyncIterator]()
  let pending: Promise<IteratorResult<T>> | undefined
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined
      pending = it.next()
      const idle = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new IdleError(ms)), ms) })
      let r: IteratorResult<T>
      try {
        r = await Promise.race([pending, idle])
      } finally {
        clearTimeout(timer)
      }
      pending = undefined
      if (r.done === true) return
      yield r.value
    }
  } finally {
    // Close the source, as for-await does. With a read still pending (idle) the iterator queues return() behind
    // it, and that read settles only when the connection goes (the caller closes it): not awaited then.
    const closing = it.return?.()
    if (pending) {
      pending.catch(() => {})
      closing?.catch(() => {})
    } else {
      await closing
    }
  }
}

function syntaxError (err: unknown): ApiError | undefined {
  if (err instanceof IdleError) return idleStream(err.ms)
  if (err instanceof JsonStreamError) {
    return err.kind === 'size' ? new ApiError(413, 413, err.message) : new ApiError(400, 400, err.message)
  }
  if (ApiError.is(err) && err.statusCode === 400) return err
  return undefined
}

export async function produceFromStream (source: AsyncIterable<Buffer | string>, o: StreamOptions): Promise<StreamEnd> {
  const splitter = new JsonObjectSplitter(o.maxObjectBytes)
  let first: Promise<RecordResult> | undefined
  let streaming = false
  let unanswered = 0
  let chain: Promise<void> = Promise.resolve()
  let writeFailed = false
  let last = false

  const hasUnanswered = (): boolean => unanswered > 0
  const writeLines = async (lines: Array<Record<string, unknown>>): Promise<void> => {
    if (o.writeMany) await o.writeMany(lines)
    else for (const line of lines) await o.write(line)
  }
  const enqueue = (p: Promise<RecordResult>): void => {
    unanswered++
    chain = chain.then(async () => {
      const r = await p
      unanswered--
      if (!writeFailed) await o.write(resultLine(r)).catch(() => { writeFailed = true })
    })
  }
  const enqueueMany = (p: Promise<RecordResult[]>, n: number): void => {
    unanswered += n
    chain = chain.then(async () => {
      const rs = await p
      unanswered -= n
      if (!writeFailed) await writeLines(rs.map(resultLine)).catch(() => { writeFailed = true })
    })
  }
  const enterStream = (): void => {
    streaming = true
    o.open()
    if (first) enqueue(first)
  }
  const admit = async (raw: unknown): Promise<void> => {
    let a = await o.handle(raw)
    // Not admitted (the gateway's in-flight budget): a stream waits for its own records to be answered, then
    // tries again, so that back-pressure reaches the client instead of a 429 for the record.
    // (`unanswered` falls as the chain writes results.)
    while (a.refused && hasUnanswered()) {
      await chain
      a = await o.handle(raw)
    }
    const p = a.done
    if (a.last === true) last = true
    if (!first && !streaming && !o.streaming) { first = p; return }
    if (!streaming) enterStream()
    enqueue(p)
    if (unanswered >= o.window) await chain
  }
  /** Records of one chunk, in groups that keep within the window. */
  const admitMany = async (handleMany: NonNullable<StreamOptions['handleMany']>, raws: unknown[]): Promise<void> => {
    let from = 0
    while (from < raws.length) {
      if (last) return
      if (unanswered >= o.window) await chain
      const group = raws.slice(from, from + Math.max(1, o.window - unanswered))
      from += group.length
      let g = await handleMany(group)
      // Not admitted for lack of budget: as `admit`, wait for the stream's own records, then try again.
      if (g.refused?.errorCode === 42901 && hasUnanswered()) {
        await chain
        g = await handleMany(group)
      }
      if (g.refused) {
        // Refused as a whole, nothing sent: one by one, each record gets what `handle` gives it.
        for (const raw of group) {
          await admit(raw)
          if (last) return
        }
        continue
      }
      if (!streaming) enterStream()
      enqueueMany(g.done, group.length)
      if (unanswered >= o.window) await chain
    }
  }

  try {
    for await (const chunk of idleBounded(source, o.idleMs)) {
      const objects = splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
      // A lone first record of a body of known length may be a single record (a real status): one by one.
      if (o.handleMany && (streaming || o.streaming || objects.length > 1 || first)) {
        const raws: unknown[] = []
        let parseError: unknown
        for (const text of objects) {
          try {
            raws.push(parseJsonBody(decodeUtf8(text)))
          } catch (err) {
            // The records before it are sent; the error ends the stream after them.
            parseError = err
            break
          }
        }
        if (raws.length > 0) await admitMany(o.handleMany, raws)
        if (parseError !== undefined && !last) throw parseError
      } else {
        for (const text of objects) {
          const raw = parseJsonBody(decodeUtf8(text))
          await admit(raw)
          if (last) break
        }
      }
      if (writeFailed || last) break
    }
    if (!last) splitter.end()
  } catch (err) {
    const syntax = syntaxError(err)
    if (!syntax) throw err
    if (!first && !streaming) throw syntax
    if (!streaming) enterStream()
    const line = { error_code: syntax.errorCode, message: syntax.message }
    chain = chain.then(async () => { if (!writeFailed) await o.write(line).catch(() => { writeFailed = true }) })
    await chain
    return { mode: 'stream' }
  }
  if (streaming) {
    await chain
    return { mode: 'stream' }
  }
  if (!first) return { mode: 'empty' }
  return { mode: 'single', result: await first }
}

export const emptyBody = (): ApiError => Errors.unprocessable('Payload error. Request body is empty. Data is required.', 42206)
