/**
 * User management, as in the existing service: POST creates the caller's default namespace, DELETE removes
 * it with its topics. 201 when the namespace was created, 200 when it already existed (idempotent repeat).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { managementErrorResponses } from '../schemas/common.js'
import { UserCreated, UserDeleted } from '../schemas/management.js'
import { subjectOf } from '../plugins/namespaces/index.js'

const security = [{ globus: [] }]

const users: FastifyPluginAsyncTypebox = async (fastify) => {
  const { namespaces, consumers, credentials } = fastify

  fastify.post('/user', {
    config: { family: 'management' },
    schema: {
      tags: ['management'],
      summary: 'Create the caller\'s default namespace',
      description: 'Claims `ns-` + the last 12 characters of the caller\'s subject (dashes removed); with ' +
        'KAFKA_CREDENTIALS=iam also creates the IAM user and policy of the caller. Idempotent: ' +
        '201 when it was created, 200 when the caller already had it. Needs no request body.',
      security,
      response: { 200: UserCreated, 201: UserCreated, ...managementErrorResponses }
    }
  }, async (request, reply) => {
    const subject = subjectOf(request)
    const { namespace, created } = await namespaces.createUser(subject)
    // KAFKA_CREDENTIALS=iam: the IAM user and its policy (idempotent, so a retry finishes a failed one).
    await credentials.ensureUser(subject)
    return reply.code(created ? 201 : 200).send({
      status: 'success',
      message: created ? `User ${subject} created with namespace ${namespace}` : `User ${subject} already exists with namespace ${namespace}`,
      subject,
      namespace
    })
  })

  fastify.delete('/user', {
    config: { family: 'management' },
    schema: {
      tags: ['management'],
      summary: 'Delete the caller\'s default namespace and its topics',
      description: 'Refused with 409 (USER_HAS_NAMESPACES) while the caller owns other namespaces. Otherwise deletes ' +
        'the default namespace\'s topics from Kafka first, then their metadata and the namespace, and closes its ' +
        'consumer instances, then the caller\'s Kafka credential, SCRAM user and ACLs or IAM user and policy. Idempotent: ' +
        '200 also when there was nothing to delete. 503 when Kafka cannot be reached (nothing is removed then).',
      security,
      response: { 200: UserDeleted, ...managementErrorResponses }
    }
  }, async (request) => {
    const subject = subjectOf(request)
    const { namespace, deleted, topics } = await namespaces.deleteUser(subject)
    if (deleted) await consumers.closeNamespace(namespace)
    // After the namespace, so a refused delete (other namespaces) keeps the credentials; idempotent, so a
    // retry after a failure here finishes the job.
    await credentials.removeUser(subject)
    return {
      status: 'success' as const,
      message: deleted ? `User ${subject} deleted` : `User ${subject} had no namespace to delete`,
      subject,
      namespace,
      topics
    }
  })
}

export default users
