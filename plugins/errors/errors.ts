/**
 * Stable error classes. Every error the API answers with is an ApiError carrying the HTTP status, the
 * Confluent `error_code` (HTTP status * 100 + sub-code, or the bare status) and, for the management and auth
 * families, a stable string `code`. Plain module: no Fastify import.
 */

export type ErrorFamily = 'consumer' | 'management'

export interface ApiErrorOptions {
  /** Stable string code for the management/auth shape, e.g. TOKEN_INACTIVE. */
  code?: string
  headers?: Record<string, string>
  cause?: unknown
}

export class ApiError extends Error {
  readonly statusCode: number
  readonly errorCode: number
  readonly code: string
  readonly headers: Record<string, string>

  constructor (statusCode: number, errorCode: number, message: string, opts: ApiErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'ApiError'
    this.statusCode = statusCode
    this.errorCode = errorCode
    this.code = opts.code ?? defaultCode(statusCode)
    this.headers = opts.headers ?? {}
  }

  static is (err: unknown): err is ApiError {
    return err instanceof ApiError
  }
}

function defaultCode (status: number): string {
  switch (status) {
    case 400: return 'BAD_REQUEST'
    case 401: return 'UNAUTHORIZED'
    case 403: return 'FORBIDDEN'
    case 404: return 'NOT_FOUND'
    case 406: return 'NOT_ACCEPTABLE'
    case 409: return 'CONFLICT'
    case 413: return 'PAYLOAD_TOO_LARGE'
    case 415: return 'UNSUPPORTED_MEDIA_TYPE'
    case 422: return 'UNPROCESSABLE_ENTITY'
    case 429: return 'TOO_MANY_REQUESTS'
    case 503: return 'SERVICE_UNAVAILABLE'
    default: return status >= 500 ? 'INTERNAL_ERROR' : 'ERROR'
  }
}

/** Confluent error catalogue (shared/docs/confluent-v2-contract.md §1.3) plus our management errors. */
export const Errors = {
  badRequest: (message: string) => new ApiError(400, 400, message),
  malformedJson: (detail: string) => new ApiError(400, 400, `Malformed JSON body: ${detail}`, { code: 'MALFORMED_JSON' }),
  notFound: (message = 'HTTP 404 Not Found') => new ApiError(404, 404, message),
  topicNotFound: (topic?: string) => new ApiError(404, 40401, topic ? `Topic not found: ${topic}` : 'Topic not found.', { code: 'TOPIC_NOT_FOUND' }),
  partitionNotFound: (topic?: string, partition?: number) =>
    new ApiError(404, 40402, topic === undefined ? 'Partition not found.' : `Partition not found: ${topic}-${partition}`, { code: 'PARTITION_NOT_FOUND' }),
  instanceNotFound: (expired = false) =>
    new ApiError(404, 40403, expired
      ? 'Consumer instance not found: it expired after being idle longer than the instance timeout.'
      : 'Consumer instance not found.', { code: 'INSTANCE_NOT_FOUND' }),
  namespaceNotFound: (ns: string) => new ApiError(404, 40401, `Namespace not found: ${ns}`, { code: 'NAMESPACE_NOT_FOUND' }),
  /** /api/v2 routes act in the caller's default namespace, which exists once the user is created. */
  defaultNamespaceNotFound: (ns: string) => new ApiError(404, 40401,
    `Namespace not found: ${ns} (this identity's default namespace); create the user first (POST /api/v3/user)`, { code: 'NAMESPACE_NOT_FOUND' }),
  formatMismatch: () => new ApiError(406, 40601,
    'The requested embedded data format does not match the deserializer for this consumer instance'),
  instanceExists: () => new ApiError(409, 40902,
    'Consumer instance with the specified name already exists in this group; its owner may delete it.'),
  illegalState: (message: string) => new ApiError(409, 40903, `Illegal state: ${message}`, { code: 'ILLEGAL_STATE' }),
  /** auto.offset.reset none (Kafka's NoOffsetForPartitionException): the client must seek or commit first. */
  noCommittedOffset: (partitions: string[]) => new ApiError(409, 40905,
    `No committed offset for partition(s) ${partitions.join(', ')} and auto.offset.reset is none; seek (positions, positions/beginning or positions/end) or commit an offset first`,
    { code: 'NO_COMMITTED_OFFSET' }),
  conflict: (message: string, code = 'CONFLICT') => new ApiError(409, 409, message, { code }),
  unprocessable: (message: string, errorCode = 422) => new ApiError(422, errorCode, message),
  invalidName: (kind: string, rule: string, name?: string) => new ApiError(422, 42204,
    `Invalid ${kind} name${name === undefined ? '' : ` ${JSON.stringify(String(name).slice(0, 64))}`}: must be ${rule}`, { code: 'INVALID_NAME' }),
  invalidConsumerConfig: (message: string) => new ApiError(422, 42204, `Invalid consumer configuration: ${message}`, { code: 'INVALID_CONSUMER_CONFIG' }),
  invalidFetchMinBytes: () => new ApiError(422, 40001, 'fetch.min.bytes must be between -1 and 10000000', { code: 'INVALID_FETCH_MIN_BYTES' }),
  undecodableRecord: (topic: string, partition: number, offset: string, what: string) =>
    new ApiError(422, 42203, `Record ${topic}/${partition}@${offset} ${what} is not valid UTF-8, so a json consumer cannot return it; seek past offset ${offset} or use a binary consumer`, { code: 'UNDECODABLE_RECORD' }),
  quotaExceeded: (limit: number) => new ApiError(429, 42901, `Consumer instance quota exceeded: at most ${limit} instances per user`, { code: 'QUOTA_EXCEEDED' }),
  brokerUnavailable: (detail?: string) => new ApiError(503, 50302, detail ? `Broker not available: ${detail}` : 'Broker not available.', { code: 'BROKER_UNAVAILABLE' }),
  kafka: (detail: string) => new ApiError(500, 50002, `Kafka error: ${detail}`, { code: 'KAFKA_ERROR' }),
  kafkaRetriable: (detail: string) => new ApiError(500, 50003, `Kafka retriable error: ${detail}`, { code: 'KAFKA_RETRIABLE' }),
  internal: () => new ApiError(500, 500, 'Internal Server Error')
}

/** Consumer routes: Confluent shape. */
export function consumerBody (err: ApiError): { error_code: number, message: string } {
  return { error_code: err.errorCode, message: err.message }
}

/** Management routes: the existing service's fields plus a stable code (SDKs read `code`/`message`). */
export function managementBody (err: ApiError): { status: 'failure', code: string, message: string, reason: string } {
  return { status: 'failure', code: err.code, message: err.message, reason: err.message }
}
