import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { TSchema } from '@sinclair/typebox'
import { KAFKA_REQUEST_TYPE, acceptsJson, charsetOf, decodeUtf8, isStreamingBody, parseJsonBody } from './media.js'
import { strictJsonTypes } from './strict-json.js'
import { ApiError } from '../errors/errors.js'
import { clientErrorHandler } from '../errors/index.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads a chunked body as a stream with its own idle bound (REQUEST_BODY_TIMEOUT_MS spares it). */
    streamingBody?: boolean
  }
}

/**
 * Longest path parameter the router accepts. Far above every name rule (at most 128 characters), so an
 * over-long name reaches schema validation and gets its route family's 422 instead of the router's 414; the
 * request line as a whole stays bounded by Node's header size limit.
 */
export const MAX_PARAM_LENGTH = 16_384

/** A 400 for a body value that type coercion must not touch (see strict-json.ts). */
function strictTypesError (body: unknown, schema: unknown): ApiError | undefined {
  if (body === undefined || body === null) return undefined
  // A JSON array, string or number where the body is an object: a wrong JSON type (400), not a missing body.
  if ((typeof body !== 'object' || Array.isArray(body)) && (schema as { type?: unknown } | undefined)?.type === 'object') {
    return new ApiError(400, 400, 'Request body must be a JSON object')
  }
  if (typeof body !== 'object') return undefined
  const issue = strictJsonTypes(body, schema)
  if (!issue) return undefined
  return new ApiError(400, 400, issue.path === '' ? `Request body ${issue.message}` : `Field ${issue.path} ${issue.message}`)
}

/**
 * Request parsing: application/json and every application/vnd.kafka…v2+json type, an empty body being
 * "no body". Other explicit types get Fastify's 415, answered in the route's error shape. Bodies must be
 * UTF-8 (a charset other than utf-8 is a 415, bytes that are not UTF-8 a 400). API responses are JSON, so an
 * Accept header that excludes JSON is a 406.
 */
const httpPlugin: FastifyPluginAsync = async (fastify) => {
  // Only JSON bodies: text/plain and anything else gets 415 (Confluent), not a confusing validation error.
  fastify.removeContentTypeParser(['application/json', 'text/plain'])
  const parse = (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      const charset = charsetOf(req.headers['content-type'])
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        throw new ApiError(415, 415, `Unsupported charset ${charset}: JSON bodies are UTF-8`)
      }
      done(null, parseJsonBody(typeof body === 'string' ? body : decodeUtf8(body)))
    } catch (err) {
      done(err as Error)
    }
  }
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, parse)
  fastify.addContentTypeParser(KAFKA_REQUEST_TYPE, { parseAs: 'buffer' }, parse)

  // Slow bodies (Node's whole-request timeout is off, see app.ts): a body not received REQUEST_BODY_TIMEOUT_MS
  // after the request began gets Node's own 408 answer and the connection is closed. A chunked body on a route
  // that reads it as a stream (config `streamingBody`: produce streaming mode) may run however long; its route
  // bounds the silence between chunks instead (PRODUCE_STREAM_IDLE_TIMEOUT_MS).
  const bodyTimeout = fastify.config.REQUEST_BODY_TIMEOUT_MS
  fastify.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw
    const { headers } = request
    const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')
    const streaming = request.routeOptions.config?.streamingBody === true && isStreamingBody(headers)
    if (!hasBody || streaming || raw.complete) { done(); return }
    const socket = raw.socket
    const timer = setTimeout(() => {
      socket.off('close', clear)
      if (raw.complete || socket.destroyed) return
      // An answer already out (say a 401 before the body was read): only the connection is left to close.
      if (reply.raw.headersSent) { socket.destroy(); return }
      clientErrorHandler(Object.assign(new Error('request body not received in time'), {
        code: 'ERR_HTTP_REQUEST_TIMEOUT',
        // The request line, as Node's parser errors carry it: the answer takes the route family's shape.
        rawPacket: Buffer.from(`${raw.method ?? 'GET'} ${raw.url ?? '/'} `, 'latin1')
      }), socket)
    }, bodyTimeout)
    function clear (): void {
      clearTimeout(timer)
      socket.off('close', clear)
      raw.off('end', clear)
    }
    raw.once('end', clear)
    socket.once('close', clear)
    done()
  })

  fastify.addHook('onRequest', async (request) => {
    // Routes of the API only: /health, /ready and /docs serve whatever their plugins serve.
    if (request.routeOptions.url?.startsWith('/api/') && !acceptsJson(request.headers.accept)) {
      throw new ApiError(406, 406, 'Not Acceptable: responses are application/vnd.kafka.v2+json or application/json; send Accept with one of them, */* or none')
    }
  })
  // Before the validator coerces: null is not 0 and true is not 1 (strict-json.ts).
  fastify.addHook('preValidation', async (request) => {
    const error = strictTypesError(request.body, request.routeOptions.schema?.body)
    if (error) throw error
  })
}

/**
 * Validate a body that the route read itself (GET committed offsets) exactly as Fastify validates declared
 * bodies: the same null and boolean rules, the same Ajv with its coercion, the same error mapping. Returns the
 * (coerced) body.
 */
export function validateBody<T> (request: FastifyRequest, schema: TSchema, body: unknown): T {
  const strict = strictTypesError(body, schema)
  if (strict) throw strict
  const validate = request.compileValidationSchema(schema as object, 'body')
  if (!validate(body)) {
    throw Object.assign(new Error('body validation failed'), { validation: validate.errors ?? [], validationContext: 'body' })
  }
  return body as T
}

/**
 * Fastify never reads a GET body, but Confluent's "GET committed offsets" carries one. Read it from the raw
 * stream with the same rules: JSON types only, the body limit, and a clean 400 on bad JSON.
 */
export async function readGetBody (request: FastifyRequest, limit: number): Promise<unknown> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request.raw) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > limit) throw new ApiError(413, 413, 'Request body is too large')
    chunks.push(buf)
  }
  if (size === 0) return undefined
  if (type !== '' && type !== 'application/json' && !KAFKA_REQUEST_TYPE.test(type)) {
    throw new ApiError(415, 415, 'Unsupported Media Type: send application/vnd.kafka.v2+json or application/json')
  }
  const charset = charsetOf(request.headers['content-type'])
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError(415, 415, `Unsupported charset ${charset}: JSON bodies are UTF-8`)
  }
  return parseJsonBody(decodeUtf8(Buffer.concat(chunks)))
}

export default fp(httpPlugin, { name: 'http', fastify: '5.x' })
