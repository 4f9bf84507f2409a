/**
 * The error catalogue and its two wire shapes, pinned: every entry's HTTP status, Confluent `error_code` and
 * management `code` (clients and the SDK branch on them), the Confluent `{error_code, message}` body of the
 * consumer family and the `{status: "failure", code, message, reason}` body of the management family, and how
 * anything thrown becomes one (toApiError) and which family a URL belongs to.
 */
import t from 'tap'
import Fastify from 'fastify'
import { ApiError, Errors, consumerBody, managementBody } from '../../../plugins/errors/errors.js'
import errorsPlugin, { familyOfPath, toApiError } from '../../../plugins/errors/index.js'
import { ConfluentError, ManagementError, Ref } from '../../../schemas/common.js'

/** [catalogue entry's name, the error it makes, HTTP status, Confluent error_code, management code] */
const CATALOGUE: Array<[keyof typeof Errors, ApiError, number, number, string]> = [
  ['badRequest', Errors.badRequest('x'), 400, 400, 'BAD_REQUEST'],
  ['malformedJson', Errors.malformedJson('x'), 400, 400, 'MALFORMED_JSON'],
  ['notFound', Errors.notFound(), 404, 404, 'NOT_FOUND'],
  ['topicNotFound', Errors.topicNotFound('t'), 404, 40401, 'TOPIC_NOT_FOUND'],
  ['partitionNotFound', Errors.partitionNotFound('t', 3), 404, 40402, 'PARTITION_NOT_FOUND'],
  ['instanceNotFound', Errors.instanceNotFound(), 404, 40403, 'INSTANCE_NOT_FOUND'],
  ['namespaceNotFound', Errors.namespaceNotFound('ns'), 404, 40401, 'NAMESPACE_NOT_FOUND'],
  ['defaultNamespaceNotFound', Errors.defaultNamespaceNotFound('ns'), 404, 40401, 'NAMESPACE_NOT_FOUND'],
  ['formatMismatch', Errors.formatMismatch(), 406, 40601, 'NOT_ACCEPTABLE'],
  ['instanceExists', Errors.instanceExists(), 409, 40902, 'CONFLICT'],
  ['illegalState', Errors.illegalState('x'), 409, 40903, 'ILLEGAL_STATE'],
  ['noCommittedOffset', Errors.noCommittedOffset(['t-0']), 409, 40905, 'NO_COMMITTED_OFFSET'],
  ['conflict', Errors.conflict('x'), 409, 409, 'CONFLICT'],
  ['conflict', Errors.conflict('x', 'TOPIC_EXISTS'), 409, 409, 'TOPIC_EXISTS'],
  ['unprocessable', Errors.unprocessable('x'), 422, 422, 'UNPROCESSABLE_ENTITY'],
  ['unprocessable', Errors.unprocessable('x', 42204), 422, 42204, 'UNPROCESSABLE_ENTITY'],
  ['invalidName', Errors.invalidName('topic', 'rule'), 422, 42204, 'INVALID_NAME'],
  ['invalidConsumerConfig', Errors.invalidConsumerConfig('x'), 422, 42204, 'INVALID_CONSUMER_CONFIG'],
  ['invalidFetchMinBytes', Errors.invalidFetchMinBytes(), 422, 40001, 'INVALID_FETCH_MIN_BYTES'],
  ['undecodableRecord', Errors.undecodableRecord('t', 0, '5', 'value'), 422, 42203, 'UNDECODABLE_RECORD'],
  ['quotaExceeded', Errors.quotaExceeded(10), 429, 42901, 'QUOTA_EXCEEDED'],
  ['brokerUnavailable', Errors.brokerUnavailable(), 503, 50302, 'BROKER_UNAVAILABLE'],
  ['kafka', Errors.kafka('x'), 500, 50002, 'KAFKA_ERROR'],
  ['kafkaRetriable', Errors.kafkaRetriable('x'), 500, 50003, 'KAFKA_RETRIABLE'],
  ['internal', Errors.internal(), 500, 500, 'INTERNAL_ERROR']
]

t.test('every catalogue entry: status, Confluent error_code, management code', async t => {
  t.same(new Set(CATALOGUE.map(([name]) => name)), new Set(Object.keys(Errors)), 'every entry of the catalogue is pinned here')
  for (const [, err, status, errorCode, code] of CATALOGUE) {
    t.ok(ApiError.is(err), `${code} is an ApiError`)
    t.equal(err.statusCode, status, `${code}: status`)
    t.equal(err.errorCode, errorCode, `${code}: error_code`)
    t.equal(err.code, code, `${code}: code`)
    t.equal(Math.floor(err.errorCode / 100) === status || err.errorCode === status || err.errorCode === 40001, true,
      `${code}: error_code is the status or status * 100 + sub-code (40001 is Confluent's own)`)
    t.equal(err.name, 'ApiError')
  }
})

t.test('messages say what the client needs, and carry no more than was given', async t => {
  t.equal(Errors.topicNotFound().message, 'Topic not found.')
  t.equal(Errors.topicNotFound('events').message, 'Topic not found: events')
  t.equal(Errors.partitionNotFound().message, 'Partition not found.')
  t.equal(Errors.partitionNotFound('events', 2).message, 'Partition not found: events-2')
  t.equal(Errors.instanceNotFound().message, 'Consumer instance not found.')
  t.match(Errors.instanceNotFound(true).message, /expired after being idle/)
  t.equal(Errors.brokerUnavailable().message, 'Broker not available.')
  t.equal(Errors.brokerUnavailable('shutting down').message, 'Broker not available: shutting down')
  t.equal(Errors.quotaExceeded(7).message, 'Consumer instance quota exceeded: at most 7 instances per user')
  t.match(Errors.noCommittedOffset(['a-0', 'a-1']).message, /partition\(s\) a-0, a-1 and auto\.offset\.reset is none/)
  t.equal(Errors.invalidName('topic', 'a rule').message, 'Invalid topic name: must be a rule')
  const long = Errors.invalidName('topic', 'a rule', 'x'.repeat(500)).message
  t.equal(long, `Invalid topic name "${'x'.repeat(64)}": must be a rule`, 'a long name is cut to 64 characters')
  t.equal(Errors.internal().message, 'Internal Server Error', 'a 500 says nothing of its cause')
})

t.test('default management codes by status, headers and cause', async t => {
  const byStatus: Array<[number, string]> = [
    [400, 'BAD_REQUEST'], [401, 'UNAUTHORIZED'], [403, 'FORBIDDEN'], [404, 'NOT_FOUND'], [406, 'NOT_ACCEPTABLE'],
    [409, 'CONFLICT'], [413, 'PAYLOAD_TOO_LARGE'], [415, 'UNSUPPORTED_MEDIA_TYPE'], [422, 'UNPROCESSABLE_ENTITY'],
    [429, 'TOO_MANY_REQUESTS'], [503, 'SERVICE_UNAVAILABLE'], [500, 'INTERNAL_ERROR'], [502, 'INTERNAL_ERROR'], [418, 'ERROR']
  ]
  for (const [status, code] of byStatus) t.equal(new ApiError(status, status, 'x').code, code, `${status}`)
  const cause = new Error('inner')
  const err = new ApiError(401, 40101, 'no', { code: 'TOKEN_INACTIVE', headers: { 'www-authenticate': 'Bearer' }, cause })
  t.equal(err.code, 'TOKEN_INACTIVE')
  t.same(err.headers, { 'www-authenticate': 'Bearer' })
  t.equal(err.cause, cause)
  t.same(new ApiError(400, 400, 'x').headers, {}, 'no headers by default')
  t.notOk('cause' in new ApiError(400, 400, 'x'), 'no cause property unless one is given')
  t.notOk(ApiError.is(new Error('x')))
  t.notOk(ApiError.is({ statusCode: 400, errorCode: 400, message: 'x' }), 'a look-alike object is not one')
})

t.test('the two wire shapes', async t => {
  const err = Errors.instanceNotFound()
  t.strictSame(consumerBody(err), { error_code: 40403, message: 'Consumer instance not found.' }, 'Confluent: exactly error_code and message')
  t.strictSame(managementBody(err), { status: 'failure', code: 'INSTANCE_NOT_FOUND', message: 'Consumer instance not found.', reason: 'Consumer instance not found.' },
    'management: status "failure", the stable code, message and reason (the same text, for existing SDK clients)')
  const plain = new ApiError(400, 400, 'bad')
  t.strictSame(consumerBody(plain), { error_code: 400, message: 'bad' })
  t.strictSame(managementBody(plain), { status: 'failure', code: 'BAD_REQUEST', message: 'bad', reason: 'bad' })
})

t.test('toApiError: anything thrown becomes an ApiError with the contract status', async t => {
  const err = Errors.quotaExceeded(1)
  t.equal(toApiError(err, 'consumer'), err, 'an ApiError passes unchanged')
  const fst = (code: string, statusCode = 400) => Object.assign(new Error('fastify says'), { code, statusCode })
  const cases: Array<[unknown, number, number]> = [
    [fst('FST_ERR_CTP_BODY_TOO_LARGE', 413), 413, 413],
    [fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415), 415, 415],
    [fst('FST_ERR_CTP_EMPTY_JSON_BODY'), 400, 400],
    [fst('FST_ERR_CTP_INVALID_CONTENT_LENGTH'), 400, 400],
    [new SyntaxError('Unexpected token'), 400, 400],
    [Object.assign(new Error('teapot'), { statusCode: 418 }), 418, 418],
    [new Error('something broke'), 500, 500],
    [Object.assign(new Error('upstream'), { statusCode: 502 }), 500, 500],
    ['a string', 500, 500]
  ]
  for (const [thrown, status, errorCode] of cases) {
    const api = toApiError(thrown, 'management')
    t.equal(api.statusCode, status, String((thrown as Error).message ?? thrown))
    t.equal(api.errorCode, errorCode)
  }
  t.equal(toApiError(new SyntaxError('x'), 'consumer').code, 'MALFORMED_JSON')
  t.equal(toApiError(new Error('secret detail'), 'consumer').message, 'Internal Server Error', 'a 500 hides its cause')
})

t.test('toApiError: validation failures, per family and context', async t => {
  const v = (issue: Record<string, unknown>, context = 'body') =>
    Object.assign(new Error('validation'), { validation: [{ instancePath: '', params: {}, ...issue }], validationContext: context })
  const check = (thrown: unknown, family: 'consumer' | 'management', status: number, errorCode: number, message: RegExp, code?: string) => {
    const api = toApiError(thrown, family)
    t.equal(api.statusCode, status, `${family}: ${api.message}`)
    t.equal(api.errorCode, errorCode)
    t.match(api.message, message)
    if (code !== undefined) t.equal(api.code, code)
  }
  check(v({ keyword: 'additionalProperties', params: { additionalProperty: 'bogus' } }), 'consumer', 422, 422, /^Unrecognized field: bogus$/)
  check(v({ keyword: 'required', params: { missingProperty: 'topics' } }), 'consumer', 422, 422, /^Missing field: topics$/)
  check(v({ keyword: 'minimum', instancePath: '/offsets/0/offset', message: 'must be >= 0' }), 'consumer', 422, 42204, /^Invalid offsets\.0\.offset: must be >= 0$/)
  check(v({ keyword: 'type', instancePath: '/format', message: 'must be string' }), 'consumer', 400, 400, /^Field format must be string$/)
  check(v({ keyword: 'type', message: 'must be object' }), 'consumer', 422, 422, /^Request body is required$/)
  check(v({ keyword: 'type', message: 'must be integer' }, 'querystring'), 'consumer', 400, 400, /^Invalid query parameter querystring: must be integer$/)
  check(v({ keyword: 'maxLength', instancePath: '/group', message: 'too long' }, 'params'), 'consumer', 422, 422, /^Invalid group in path: too long$/)
  check(v({ keyword: 'maxLength', instancePath: '/topic', message: 'too long' }, 'params'), 'management', 422, 422, /^Invalid topic: too long$/, 'INVALID_NAME')
  const pattern = '^[A-Za-z0-9](?:[A-Za-z0-9_-]{1,30})[A-Za-z0-9]$'
  check(v({ keyword: 'pattern', instancePath: '/topics/1', params: { pattern } }), 'consumer', 422, 42204, /^Invalid topic name: must be 3–32 letters/, 'INVALID_NAME')
})

t.test('familyOfPath: consumer and produce routes (and non-API paths) answer in Confluent\'s shape', async t => {
  const consumer = ['/api/v3/ns-a/consumers', '/api/v3/ns-a/consumers/g', '/api/v3/ns-a/topics/t/records', '/api/v2/consumers/g/instances/i',
    '/api/v2/consumers', '/', '/docs', '/metrics', '/ready?x=1']
  const management = ['/api/v3/user', '/api/v3/ns-a', '/api/v3/ns-a/t', '/api/v3/key', '/api/v3/ns-a/consumersx', '/api/v2/other', '/api/']
  for (const p of consumer) t.equal(familyOfPath(p), 'consumer', p)
  for (const p of management) t.equal(familyOfPath(p), 'management', p)
})

t.test('the plugin registers the shared $id schemas: routes validate and serialize with them, no docs plugin needed', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(errorsPlugin)
  app.get('/api/v3/ns-a/consumers/g', { schema: { response: { 404: Ref(ConfluentError) } } }, async () => { throw Errors.instanceNotFound() })
  app.get('/api/v3/user', { schema: { response: { 409: Ref(ManagementError) } } }, async () => { throw Errors.conflict('taken', 'TAKEN') })
  await app.ready()
  const consumer = await app.inject({ method: 'GET', url: '/api/v3/ns-a/consumers/g' })
  t.equal(consumer.statusCode, 404)
  t.match(consumer.headers['content-type'], /^application\/vnd\.kafka\.v2\+json/)
  t.strictSame(consumer.json(), { error_code: 40403, message: 'Consumer instance not found.' })
  const management = await app.inject({ method: 'GET', url: '/api/v3/user' })
  t.equal(management.statusCode, 409)
  t.strictSame(management.json(), { status: 'failure', code: 'TAKEN', message: 'taken', reason: 'taken' })
  const unknown = await app.inject({ method: 'GET', url: '/api/v3/ns-a/consumers/g/x' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error_code, 404, 'the not-found handler answers in the family\'s shape')
})
