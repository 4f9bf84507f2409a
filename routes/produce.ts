/**
 * Produce routes under /api/v3/{namespace}/topics/{topic}: Confluent v3 `records` (one record, or streaming
 * mode), `records:batch`, and Confluent v2 produce on the topic itself. Handlers translate only: the
 * producer plugin's engine sends, plugins/producer/stream.ts reads streams, records.ts encodes.
 *
 * Errors are Confluent's `{error_code, message}` with real HTTP statuses (the Diaspora 0.7 API); the paths
 * have three or more segments with `topics` second, so they never meet the management routes
 * (`/{namespace}/{topic}`) or the consumer routes (`consumers` second).
 */
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ApiError, Errors } from '../plugins/errors/errors.js'
import { subjectOf } from '../plugins/namespaces/index.js'
import { isValidName, invalidName } from '../plugins/namespaces/names.js'
import { isStreamingBody, KAFKA_V2 } from '../plugins/http/media.js'
import { BATCH_ID_RE, encodeRecord, encodeV2Record, SCHEMA_TYPES, type EncodedRecord, type V2Format } from '../plugins/producer/records.js'
import { emptyBody, produceFromStream, type Admission, type GroupAdmission, type RecordResult } from '../plugins/producer/stream.js'
import { successReport } from '../plugins/producer/reports.js'
import type { Outcome } from '../plugins/producer/engine.js'
import { ConfluentError, Ref } from '../schemas/common.js'
import { BatchBody, BatchResponse, ProduceParams, ProduceRecord, ProduceResponse, V2ProduceBody, V2ProduceResponse } from '../schemas/produce.js'

const JSON_TYPE = 'application/json; charset=utf-8'
const err = Ref(ConfluentError)
const errors = {
  400: err, 401: err, 403: err, 404: err, 406: err, 413: err, 415: err, 422: err, 429: err, 500: err, 503: err
}
const tags = ['produce']
const UNREAD_BODY_GRACE_MS = 5000
const security = [{ globus: [] }]

/** The raw request body of `…/records`, read by the handler as it arrives (streaming mode). */
class RawBody {
  readonly stream: Readable
  constructor (stream: Readable) { this.stream = stream }
}

interface Params { namespace: string, topic: string }

const BATCH_FIELDS: ReadonlySet<string> = new Set(['id'])

const produce: FastifyPluginAsync = async (fastify) => {
  const { namespaces, producer, config } = fastify

  fastify.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), family: 'consumer' }
  })
  // Names are checked here (the v3 routes read their bodies themselves, see below); the namespace must belong
  // to the caller, and the topic must exist in it: 404 before anything is read or sent.
  fastify.addHook('preHandler', async (request) => {
    const { namespace, topic } = request.params as Params
    if (!isValidName(topic)) throw invalidName('topic', topic)
    await namespaces.requireOwnedOnDataPath(subjectOf(request), namespace)
    await producer.partitionCount(namespaces.kafkaTopic(namespace, topic), topic)
  })

  /** An unexpected failure as a record's error (logged; never a stack trace to the client). */
  const failure = (e: unknown): RecordResult => {
    if (ApiError.is(e)) return { ok: false, error: e }
    fastify.log.error({ err: e }, 'produce failed')
    return { ok: false, error: Errors.internal() }
  }

  /** Encode one v3 record and queue it; request-level refusals become the record's error. */
  const admitOne = async (p: Params, raw: unknown): Promise<Admission> => {
    try {
      const record = encodeRecord(raw)
      const { done } = await producer.enqueue(namespaces.kafkaTopic(p.namespace, p.topic), p.topic, [record])
      return {
        done: done.then(([outcome]): RecordResult => {
          if (!outcome) throw Errors.internal()
          return outcome.ok
            ? { ok: true, report: successReport(p.topic, record, outcome.delivery) }
            : { ok: false, error: outcome.error }
        }).catch(failure)
      }
    } catch (e) {
      const result = failure(e)
      return {
        done: Promise.resolve(result),
        ...(!result.ok && result.error.errorCode === 42901 ? { refused: result.error } : {}),
        // Shutting down: a stream ends with this record's 503 instead of holding the server open.
        ...(producer.draining ? { last: true } : {})
      }
    }
  }
  /**
   * Encode the records of a stream's chunk and queue them together; a record that does not encode gets its
   * error in its place. A request-level refusal (nothing sent) is returned for the stream to go one by one.
   */
  const admitMany = async (p: Params, raws: unknown[]): Promise<GroupAdmission> => {
    const results: Array<RecordResult | undefined> = new Array(raws.length)
    const records: EncodedRecord[] = []
    const at: number[] = []
    for (let i = 0; i < raws.length; i++) {
      try {
        records.push(encodeRecord(raws[i]))
        at.push(i)
      } catch (e) {
        results[i] = failure(e)
      }
    }
    if (records.length === 0) return { done: Promise.resolve(results as RecordResult[]) }
    let done: Promise<Outcome[]>
    try {
      done = (await producer.enqueue(namespaces.kafkaTopic(p.namespace, p.topic), p.topic, records)).done
    } catch (e) {
      if (ApiError.is(e)) return { refused: e }
      const f = failure(e)
      return { done: Promise.resolve(results.map(r => r ?? f)) }
    }
    return {
      done: done.then((outcomes) => {
        outcomes.forEach((outcome, j) => {
          const record = records[j] as EncodedRecord
          results[at[j] as number] = outcome.ok
            ? { ok: true, report: successReport(p.topic, record, outcome.delivery) }
            : { ok: false, error: outcome.error }
        })
        return results as RecordResult[]
      }).catch((e: unknown) => {
        const f = failure(e)
        return results.map(r => r ?? f)
      })
    }
  }
  const produceOne = async (p: Params, raw: unknown): Promise<RecordResult> => (await admitOne(p, raw)).done

  // v3 bodies: Confluent answers in application/json; the family's error handler picks its vnd type.
  const v3 = async (scope: Parameters<FastifyPluginAsync>[0]): Promise<void> => {
    scope.addHook('onSend', (_request, reply, payload, done) => {
      const type = reply.getHeader('content-type')
      if (type === undefined || String(type).startsWith(KAFKA_V2)) reply.type(JSON_TYPE)
      done(null, payload)
    })
  }

  // `…/records`: the body is read by the handler as it arrives, never buffered whole.
  await fastify.register(async (scope) => {
    await v3(scope)
    scope.removeContentTypeParser('application/json')
    scope.addContentTypeParser('application/json', (_request, payload, done) => { done(null, new RawBody(payload)) })
    scope.post('/:namespace/topics/:topic/records', {
      // A chunked body may run however long: plugins/http leaves it alone, and PRODUCE_STREAM_IDLE_TIMEOUT_MS
      // bounds the silence between its chunks instead.
      config: { streamingBody: true },
      schema: {
        tags,
        security,
        summary: 'Produce a record (or a stream of records)',
        description: 'Writes one Confluent v3 record and answers once every in-sync replica has it (acks=all): 200 with the partition and offset, or a real error status: ' +
          '400 malformed, 40005 timestamp without UTC offset, 404/40401 no such topic, 404/40402 no such partition, 413/41302 too large, 422/42206 schema type or no key and no value, ' +
          '429/42901 not admitted (Retry-After, nothing sent), 503/50302 Kafka unreachable (nothing sent), 500/50003 outcome unknown. ' +
          'Streaming mode (Confluent): records back to back in one chunked body (Transfer-Encoding: chunked) are written as they arrive and answered at once as a 200 stream of one JSON result per record ' +
          '(`error_code` 200 with the offset, or the record\'s error code and message), each followed by CRLF, in order; a syntax error ends the stream with an error result, ' +
          'and so does silence: nothing sent for PRODUCE_STREAM_IDLE_TIMEOUT_MS ends it with a 408 result (a stream may otherwise run however long). ' +
          'A body of known length holding several records is answered the same way.',
        params: ProduceParams,
        body: ProduceRecord,
        consumes: ['application/json'],
        produces: ['application/json'],
        response: { 200: ProduceResponse, ...errors }
      },
      // The body is the raw stream here; records.ts checks each record (the schema above documents it).
      validatorCompiler: () => () => true
    }, async (request: FastifyRequest, reply: FastifyReply) => {
      const p = request.params as Params
      const body = request.body
      if (!(body instanceof RawBody)) {
        // A vnd.kafka…+json type went through the shared JSON parser: one record.
        if (body === undefined || body === null) throw emptyBody()
        const r = await produceOne(p, body)
        if (!r.ok) throw r.error
        return reply.type(JSON_TYPE).send({ error_code: 200, ...r.report })
      }
      let out: PassThrough | undefined
      let end: Awaited<ReturnType<typeof produceFromStream>>
      const streaming = isStreamingBody(request.headers)
      /** Result lines out, in one write; resolves when the output can take more. */
      const writeOut = async (text: string): Promise<void> => {
        const stream = out as PassThrough
        if (stream.destroyed) throw new Error('the client is gone')
        if (stream.write(text)) return
        // A client that stops reading its results holds the stream as much as one that stops sending: it
        // gets the same idle bound, then the connection is cut (nothing can reach it any more).
        if (!await drained(stream, streaming ? config.PRODUCE_STREAM_IDLE_TIMEOUT_MS : undefined)) {
          request.log.info('produce stream: the client read no results for PRODUCE_STREAM_IDLE_TIMEOUT_MS; connection closed')
          request.raw.socket.destroy()
          throw new Error('the client is not reading')
        }
      }
      try {
        // Not destroyed when reading stops early: the results still go out on the socket (closeUnreadBody).
        end = await produceFromStream(body.stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>, {
          maxObjectBytes: config.BODY_LIMIT,
          streaming,
          window: config.PRODUCE_STREAM_MAX_IN_FLIGHT,
          ...(streaming ? { idleMs: config.PRODUCE_STREAM_IDLE_TIMEOUT_MS } : {}),
          handle: (raw) => admitOne(p, raw),
          handleMany: (raws) => admitMany(p, raws),
          open: () => {
            out = new PassThrough()
            // A client gone mid-stream destroys the output; its records already sent are written all the same.
            out.on('error', () => {})
            reply.code(200).type(JSON_TYPE).send(out)
          },
          write: async (line) => writeOut(JSON.stringify(line) + '\r\n'),
          writeMany: async (lines) => {
            let text = ''
            for (const line of lines) text += JSON.stringify(line) + '\r\n'
            await writeOut(text)
          }
        })
      } catch (e) {
        // Once the 200 is out, a failure (the client aborting its body) can only end the stream.
        if (!out) throw e
        request.log.info({ err: e }, 'produce stream ended early')
        closeUnreadBody(request, reply)
        out.end()
        return reply
      }
      if (end.mode === 'stream') {
        closeUnreadBody(request, reply)
        out?.end()
        return reply
      }
      if (end.mode === 'empty') throw emptyBody()
      if (!end.result.ok) throw end.result.error
      return reply.type(JSON_TYPE).send({ error_code: 200, ...end.result.report })
    })
  })

  // `…/records:batch` (the literal colon is written `::` in find-my-way paths).
  await fastify.register(async (scope) => {
    await v3(scope)
    scope.post('/:namespace/topics/:topic/records::batch', {
      schema: {
        tags,
        security,
        summary: 'Produce a batch of records',
        description: `Writes up to PRODUCE_MAX_BATCH_ENTRIES (${config.PRODUCE_MAX_BATCH_ENTRIES}) records and answers 207 once all are settled: each entry succeeded or failed on its own. ` +
          'Request-level faults write nothing: 400 not a JSON object, 422/42208 entries missing or not a list, empty, too many, or an id that is missing, not 1–80 of [A-Za-z0-9_-], or repeated; ' +
          '404/40401 no such topic; 429/42901 not admitted (Retry-After); 503/50302 Kafka unreachable.',
        params: ProduceParams,
        body: BatchBody,
        consumes: ['application/json'],
        produces: ['application/json'],
        response: { 207: BatchResponse, ...errors }
      },
      // Entries are checked one by one below, so that one bad entry fails alone (the schema documents them).
      validatorCompiler: () => () => true
    }, async (request: FastifyRequest, reply: FastifyReply) => {
      const p = request.params as Params
      const entries = batchEntries(request.body, config.PRODUCE_MAX_BATCH_ENTRIES)
      const failures: Array<{ id: string, error_code: number, message: string }> = []
      const successes: Array<Record<string, unknown>> = []
      const good: Array<{ id: string, record: EncodedRecord }> = []
      const failed = new Map<string, ApiError>()
      for (const entry of entries) {
        try {
          good.push({ id: entry.id, record: encodeRecord(entry, BATCH_FIELDS) })
        } catch (e) {
          if (!ApiError.is(e)) throw e
          failed.set(entry.id, e)
        }
      }
      const outcomes = good.length === 0
        ? []
        : await producer.produce(namespaces.kafkaTopic(p.namespace, p.topic), p.topic, good.map(g => g.record))
      const byId = new Map(good.map((g, i) => [g.id, { record: g.record, outcome: outcomes[i] }]))
      for (const { id } of entries) {
        const bad = failed.get(id)
        if (bad) { failures.push({ id, error_code: bad.errorCode, message: bad.message }); continue }
        const r = byId.get(id)
        if (!r?.outcome) continue
        if (r.outcome.ok) successes.push({ id, ...successReport(p.topic, r.record, r.outcome.delivery) })
        else failures.push({ id, error_code: r.outcome.error.errorCode, message: r.outcome.error.message })
      }
      return reply.code(207).type(JSON_TYPE).send({ successes, failures })
    })
  })

  // Confluent v2 produce for v2 clients.
  await fastify.register(async (scope) => {
    const typed = scope.withTypeProvider<import('@fastify/type-provider-typebox').TypeBoxTypeProvider>()
    typed.post('/:namespace/topics/:topic', {
      schema: {
        tags,
        security,
        summary: 'Produce records (Confluent v2)',
        description: 'Confluent REST Proxy v2 produce. Content-Type application/vnd.kafka.binary.v2+json (keys and values in base64) or application/vnd.kafka.json.v2+json (any JSON, written compact). ' +
          'Answers 200 with one offsets entry per record, in order: its partition and offset, or its error_code and error. Avro, JSON Schema and Protobuf need a schema registry (422/42206). A key picks the partition as the Java client does.',
        params: ProduceParams,
        body: V2ProduceBody,
        consumes: ['application/vnd.kafka.binary.v2+json', 'application/vnd.kafka.json.v2+json'],
        produces: [KAFKA_V2],
        response: { 200: V2ProduceResponse, ...errors }
      }
    }, async (request, reply) => {
      const p = request.params
      const format = v2Format(request.headers['content-type'])
      const records = request.body.records.map((r, i) => {
        try {
          return encodeV2Record(r, format)
        } catch (e) {
          if (ApiError.is(e)) throw new ApiError(e.statusCode, e.errorCode, `records[${i}]: ${e.message}`)
          throw e
        }
      })
      const outcomes = await producer.produce(namespaces.kafkaTopic(p.namespace, p.topic), p.topic, records)
      const offsets = outcomes.map(o => o.ok
        ? { partition: o.delivery.partition, offset: o.delivery.offset, error_code: null, error: null }
        : { partition: null, offset: null, error_code: o.error.errorCode, error: o.error.message })
      return reply.type(KAFKA_V2).send({ offsets, key_schema_id: null, value_schema_id: null })
    })
  })
}

/**
 * A stream answered before its body ended (a syntax error, an idle client): the connection closes once the
 * results are out, so that the unread rest of the body cannot hold it open (Node would otherwise read and
 * discard it for as long as the client sends). Half-closed first so the client can read the results; a
 * client that never closes its side is cut off after a grace period.
 */
function closeUnreadBody (request: FastifyRequest, reply: FastifyReply): void {
  if (request.raw.complete) return
  const socket = request.raw.socket
  reply.raw.once('finish', () => {
    socket.end()
    setTimeout(() => { socket.destroy() }, UNREAD_BODY_GRACE_MS).unref()
  })
}

/**
 * Resolves true when `stream` takes writes again, false when it has not within `ms` (absent: no bound);
 * rejects when it closes first.
 */
function drained (stream: PassThrough, ms?: number): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const timer = ms === undefined ? undefined : setTimeout(() => { done(); resolve(false) }, ms)
    const done = (): void => { clearTimeout(timer); stream.off('drain', onDrain); stream.off('close', onClose) }
    const onDrain = (): void => { done(); resolve(true) }
    const onClose = (): void => { done(); reject(new Error('the client is gone')) }
    stream.once('drain', onDrain)
    stream.once('close', onClose)
  })
}

/** Request-level checks of a batch body (Confluent's 422/42208 rules); the entries with their ids. */
function batchEntries (body: unknown, max: number): Array<Record<string, unknown> & { id: string }> {
  if (body === undefined || body === null) throw new ApiError(422, 42208, 'Request body is empty. Data is required.')
  if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 400, 'Request body must be a JSON object {"entries": [...]}')
  for (const field of Object.keys(body)) {
    if (field !== 'entries') throw new ApiError(422, 42208, `Unrecognized field: ${field}`)
  }
  const entries = (body as { entries?: unknown }).entries
  if (!Array.isArray(entries)) throw new ApiError(422, 42208, 'entries must be a list of records with ids')
  if (entries.length === 0) throw new ApiError(422, 42208, 'Empty batch.')
  if (entries.length > max) throw new ApiError(422, 42208, `Too many entries in batch: ${entries.length}, at most ${max}`)
  const seen = new Set<string>()
  entries.forEach((e, i) => {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new ApiError(422, 42208, `entries[${i}] must be a JSON object`)
    const id = (e as { id?: unknown }).id
    if (typeof id !== 'string' || !BATCH_ID_RE.test(id)) {
      throw new ApiError(422, 42208, `Batch entry identifier is not a valid string: entries[${i}].id must be 1–80 of A-Z a-z 0-9 _ -`)
    }
    if (seen.has(id)) throw new ApiError(422, 42208, `Batch entry IDs are not distinct: ${id} is repeated`)
    seen.add(id)
  })
  return entries as Array<Record<string, unknown> & { id: string }>
}

/** The embedded format of a v2 produce Content-Type. */
function v2Format (contentType: string | undefined): V2Format {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const m = /^application\/vnd\.kafka\.([a-z]+)\.v2\+json$/.exec(type)
  const format = m?.[1]
  if (format === 'binary' || format === 'json') return format
  if (format !== undefined && SCHEMA_TYPES.has(format.toUpperCase())) {
    throw new ApiError(422, 42206, `Payload error: the ${format} format needs a schema registry, which this service does not offer; use binary or json`)
  }
  throw new ApiError(415, 415, 'Unsupported Media Type: send application/vnd.kafka.binary.v2+json or application/vnd.kafka.json.v2+json')
}

export default produce as FastifyPluginAsyncTypebox
