/**
 * Topic management in an owned namespace (paths of the existing service). Route paths are relative:
 * routes/api.ts mounts them under /api/v3. Two segments (`/{namespace}/{topic}`) and the `recreate` suffix
 * never meet the consumer routes, which have `consumers` as their second of three or more segments.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { managementErrorResponses } from '../schemas/common.js'
import { CreateTopicBody, TopicCreated, TopicDeleted, TopicParams, TopicRecreated } from '../schemas/management.js'
import { subjectOf } from '../plugins/namespaces/index.js'

const security = [{ globus: [] }]
const tags = ['management']

const topics: FastifyPluginAsyncTypebox = async (fastify) => {
  const { namespaces } = fastify

  fastify.post('/:namespace/:topic', {
    config: { family: 'management' },
    schema: {
      tags,
      summary: 'Create a topic',
      description: 'Creates Kafka topic `{namespace}.{topic}`. Idempotent: 201 when created, 200 when it already ' +
        'exists (409 TOPIC_SETTINGS_CONFLICT if the body explicitly asks for other settings). The optional body ' +
        'sets partitions, replication factor and allow-listed configs within the operator\'s limits (422 ' +
        'INVALID_TOPIC_SETTINGS otherwise). 404 when the caller does not own the namespace; 409 ' +
        'TOPIC_NAME_COLLISION when Kafka sees the name as clashing with another topic; 503 when Kafka cannot be ' +
        'reached. If Kafka fails, no metadata is kept.',
      security,
      params: TopicParams,
      body: CreateTopicBody,
      'x-body-optional': true,
      response: { 200: TopicCreated, 201: TopicCreated, ...managementErrorResponses }
    },
    // The body is optional (the existing service's clients send none): validate "no body" as "no settings".
    preValidation: async (request) => {
      if (request.body === undefined || request.body === null) request.body = {}
    }
  }, async (request, reply) => {
    const { namespace, topic } = request.params
    const r = await namespaces.createTopic(subjectOf(request), namespace, topic, request.body)
    return reply.code(r.created ? 201 : 200).send({
      status: 'success',
      message: r.created ? `Topic ${topic} created in ${namespace}` : `Topic ${topic} already exists in ${namespace}`,
      topic,
      settings: r.settings,
      topics: r.topics
    })
  })

  fastify.delete('/:namespace/:topic', {
    config: { family: 'management' },
    schema: {
      tags,
      summary: 'Delete a topic',
      description: 'Deletes the Kafka topic first, then its metadata; answers once Kafka no longer lists it. If the ' +
        'Kafka delete fails the metadata is kept and the error returned (503 when Kafka cannot be reached). ' +
        'Idempotent: 200 also when the topic did not exist. 404 when the caller does not own the namespace.',
      security,
      params: TopicParams,
      response: { 200: TopicDeleted, ...managementErrorResponses }
    }
  }, async (request) => {
    const { namespace, topic } = request.params
    const r = await namespaces.deleteTopic(subjectOf(request), namespace, topic)
    return {
      status: 'success' as const,
      message: r.deleted ? `Topic ${topic} deleted from ${namespace}` : `Topic ${topic} not found in ${namespace}`,
      topic,
      topics: r.topics
    }
  })

  fastify.put('/:namespace/:topic/recreate', {
    config: { family: 'management' },
    schema: {
      tags,
      summary: 'Recreate a topic (drop all its records)',
      description: 'Deletes the topic, waits until Kafka no longer lists it (bounded by TOPIC_RECREATE_TIMEOUT_MS), ' +
        'and creates it again with the settings it was created with. 404 when the caller does not own the ' +
        'namespace or the topic does not exist; 503 when Kafka cannot be reached or the deletion does not finish ' +
        'in time. If the create fails after the delete, the topic is gone from Kafka and metadata alike, and the ' +
        'message says so.',
      security,
      params: TopicParams,
      response: { 200: TopicRecreated, ...managementErrorResponses }
    }
  }, async (request) => {
    const { namespace, topic } = request.params
    const r = await namespaces.recreateTopic(subjectOf(request), namespace, topic)
    return { status: 'success' as const, message: `Topic ${topic} recreated in ${namespace}`, topic, settings: r.settings }
  })
}

export default topics
