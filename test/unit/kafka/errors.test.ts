/** The edge: a failure of the port (a KafkaError, as the adapter makes it of kafkajs' errors) as an HTTP answer. */
import t from 'tap'
import { ApiError } from '../../../plugins/errors/errors.js'
import { KafkaError } from '../../../plugins/kafka/driver.js'
import { kafkaErrorKind, toKafkaApiError } from '../../../plugins/kafka/errors.js'
import { toKafkaError } from '../../../plugins/kafka/kafkajs/errors.js'
import { toApiError } from '../../../plugins/errors/index.js'

t.test('KafkaErrors map to the contract\'s codes', async t => {
  t.match(toKafkaApiError(new KafkaError('gone', { kind: 'UNKNOWN_TOPIC_OR_PARTITION' })), { statusCode: 404, errorCode: 40401 })
  t.match(toKafkaApiError(new KafkaError('no', { kind: 'GROUP_AUTHORIZATION_FAILED' })), { statusCode: 403, errorCode: 40301 })
  t.match(toKafkaApiError(new KafkaError('down', { outage: true, retriable: true })), { statusCode: 503, errorCode: 50302, message: /down/ })
  t.match(toKafkaApiError(new KafkaError('again', { kind: 'REBALANCE_IN_PROGRESS', retriable: true })), { statusCode: 500, errorCode: 50003 })
  t.match(toKafkaApiError(new KafkaError('boom', { kind: 'UNKNOWN_SERVER_ERROR' })), { statusCode: 500, errorCode: 50002 })
  const api = new ApiError(409, 40903, 'conflict')
  t.equal(toKafkaApiError(api), api, 'an ApiError passes through')
})

t.test('kafkajs errors map the same way, through the adapter\'s reading of them', async t => {
  const edge = (raw: Error) => toKafkaApiError(toKafkaError(raw))
  t.match(edge(Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' })), { errorCode: 50302 })
  t.match(edge(Object.assign(new Error('x'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' })), { errorCode: 40401 })
  t.match(edge(Object.assign(new Error('x'), { name: 'KafkaJSNumberOfRetriesExceeded' })), { errorCode: 50003 })
})

t.test('the edge reads only the port\'s errors: anything else is a plain Kafka failure', async t => {
  t.match(toKafkaApiError(Object.assign(new Error('x'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' })), { statusCode: 500, errorCode: 50002 })
  t.equal(kafkaErrorKind(new KafkaError('gone', { kind: 'UNKNOWN_TOPIC_OR_PARTITION' })), 'UNKNOWN_TOPIC_OR_PARTITION')
  t.equal(kafkaErrorKind(Object.assign(new Error('x'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' })), undefined)
})

t.test('the root error handler maps a KafkaError the engine threw', async t => {
  t.match(toApiError(new KafkaError('down', { outage: true }), 'consumer'), { statusCode: 503, errorCode: 50302 })
})
