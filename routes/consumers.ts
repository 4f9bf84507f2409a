/**
 * The 13 Confluent REST Proxy v2 consumer endpoints under /api/v3/{namespace}/consumers. Handlers only
 * translate: resolve the namespace, find the instance, call the engine, shape the answer.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Errors } from '../plugins/errors/errors.js'
import { readGetBody, validateBody } from '../plugins/http/index.js'
import { subjectOf } from '../plugins/namespaces/index.js'
import { KAFKA_V2, embeddedType, negotiateRecordsAccept } from '../plugins/http/media.js'
import type { ConsumerFormat } from '../plugins/consumers/format.js'
import { consumerErrorResponses, ConfluentError, Ref } from '../schemas/common.js'
import {
  AssignmentsResponse, CommitBody, CommittedResponse, CreateConsumerBody, CreateConsumerResponse, Empty, EmptyArray,
  GroupParams, InstanceParams, PartitionsBody, type PartitionsBodyT, RecordsQuery, RecordsResponse, SeekBody, SubscriptionBody, SubscriptionResponse
} from '../schemas/consumers.js'

const errors = consumerErrorResponses
const with409 = { ...errors, 409: Ref(ConfluentError) }
const I = '/:namespace/consumers/:group/instances/:instance'

const consumers: FastifyPluginAsyncTypebox = async (fastify) => {
  const { consumers: registry, namespaces, config } = fastify

  fastify.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), family: 'consumer' }
    // OpenAPI: bodies in Confluent's type or plain JSON; every answer (errors too) is Confluent's type.
    route.schema = { tags: ['consumers'], security: [{ globus: [] }], consumes: [KAFKA_V2, 'application/json'], produces: [KAFKA_V2], ...route.schema }
  })
  // The namespace must exist and belong to the caller, else 404 without saying which.
  fastify.addHook('preHandler', async (request) => {
    const { namespace } = request.params as { namespace: string }
    await namespaces.requireOwned(subjectOf(request), namespace)
  })
  // Consumer responses are Confluent's vnd type (records set their embedded type themselves).
  // (A callback hook: no promise per response.)
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    const type = reply.getHeader('content-type')
    if (type === undefined || String(type).startsWith('application/json')) reply.type(KAFKA_V2)
    done(null, payload)
  })

  const instanceOf = (request: FastifyRequest) => {
    const p = request.params as { namespace: string, group: string, instance: string }
    return registry.get(subjectOf(request), p.namespace, p.group, p.instance)
  }

  fastify.post('/:namespace/consumers/:group', {
    schema: {
      summary: 'Create a consumer instance',
      description: 'Creates a consumer instance in the group (Kafka group `{namespace}.{group}`). The body is optional; defaults: format binary, auto.offset.reset latest, auto.commit.enable false.',
      params: GroupParams,
      body: CreateConsumerBody,
      'x-body-optional': true,
      response: { 200: CreateConsumerResponse, ...with409, 429: Ref(ConfluentError) }
    },
    preValidation: async (request) => { request.body ??= {} }
  }, async (request) => {
    const { namespace, group } = request.params
    const b = request.body
    const format = (b.format ?? 'binary').toLowerCase()
    if (format === 'avro' || format === 'jsonschema' || format === 'protobuf') {
      throw Errors.unprocessable(`The ${format} format needs a schema registry, which this service does not offer; use binary or json`, 42204)
    }
    if (format !== 'binary' && format !== 'json') throw Errors.unprocessable('Invalid format type.')
    const reset = (b['auto.offset.reset'] ?? 'latest').toLowerCase()
    if (reset !== 'earliest' && reset !== 'latest') {
      throw Errors.invalidConsumerConfig(`auto.offset.reset must be earliest or latest (got ${JSON.stringify(b['auto.offset.reset'])})`)
    }
    const commitRaw = (b['auto.commit.enable'] ?? 'false').toLowerCase()
    if (commitRaw !== 'true' && commitRaw !== 'false') {
      throw Errors.invalidConsumerConfig(`auto.commit.enable must be true or false (got ${JSON.stringify(b['auto.commit.enable'])})`)
    }
    const minBytes = b['fetch.min.bytes'] ?? b.responseMinBytes ?? 1
    if (minBytes < -1 || minBytes > 10_000_000) throw Errors.invalidFetchMinBytes()
    const wait = Math.min(b['consumer.request.timeout.ms'] ?? b.requestWaitMs ?? config.CONSUMER_REQUEST_TIMEOUT_MS, config.CONSUMER_REQUEST_TIMEOUT_MAX_MS)
    const name = b.id ?? b.name
    const inst = registry.create({
      namespace,
      group,
      ...(name === undefined ? {} : { name }),
      subject: subjectOf(request),
      format: format as ConsumerFormat,
      autoOffsetReset: reset,
      autoCommit: commitRaw === 'true',
      fetchMinBytes: minBytes,
      requestTimeoutMs: wait
    })
    const base = (config.PUBLIC_URL ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '')
    const path = `/api/v3/${namespace}/consumers/${encodeURIComponent(group)}/instances/${encodeURIComponent(inst.opts.name)}`
    return { instance_id: inst.opts.name, base_uri: base + path }
  })

  fastify.delete(I, {
    schema: { summary: 'Delete a consumer instance', description: 'Closes the instance; it leaves its group (and commits delivered offsets first if auto-commit is on).', params: InstanceParams, response: { 204: Empty, ...errors } }
  }, async (request, reply) => {
    const { namespace, group, instance } = request.params
    await registry.delete(subjectOf(request), namespace, group, instance)
    return reply.code(204).send(null)
  })

  fastify.post(`${I}/subscription`, {
    schema: {
      summary: 'Subscribe to topics or a topic pattern',
      description: 'Replaces a topic-list subscription. `topics` and `topic_pattern` are mutually exclusive (409/40903); one is required (422/42204). A pattern matches topic names of this namespace only, in full, and picks up topics created later.',
      params: InstanceParams,
      body: SubscriptionBody,
      response: { 204: Empty, ...with409 }
    }
  }, async (request, reply) => {
    await instanceOf(request).subscribe(request.body)
    return reply.code(204).send(null)
  })

  fastify.get(`${I}/subscription`, {
    schema: { summary: 'Get the subscription', description: 'Topics subscribed to (for a pattern: the topics it currently matches).', params: InstanceParams, response: { 200: SubscriptionResponse, ...errors } }
  }, async (request) => ({ topics: instanceOf(request).subscription() }))

  fastify.delete(`${I}/subscription`, {
    schema: { summary: 'Unsubscribe', description: 'Drops the subscription and any manual assignment; the instance leaves the group. Idempotent.', params: InstanceParams, response: { 204: Empty, ...errors } }
  }, async (request, reply) => {
    await instanceOf(request).unsubscribe()
    return reply.code(204).send(null)
  })

  fastify.get(`${I}/records`, {
    schema: {
      summary: 'Fetch records (long poll)',
      description: 'Returns as soon as the instance\'s fetch.min.bytes are buffered, otherwise when the timeout ends. Accept selects the embedded format and must match the instance (406/40601).',
      params: InstanceParams,
      querystring: RecordsQuery,
      // The embedded type of the instance's format; errors are the plain Confluent type.
      produces: [embeddedType('binary'), embeddedType('json'), KAFKA_V2],
      response: { 200: RecordsResponse, ...with409 }
    }
  }, async (request, reply) => {
    const inst = instanceOf(request)
    const accept = negotiateRecordsAccept(request.headers.accept)
    if (accept.unacceptable || (accept.format !== undefined && accept.format !== inst.opts.format)) throw Errors.formatMismatch()
    const q = request.query
    const wait = q.timeout !== undefined && q.timeout > 0 ? Math.min(q.timeout, config.CONSUMER_REQUEST_TIMEOUT_MAX_MS) : inst.opts.requestTimeoutMs
    const maxBytes = q.max_bytes !== undefined && q.max_bytes > 0 ? Math.min(q.max_bytes, config.CONSUMER_REQUEST_MAX_BYTES) : config.CONSUMER_DEFAULT_MAX_BYTES
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
      params: InstanceParams,
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
      params: InstanceParams,
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
      params: InstanceParams,
      body: PartitionsBody,
      response: { 204: Empty, ...with409 }
    }
  }, async (request, reply) => {
    await instanceOf(request).assign(request.body.partitions)
    return reply.code(204).send(null)
  })

  fastify.get(`${I}/assignments`, {
    schema: { summary: 'Get the current assignment', description: 'Partitions currently held, manual or given by the group.', params: InstanceParams, response: { 200: AssignmentsResponse, ...errors } }
  }, async (request) => {
    const inst = instanceOf(request)
    inst.startSoon() // a subscription starts its consumer at the first read, commit or this request
    return { partitions: inst.assignment() }
  })

  fastify.post(`${I}/positions`, {
    schema: {
      summary: 'Seek to offsets or timestamps',
      description: 'The next read starts exactly at `offset` (no +1). Timestamps seek to the first record at or after the instant (the end when none). Partitions must be held by the instance (409/40903).',
      params: InstanceParams,
      body: SeekBody,
      response: { 204: Empty, ...with409 }
    }
  }, async (request, reply) => {
    const inst = instanceOf(request)
    const { offsets, timestamps } = request.body
    if (offsets && offsets.length > 0) await inst.seek(offsets)
    if (timestamps && timestamps.length > 0) {
      await inst.seekToTimestamps(timestamps.map(t => ({ topic: t.topic, partition: t.partition, timestamp: Date.parse(t.timestamp) })))
    }
    return reply.code(204).send(null)
  })

  for (const edge of ['beginning', 'end'] as const) {
    fastify.post(`${I}/positions/${edge}`, {
      schema: {
        summary: `Seek to the ${edge}`,
        description: `Moves each partition to its ${edge === 'beginning' ? 'first available' : 'log end'} offset, resolved now; buffered records of those partitions are dropped.`,
        params: InstanceParams,
        body: PartitionsBody,
        response: { 204: Empty, ...with409 }
      }
    }, async (request, reply) => {
      await instanceOf(request).seekToEdge(request.body.partitions, edge)
      return reply.code(204).send(null)
    })
  }
}

export default consumers
