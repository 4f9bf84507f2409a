/**
 * The edge between Kafka and HTTP: a failure of the port (driver.ts, admin.ts: always a KafkaError) as the
 * contract's answer (404/40401 unknown topic, 403/40301 authorization, 503/50302 broker unavailable, 500/50003
 * retriable, 500/50002 other). The root error handler (plugins/errors) and the services that call the ports
 * (namespaces, credentials, producer) map here, once. Plain module: no Fastify, no kafkajs.
 */
import { ApiError, Errors } from '../errors/errors.js'
import { isKafkaError } from './driver.js'

const AUTHORIZATION_KINDS: ReadonlySet<string> = new Set(['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED'])

/** Kafka's error name of a port failure (`UNKNOWN_TOPIC_OR_PARTITION` …); undefined for anything else. */
export function kafkaErrorKind (err: unknown): string | undefined {
  return isKafkaError(err) ? err.kind : undefined
}

export function toKafkaApiError (err: unknown): ApiError {
  if (ApiError.is(err)) return err
  if (!isKafkaError(err)) return Errors.kafka(err instanceof Error ? err.message : String(err))
  const msg = err.message
  if (err.kind === 'UNKNOWN_TOPIC_OR_PARTITION') return Errors.topicNotFound()
  if (err.kind !== undefined && AUTHORIZATION_KINDS.has(err.kind)) return new ApiError(403, 40301, `Kafka authorization failure: ${msg}`)
  if (err.outage) return Errors.brokerUnavailable(msg)
  if (err.retriable) return Errors.kafkaRetriable(msg)
  return Errors.kafka(msg)
}
