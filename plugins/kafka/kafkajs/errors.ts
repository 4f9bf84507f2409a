/**
 * kafkajs' errors in the port's terms (driver.ts `KafkaError`): Kafka's error name, whether a retry may
 * succeed, and whether no broker could be reached. kafkajs wraps the broker's or the socket's error in its own
 * (retries exceeded, a lock timeout …), so the whole chain of causes is read.
 */
import { KafkaError } from '../driver.js'

interface KafkaishError {
  name?: string
  type?: string
  retriable?: boolean
  message?: string
  code?: string
  originalError?: unknown
  cause?: unknown
  errors?: unknown[]
}

// No broker or coordinator could be reached (kafkajs marks some of these non-retriable; for a client they are
// an outage, not a generic failure).
const CONNECTION_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSRequestTimeoutError',
  'KafkaJSGroupCoordinatorNotFound', 'KafkaJSNoBrokerAvailableError'])
const RETRIABLE_WRAPPERS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSTimeout', 'KafkaJSLockTimeout'])

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

/** Kafka's error name anywhere in the chain (`UNKNOWN_TOPIC_OR_PARTITION` …); a KafkaError's own kind. */
export function kafkaErrorType (err: unknown): string | undefined {
  if (err instanceof KafkaError) return err.kind
  return chain(err).find(e => typeof e.type === 'string')?.type
}

/** Any error a kafkajs call threw, as the port's KafkaError (one already is passes through). */
export function toKafkaError (err: unknown): KafkaError {
  if (err instanceof KafkaError) return err
  const errors = chain(err)
  return new KafkaError(rootMessage(err), {
    kind: errors.find(e => typeof e.type === 'string')?.type,
    outage: isConnectionError(err),
    retriable: errors.some(e => e.retriable === true || RETRIABLE_WRAPPERS.has(e.name ?? ''))
  }, { cause: err })
}

/** Run a kafkajs call; whatever it throws comes out as a KafkaError. */
export async function kafkajsCall<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw toKafkaError(err)
  }
}
