/**
 * Kafka credentials for native clients, as in the existing service (the Diaspora SDK's create_key /
 * delete_key): POST returns the caller's key, creating it when there is none; DELETE revokes it. With
 * KAFKA_CREDENTIALS=off both answer 403 CREDENTIALS_DISABLED.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { managementErrorResponses } from '../schemas/common.js'
import { KeyDeleted, KeyIssued } from '../schemas/management.js'
import { subjectOf } from '../plugins/namespaces/index.js'

const security = [{ globus: [] }]
const modes = 'Modes (KAFKA_CREDENTIALS): `iam` (AWS MSK with IAM authentication: an IAM user `<subject>` with a policy ' +
  'granting the caller\'s namespaces, and an access key of it), `scram` (a SCRAM-SHA-512 user `<subject>` with prefixed ' +
  'ACLs on the topics and consumer groups `<namespace>.*` of the caller\'s namespaces), `off` (403 ' +
  'CREDENTIALS_DISABLED: the operator enables them with KAFKA_CREDENTIALS=iam or scram, see the README).'

const keys: FastifyPluginAsyncTypebox = async (fastify) => {
  const { credentials } = fastify

  fastify.post('/key', {
    config: { family: 'management' },
    schema: {
      tags: ['management'],
      summary: 'Get the caller\'s Kafka credential, creating it when there is none',
      description: 'Idempotent: the stored key is returned with `fresh: false`; otherwise a new one is created and ' +
        'returned with `fresh: true` (concurrent requests get the same key). Clients connect to `endpoint` with ' +
        '`mechanism`, and may read and write the topics `<namespace>.<topic>` and use the consumer groups ' +
        '`<namespace>.<group>` of every namespace the caller owns; the grants follow namespace claims and releases. ' +
        modes + ' Only Globus identities (UUID subjects) get credentials (403 otherwise); iam: 409 IDENTITY_CONFLICT when ' +
        'an IAM user of the caller\'s name exists outside /msk-users/. Needs no request body.',
      security,
      response: { 200: KeyIssued, ...managementErrorResponses }
    }
  }, async (request, reply) => {
    const subject = subjectOf(request)
    const key = await credentials.issueKey(subject)
    // A secret: no cache (proxy or client) may keep the reply.
    reply.header('cache-control', 'no-store')
    return {
      status: 'success' as const,
      message: key.fresh ? `Created a new key for ${subject}` : `Retrieved the existing key for ${subject}`,
      ...key
    }
  })

  fastify.delete('/key', {
    config: { family: 'management' },
    schema: {
      tags: ['management'],
      summary: 'Revoke the caller\'s Kafka credential',
      description: 'Deletes the stored key and revokes the credential in Kafka or IAM (connections using it lose ' +
        'access). Idempotent: 200 also when there was no key. ' + modes,
      security,
      response: { 200: KeyDeleted, ...managementErrorResponses }
    }
  }, async (request) => {
    const subject = subjectOf(request)
    const deleted = await credentials.deleteKey(subject)
    return { status: 'success' as const, message: deleted ? `Deleted the key of ${subject}` : `${subject} had no key to delete` }
  })
}

export default keys
