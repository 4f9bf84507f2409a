/**
 * The edge between Kafka and HTTP: a Kafka failure as the contract's answer (404/40401 unknown topic,
 * 403/40301 authorization, 503/50302 broker unavailable, 500/50003 retriable, 500/50002 other). The engine
 * fails with the port's KafkaError (driver.ts); the root error handler (plugins/errors) and the services that
 * call kafkajs themselves (namespaces, credentials, producer) map here, once.
 */
import { ApiError, Errors } from '../errors/errors.js'
import { toKafkaError } from './kafkajs/errors.js'

export { kafkaErrorType, rootMessage } from './kafkajs/errors.js'

export function toKafkaApiError (err: unknown): ApiError {
  if (ApiError.is(err)) return err
  const e = toKafkaError(err)
  const msg = e.message
  if (e.kind === 'UNKNOWN_TOPIC_OR_PARTITION') return Errors.topicNotFound()
  if (e.kind === 'TOPIC_AUTHORIZATION_FAILED' || e.kind === 'GROUP_AUTHORIZATION_FAILED' || e.kind === 'CLUSTER_AUTHORIZATION_FAILED') {
    return new ApiError(403, 40301, `Kafka authorization failure: ${msg}`)
  }
  if (e.outage) return Errors.brokerUnavailable(msg)
  if (e.retriable) return Errors.kafkaRetriable(msg)
  return Errors.kafka(msg)
}
