/**
 * The 13 Confluent REST Proxy v2 consumer endpoints, registered once per route family: under
 * /api/v3/{namespace}/consumers (the namespace named in the path) and under /api/v2/consumers (Diaspora 0.7, as
 * its SDK calls them: the caller's default namespace). Handlers only translate: resolve the namespace, find the
 * instance, call the engine, shape the answer.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ApiError, Errors } from '../plugins/errors/errors.js'
import { readGetBody, validateBody } from '../plugins/http/index.js'
import { subjectOf } from '../plugins/namespaces/index.js'
import { defaultNamespace } from '../plugins/namespaces/names.js'
import { KAFKA_V2, embeddedType, negotiateRecordsAccept } from '../plugins/http/media.js'
import type { ConsumerFormat } from '../plugins/consumers/format.js'
import { consumerErrorResponses, ConfluentError, Ref } from '../schemas/common.js'
import {
  AssignmentsResponse, CommitBody, CommittedResponse, CreateConsumerBody, CreateConsumerResponse, Empty, EmptyArray,
  GroupParams, InstanceParams, PartitionsBody, V2GroupParams, V2InstanceParams, type PartitionsBodyT, RecordsQuery,
  RecordsResponse, SeekBody, SeekEdgeBody, SubscriptionBody, SubscriptionResponse
} from '../schemas/consumers.js'

const errors = consumerErrorResponses
const with409 = { ...errors, 409: Ref(ConfluentError) }

/**
 * Default `consumer.request.timeout.ms` of instances created under /api/v2: the Diaspora SDK documents "the
 * service's default is 5000", and its fetch() without a timeout relies on it (Confluent's 1000 stays on /api/v3).
 */
export const V2_REQUEST_TIMEOUT_MS = 5000

/** Which route family a registration serves (routes/api.ts registers both). */
export interface ConsumerRoutesOptions {
  /**
   * v3: `/{namespace}/consumers/…`, the namespace named in the path. v2: `/consumers/…` in the caller's default
   * namespace (`ns-` + the last 12 hex digits of the subject), the Diaspora 0.7 API its SDK calls.
   */
  family: 'v3' | 'v2'
}

const consumers: FastifyPluginAsyncTypebox<ConsumerRoutesOptions> = async (fastify, opts) => {
  const { consumers: registry, namespaces, config } = fastify
  const v2 = opts.family === 'v2'
  const G = v2 ? '/consumers/:group' : '/:namespace/consumers/:group'
  const I = `${G}/instances/:instance`
  const GroupParamsOf = v2 ? V2GroupParams : GroupParams
  const InstanceParamsOf = v2 ? V2InstanceParams : InstanceParams
  /** The namespace a request acts in: named in the path (v3), or the caller's default one (v2). */
  const namespaceOf = v2
    ? (request: FastifyRequest): string => defaultNamespace(subjectOf(request))
    : (request: FastifyRequest): string => (request.params as { namespace: string }).namespace
  /** Where an instance lives in this family: its base_uri's path. */
  const instancePath = (namespace: string, group: string, name: string): string =>
    `${v2 ? '/api/v2' : `/api/v3/${namespace}`}/consumers/${encodeURIComponent(group)}/instances/${encodeURIComponent(name)}`

  fastify.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), family: 'consumer' }
    // OpenAPI: bodies in Confluent's type or plain JSON; every answer (errors too) is Confluent's type.
    route.schema = { tags: ['consumers'], security: [{ globus: [] }], consumes: [KAFKA_V2, 'application/json'], produces: [KAFKA_V2], ...route.schema }
  })
  // The namespace must exist and belong to the caller, else 404 without saying which.
  fastify.addHook('preHandler', async (request) => {
    const subject = subjectOf(request)
    const namespace = namespaceOf(request)
    if (!v2) return namespaces.requireOwnedOnDataPath(subject, namespace)
    try {
      await namespaces.requireOwnedOnDataPath(subject, namespace)
    } catch (err) {
      throw ApiError.is(err) && err.code === 'NAMESPACE_NOT_FOUND' ? Errors.defaultNamespaceNotFound(namespace) : err
    }
  })
  // Consumer responses are Confluent's vnd type (records set their embedded type themselves).
  // (A callback hook: no promise per response.)
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    const type = reply.getHeader('content-type')
    if (type === undefined || String(type).startsWith('application/json')) reply.type(KAFKA_V2)
    done(null, payload)
  })

  const instanceOf = (request: FastifyRequest) => {
    const p = request.params as { group: string, instance: string }
    return registry.get(subjectOf(request), namespaceOf(request), p.group, p.instance)
  }

  fastify.post(G, {
    schema: {
      summary: 'Create a consumer instance',
      description: v2
        ? 'Creates a consumer instance in the group of the caller\'s default namespace (Kafka group `ns-….{group}`); `base_uri` stays under /api/v2/consumers. The body is optional; defaults: format binary, auto.offset.reset latest, auto.commit.enable false, consumer.request.timeout.ms 5000 (the Diaspora SDK\'s documented default).'
        : 'Creates a consumer instance in the group (Kafka group `{namespace}.{group}`). The body is optional; defaults: format binary, auto.offset.reset latest, auto.commit.enable false.',
      params: GroupParamsOf,
      body: CreateConsumerBody,
      'x-body-optional': true,
      response: { 200: CreateConsumerResponse, ...with409, 429: Ref(ConfluentError) }
    },
    preValidation: async (request) => { request.body ??= {} }
  }, async (request) => {
    const namespace = namespaceOf(request)
    const { group } = request.params
    const b = request.body
    const format = (b.format ?? 'binary').toLowerCase()
    if (format === 'avro' || format === 'jsonschema' || format === 'protobuf') {
      throw Errors.unprocessable(`The ${format} format needs a schema registry, which this service does not offer; use binary or json`, 42204)
    }
    if (format !== 'binary' && format !== 'json') throw Errors.unprocessable('Invalid format type.')
    const reset = (b['auto.offset.reset'] ?? 'latest').toLowerCase()
    if (reset !== 'earliest' && reset !== 'latest' && reset !== 'none') {
      throw Errors.invalidConsumerConfig(`auto.offset.reset must be earliest, latest or none (got ${JSON.stringify(b['auto.offset.reset'])})`)
    }
    const commitRaw = (b['auto.commit.enable'] ?? 'false').toLowerCase()
    if (commitRaw !== 'true' && commitRaw !== 'false') {
      throw Errors.invalidConsumerConfig(`auto.commit.enable must be true or false (got ${JSON.stringify(b['auto.commit.enable'])})`)
    }
    const minBytes = b['fetch.min.bytes'] ?? b.responseMinBytes ?? 1
    if (minBytes < -1 || minBytes > 10_000_000) throw Errors.invalidFetchMinBytes()
    const defaultWait = v2 ? V2_REQUEST_TIMEOUT_MS : config.CONSUMER_REQUEST_TIMEOUT_MS
    const wait = Math.min(b['consumer.request.timeout.ms'] ?? b.requestWaitMs ?? defaultWait, config.CONSUMER_REQUEST_TIMEOUT_MAX_MS)
    const name = b.id ?? b.name
    const inst = await registry.open({
      namespace,
      group,
      ...(name === undefined ? {} : { name }),
      subject: subjectOf(request),
      format: format as ConsumerFormat,
      autoOffsetReset: reset,
      autoCommit: commitRaw === 'true',
      fetchMinBytes: minBytes,
      requestTimeoutMs: wait
    }, { url: request.url, authorization: request.headers.authorization })
    const base = (config.PUBLIC_URL ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '')
    return { instance_id: inst.opts.name, base_uri: base + instancePath(namespace, group, inst.opts.name) }
  })

  fastify.delete(I, {
    schema: { summary: 'Delete a consumer instance', description: 'Closes the instance; it leaves its group (and commits delivered offsets first if auto-commit is on).', params: InstanceParamsOf, response: { 204: Empty, ...errors } }
  }, async (request, reply) => {
    const { group, instance } = request.params
    await registry.delete(subjectOf(request), namespaceOf(request), group, instance)
    return reply.code(204).send(null)
  })

  fastify.post(`${I}/subscription`, {
    schema: {
      summary: 'Subscribe to topics or a topic pattern',
      description: 'Replaces a topic-list subscription. `topics` and `topic_pattern` are mutually exclusive (409/40903); one is required (422/42204). A pattern matches topic names of this namespace only, in full, and picks up topics created later.',
      params: InstanceParamsOf,
      body: SubscriptionBody,
      response: { 204: Empty, ...with409 }
    }
  }, async (request, reply) => {
    await instanceOf(request).subscribe(request.body)
    return reply.code(204).send(null)
  })

  fastify.get(`${I}/subscription`, {
    schema: { summary: 'Get the subscription', description: 'Topics subscribed to (for a pattern: the topics it currently matches).', params: InstanceParamsOf, response: { 200: SubscriptionResponse, ...errors } }
  }, async (request) => ({ topics: instanceOf(request).subscription() }))

  fastify.delete(`${I}/subscription`, {
    schema: { summary: 'Unsubscribe', description: 'Drops the subscription and any manual assignment; the instance leaves the group. Idempotent.', params: InstanceParamsOf, response: { 204: Empty, ...errors } }
  }, async (request, reply) => {
    await instanceOf(request).unsubscribe()
    return reply.code(204).send(null)
  })

  fastify.get(`${I}/records`, {
    schema: {
      summary: 'Fetch records (long poll)',
      description: 'Returns as soon as the instance\'s fetch.min.bytes are buffered, otherwise when the timeout ends. Accept selects the embedded format and must match the instance (406/40601).',
      params: InstanceParamsOf,
      querystring: RecordsQuery,
      // The embedded type of the instance's format; errors are the plain Confluent type.
      produces: [embeddedType('binary'), embeddedType('json'), KAFKA_V2],
      response: { 200: RecordsResponse, ...with409 }
    }
  }, async (request, reply) => {
    const inst = instanceOf(request)
    const accept = negotiateRecordsAccept(request.headers.accept)
    if (accept.unacceptable || (accept.format !== undefined && accept.format !== inst.opts.format)) {
      throw Errors.formatMismatch()
    }
    const q = request.query
    const wait = q.timeout !== undefined && q.timeout > 0
      ? Math.min(q.timeout, config.CONSUMER_REQUEST_TIMEOUT_MAX_MS)
      : inst.opts.requestTimeoutMs
    const maxBytes = q.max_bytes !== undefined && q.max_bytes > 0
      ? Math.min(q.max_bytes, config.CONSUMER_REQUEST_MAX_BYTES)
      : config.CONSUMER_DEFAULT_MAX_BYTES
    const delivery = await inst.read(wait, maxBytes, inst.opts.format)
    // Rendered by the delivery straight from the buffered bytes rather than by the schema's generic serializer
    // (the same JSON; format.ts), and sent as bytes so that a multi-megabyte answer is not measured and encoded
    // again (a Buffer is not serialized, hence the cast past the schema's type). Fastify adds no charset to a
    // Buffer, so the type names it.
    // The answer's buffer is reused once the answer is written out (buffer-pool.ts); never before.
    const body = delivery.render(fastify.consumers.answers)
    reply.raw.once('finish', delivery.releaser())
    return reply.type(`${embeddedType(inst.opts.format)}; charset=utf-8`).send(body as never)
  })

  fastify.post(`${I}/offsets`, {
    schema: {
      summary: 'Commit offsets',
      description: 'With offsets: commits offset + 1 for each (the client names the last record it processed). Without a body: commits, per partition, the offset after the last record returned over HTTP.',
      params: InstanceParamsOf,
      body: CommitBody,
      'x-body-optional': true,
      response: { 200: EmptyArray, ...with409 }
    },
    preValidation: async (request) => { request.body ??= {} }
  }, async (request) => {
    await instanceOf(request).commit(request.body.offsets)
    return []
  })

  fastify.get(`${I}/offsets`, {
    schema: {
      summary: 'Get committed offsets',
      description: 'Reads the group\'s committed offsets (the next offset to read) for the partitions named in the JSON body of this GET. Partitions never committed are left out. No body: 404/40402, as Confluent.',
      params: InstanceParamsOf,
      'x-get-body': PartitionsBody,
      response: { 200: CommittedResponse, ...errors }
    }
  }, async (request) => {
    const inst = instanceOf(request)
    const raw = await readGetBody(request, config.BODY_LIMIT)
    if (raw === undefined) throw Errors.partitionNotFound()
    const body = validateBody<PartitionsBodyT>(request, PartitionsBody, raw)
    return { offsets: await inst.committed(body.partitions) }
  })

  fastify.post(`${I}/assignments`, {
    schema: {
      summary: 'Assign partitions manually',
      description: 'Fetches exactly these partitions, starting at the group\'s committed offsets or auto.offset.reset; commits land in the real group. Conflicts with a subscription (409/40903). An empty list clears the assignment.',
      params: InstanceParamsOf,
      body: PartitionsBody,
      response: { 204: Empty, ...with409 }
    }
  }, async (request, reply) => {
    await instanceOf(request).assign(request.body.partitions)
    return reply.code(204).send(null)
  })

  fastify.get(`${I}/assignments`, {
    schema: { summary: 'Get the current assignment', description: 'Partitions currently held, manual or given by the group.', params: InstanceParamsOf, response: { 200: AssignmentsResponse, ...errors } }
  }, async (request) => {
    const inst = instanceOf(request)
    inst.startSoon() // a subscription starts its consumer at the first read, commit or this request
    return { partitions: inst.assignment() }
  })

  fastify.post(`${I}/positions`, {
    schema: {
      summary: 'Seek to offsets or timestamps',
      description: 'The next read starts exactly at `offset` (no +1). Timestamps seek to the first record at or after the instant (the end when none). Partitions must be held by the instance (409/40903).',
      params: InstanceParamsOf,
      body: SeekBody,
      response: { 204: Empty, ...with409 }
    }
  }, async (request, reply) => {
    const inst = instanceOf(request)
    const { offsets, timestamps } = request.body
    if (offsets && offsets.length > 0) await inst.seek(offsets)
    if (timestamps && timestamps.length > 0) {
      await inst.seekToTimestamps(timestamps.map(t => ({
        topic: t.topic, partition: t.partition, timestamp: Date.parse(t.timestamp)
      })))
    }
    return reply.code(204).send(null)
  })

  for (const edge of ['beginning', 'end'] as const) {
    fastify.post(`${I}/positions/${edge}`, {
      schema: {
        summary: `Seek to the ${edge}`,
        description: `Moves each partition to its ${edge === 'beginning' ? 'first available' : 'log end'} offset, resolved now; buffered records of those partitions are dropped. No \`partitions\`, an empty list or no body: every partition the instance holds now.`,
        params: InstanceParamsOf,
        body: SeekEdgeBody,
        'x-body-optional': true,
        response: { 204: Empty, ...with409 }
      },
      preValidation: async (request) => { request.body ??= {} }
    }, async (request, reply) => {
      await instanceOf(request).seekToEdge(request.body.partitions, edge)
      return reply.code(204).send(null)
    })
  }
}

export default consumers
