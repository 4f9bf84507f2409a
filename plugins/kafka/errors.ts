/** Maps kafkajs errors to the contract's codes (50302 broker unavailable, 50003 retriable, 50002 other). */
import { ApiError, Errors } from '../errors/errors.js'

interface KafkaishError { name?: string, type?: string, retriable?: boolean, message?: string, code?: string, originalError?: unknown, cause?: unknown, errors?: unknown[] }

// No broker or coordinator could be reached (kafkajs marks some of these non-retriable; for a client they are
// an outage: 50302, not a generic 50002).
const CONNECTION_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSRequestTimeoutError',
  'KafkaJSGroupCoordinatorNotFound', 'KafkaJSNoBrokerAvailableError'])

/** The chain of causes, outermost first. */
function chain (err: unknown): KafkaishError[] {
  const out: KafkaishError[] = []
  let cur: unknown = err
  while (cur && typeof cur === 'object' && out.length < 10) {
    const e = cur as KafkaishError
    out.push(e)
    cur = e.originalError ?? e.cause ?? (Array.isArray(e.errors) ? e.errors[0] : undefined)
  }
  return out
}

/** The message of the innermost cause (kafkajs wraps the broker's or the socket's error), at most `max` characters. */
export function rootMessage (err: unknown, max = 500): string {
  return String(chain(err).at(-1)?.message ?? err).slice(0, max)
}

export function isConnectionError (err: unknown): boolean {
  return chain(err).some(e => CONNECTION_ERRORS.has(e.name ?? '') || e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' ||
    e.type === 'LEADER_NOT_AVAILABLE' || e.type === 'COORDINATOR_NOT_AVAILABLE' || e.type === 'NOT_COORDINATOR' || e.type === 'BROKER_NOT_AVAILABLE')
}

export function kafkaErrorType (err: unknown): string | undefined {
  return chain(err).find(e => typeof e.type === 'string')?.type
}

export function toKafkaApiError (err: unknown): ApiError {
  if (ApiError.is(err)) return err
  const type = kafkaErrorType(err)
  const msg = rootMessage(err)
  if (type === 'UNKNOWN_TOPIC_OR_PARTITION') return Errors.topicNotFound()
  if (type === 'TOPIC_AUTHORIZATION_FAILED' || type === 'GROUP_AUTHORIZATION_FAILED' || type === 'CLUSTER_AUTHORIZATION_FAILED') {
    return new ApiError(403, 40301, `Kafka authorization failure: ${msg}`)
  }
  if (isConnectionError(err)) return Errors.brokerUnavailable(msg)
  if (chain(err).some(e => e.retriable === true || e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSTimeout' || e.name === 'KafkaJSLockTimeout')) {
    return Errors.kafkaRetriable(msg)
  }
  return Errors.kafka(msg)
}
