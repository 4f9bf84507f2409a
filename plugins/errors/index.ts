import fp from 'fastify-plugin'
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Duplex } from 'node:stream'
import { ApiError, Errors, consumerBody, managementBody, type ErrorFamily } from './errors.js'
import { NAME_RULES, sharedSchemas } from '../../schemas/common.js'
import { isKafkaError } from '../kafka/driver.js'
import { toKafkaApiError } from '../kafka/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which error shape the route answers with; consumer routes use Confluent's. */
    family?: ErrorFamily
  }
}

export const KAFKA_V2_JSON = 'application/vnd.kafka.v2+json'

/** Route family: declared by the route, else guessed from the URL (for 404s and early failures). */
export function familyOf (request: FastifyRequest): ErrorFamily {
  let declared: ErrorFamily | undefined
  try {
    declared = request.routeOptions?.config?.family
  } catch {
    // A request the router never matched (a framework error) has no route options.
  }
  if (declared) return declared
  return familyOfPath(request.url)
}

/** The family a URL's path belongs to: the consumer API (and anything outside /api/) or management. */
export function familyOfPath (url: string): ErrorFamily {
  const path = url.split('?')[0] ?? ''
  return /^\/api\/(?:v3\/[^/]+\/(?:consumers(?:\/|$)|topics\/)|v2\/consumers(?:\/|$))/.test(path) || !path.startsWith('/api/') ? 'consumer' : 'management'
}

const RANGE_KEYWORDS = new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'])

interface ValidationIssue { keyword: string, instancePath: string, message?: string, params: Record<string, unknown> }

/** Translate anything thrown into an ApiError with the contract's status and code. */
export function toApiError (err: unknown, family: ErrorFamily): ApiError {
  if (ApiError.is(err)) return err
  // The consumer engine fails with the Kafka driver's errors; this is where they get their HTTP answer.
  if (isKafkaError(err)) return toKafkaApiError(err)
  const e = err as FastifyError & { validation?: ValidationIssue[], validationContext?: string }
  if (Array.isArray(e.validation) && e.validation.length > 0) return fromValidation(e.validation, e.validationContext ?? 'body', family)
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new ApiError(413, 413, 'Request body is too large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 415, 'Unsupported Media Type: send application/vnd.kafka.v2+json (or another vnd.kafka v2 type) or application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return Errors.malformedJson('empty body')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return new ApiError(400, 400, 'Content-Length does not match the body')
  }
  if (err instanceof SyntaxError) return Errors.malformedJson(err.message)
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500
  if (status >= 400 && status < 500) return new ApiError(status, status, e.message)
  return Errors.internal()
}

function fromValidation (issues: ValidationIssue[], context: string, family: ErrorFamily): ApiError {
  const first = issues[0] as ValidationIssue
  const where = first.instancePath ? first.instancePath.slice(1).replace(/\//g, '.') : context
  const rule = first.keyword === 'pattern' ? NAME_RULES.get(String(first.params.pattern)) : undefined
  if (rule !== undefined) return Errors.invalidName(nameKind(first.instancePath), rule)
  if (first.keyword === 'additionalProperties') {
    return Errors.unprocessable(`Unrecognized field: ${String(first.params.additionalProperty)}`)
  }
  if (context === 'querystring') return new ApiError(400, 400, `Invalid query parameter ${where}: ${first.message ?? 'invalid'}`)
  if (context === 'params') {
    return family === 'consumer'
      ? Errors.unprocessable(`Invalid ${where} in path: ${first.message ?? 'invalid'}`)
      : new ApiError(422, 422, `Invalid ${where}: ${first.message ?? 'invalid'}`, { code: 'INVALID_NAME' })
  }
  if (first.keyword === 'type' && context === 'body' && first.instancePath !== '') {
    return new ApiError(400, 400, `Field ${where} ${first.message ?? 'has the wrong type'}`)
  }
  if (first.keyword === 'required') return Errors.unprocessable(`Missing field: ${String(first.params.missingProperty)}`)
  // Out of range (a negative or beyond-int64-precision offset, a negative partition): decisions.md's 42204.
  if (RANGE_KEYWORDS.has(first.keyword)) return Errors.unprocessable(`Invalid ${where}: ${first.message ?? 'out of range'}`, 42204)
  if (first.instancePath === '' && first.keyword === 'type') return Errors.unprocessable('Request body is required')
  return Errors.unprocessable(`Invalid ${where}: ${first.message ?? 'invalid value'}`)
}

/** `/topic` -> topic, `/topics/2` -> topic, `/partitions/0/topic` -> topic. */
function nameKind (instancePath: string): string {
  const field = instancePath.split('/').filter(s => s !== '' && !/^\d+$/.test(s)).pop() ?? 'name'
  return field.endsWith('s') ? field.slice(0, -1) : field
}

export function sendApiError (request: FastifyRequest, reply: FastifyReply, err: ApiError): FastifyReply {
  const family = familyOf(request)
  reply.code(err.statusCode).headers(err.headers)
  if (family === 'consumer') return reply.type(KAFKA_V2_JSON).send(consumerBody(err))
  return reply.type('application/json; charset=utf-8').send(managementBody(err))
}

/**
 * Fastify's `frameworkErrors` server option: failures before routing (a path that is not valid
 * percent-encoded UTF-8, a path parameter beyond the router's length limit) in the route family's shape
 * instead of Fastify's own JSON.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let api: ApiError
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      api = new ApiError(400, 400, 'Bad Request: the URL path is not valid percent-encoded UTF-8', { code: 'BAD_URL' })
      break
    case 'FST_ERR_MAX_PARAM_LENGTH':
      api = new ApiError(414, 414, 'URI Too Long: a path segment is too long', { code: 'URI_TOO_LONG' })
      break
    default:
      api = toApiError(error, familyOf(request))
  }
  request.log.info({ status: api.statusCode, code: error.code }, 'request rejected before routing')
  sendApiError(request, reply, api)
}

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'Request Timeout: the request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'Request Header Fields Too Large: the request line and headers exceed the size limit']
}

/**
 * Node's `clientError` (Fastify's `clientErrorHandler` server option): requests the HTTP parser rejects
 * (invalid bytes in the request line, a Content-Length that does not match the body, oversized headers, a
 * timeout) never reach Fastify. Answer them in the route family's shape, guessed from the request line.
 */
export function clientErrorHandler (err: Error & { code?: string, rawPacket?: unknown }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, label, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Bad Request', 'Bad Request: the HTTP request is malformed']
  const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.toString('latin1') : ''
  const target = /^[A-Za-z]+ (\S+)/.exec(raw)?.[1] ?? '/'
  const api = new ApiError(status, status, message)
  const consumer = familyOfPath(target) === 'consumer'
  const body = JSON.stringify(consumer ? consumerBody(api) : managementBody(api))
  const type = consumer ? `${KAFKA_V2_JSON}; charset=utf-8` : 'application/json; charset=utf-8'
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${label}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: ${type}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}

/**
 * One root error handler and not-found handler: every failure is JSON in its route family's shape, never an
 * HTML page or a stack trace. fp lifts them to the root so they cover every route. Also registers the shared
 * `$id` schemas (the two error bodies) that route schemas reference, so validation and serialization need
 * nothing else (the docs plugin names its components after them).
 */
const errorsPlugin: FastifyPluginAsync = async (fastify) => {
  for (const schema of sharedSchemas) fastify.addSchema(schema)
  fastify.setErrorHandler((err, request, reply) => {
    const api = toApiError(err, familyOf(request))
    if (api.statusCode >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ status: api.statusCode, errorCode: api.errorCode, msg: api.message }, 'request rejected')
    return sendApiError(request, reply, api)
  })
  fastify.setNotFoundHandler((request, reply) => {
    return sendApiError(request, reply, Errors.notFound(`HTTP 404 Not Found: no route ${request.method} ${request.url.split('?')[0]}`))
  })
}

export default fp(errorsPlugin, { name: 'errors', fastify: '5.x' })
