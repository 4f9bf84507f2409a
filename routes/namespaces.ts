/**
 * Namespace listing (existing service: GET /api/v3/namespace) and claims of additional namespaces.
 * `POST|DELETE /namespace/{namespace}` claim and release a name; `POST|DELETE /namespace` with
 * `{"namespace": …}` in the body is the form an earlier version of the existing service used. The static
 * `namespace` segment wins over `/{namespace}/{topic}` in the router, which is why `namespace` cannot be
 * claimed as a namespace name.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { managementErrorResponses } from '../schemas/common.js'
import { NamespaceBody, NamespaceChanged, NamespaceList, NamespaceParams } from '../schemas/management.js'
import { subjectOf } from '../plugins/namespaces/index.js'

const security = [{ globus: [] }]
const tags = ['management']

const claimDescription = 'Claims a namespace name for the caller; names are global. 201 when claimed, 200 when the ' +
  'caller already owns it. 409 NAMESPACE_TAKEN when another user holds it (or Kafka already has topics under ' +
  'it), 409 NAMESPACE_RESERVED for names shaped like another user\'s default namespace (ns- + 12 hex digits), ' +
  '422 for invalid or reserved names.'
const releaseDescription = 'Releases a namespace the caller owns and closes its consumer instances. 409 ' +
  'NAMESPACE_NOT_EMPTY while it has topics; 404 when the caller does not own it (whether or not it exists).'

const namespaces: FastifyPluginAsyncTypebox = async (fastify) => {
  const { namespaces: service, consumers } = fastify

  fastify.get('/namespace', {
    config: { family: 'management' },
    schema: {
      tags,
      summary: 'List the caller\'s namespaces and their topics',
      description: 'Every namespace the caller owns, each with the names of its topics (without the namespace prefix).',
      security,
      response: { 200: NamespaceList, ...managementErrorResponses }
    }
  }, async (request) => {
    const subject = subjectOf(request)
    const list = await service.listNamespaces(subject)
    return { status: 'success' as const, message: `Found ${Object.keys(list).length} namespaces for ${subject}`, namespaces: list }
  })

  const claim = async (subject: string, namespace: string) => {
    const r = await service.claimNamespace(subject, namespace)
    return {
      code: r.created ? 201 : 200,
      body: {
        status: 'success' as const,
        message: r.created ? `Namespace ${namespace} created for ${subject}` : `Namespace ${namespace} already exists for ${subject}`,
        namespace,
        namespaces: r.namespaces
      }
    }
  }
  const release = async (subject: string, namespace: string) => {
    const r = await service.releaseNamespace(subject, namespace)
    await consumers.closeNamespace(namespace)
    return { status: 'success' as const, message: `Namespace ${namespace} deleted for ${subject}`, namespace, namespaces: r.namespaces }
  }

  fastify.post('/namespace/:namespace', {
    config: { family: 'management' },
    schema: { tags, summary: 'Claim an additional namespace', description: claimDescription, security, params: NamespaceParams, response: { 200: NamespaceChanged, 201: NamespaceChanged, ...managementErrorResponses } }
  }, async (request, reply) => {
    const { code, body } = await claim(subjectOf(request), request.params.namespace)
    return reply.code(code).send(body)
  })

  fastify.delete('/namespace/:namespace', {
    config: { family: 'management' },
    schema: { tags, summary: 'Release a namespace', description: releaseDescription, security, params: NamespaceParams, response: { 200: NamespaceChanged, ...managementErrorResponses } }
  }, async (request) => release(subjectOf(request), request.params.namespace))

  fastify.post('/namespace', {
    config: { family: 'management' },
    schema: { tags, summary: 'Claim an additional namespace (name in the body)', description: `${claimDescription} Same as POST /namespace/{namespace}.`, security, body: NamespaceBody, response: { 200: NamespaceChanged, 201: NamespaceChanged, ...managementErrorResponses } }
  }, async (request, reply) => {
    const { code, body } = await claim(subjectOf(request), request.body.namespace)
    return reply.code(code).send(body)
  })

  fastify.delete('/namespace', {
    config: { family: 'management' },
    schema: { tags, summary: 'Release a namespace (name in the body)', description: `${releaseDescription} Same as DELETE /namespace/{namespace}.`, security, body: NamespaceBody, response: { 200: NamespaceChanged, ...managementErrorResponses } }
  }, async (request) => release(subjectOf(request), request.body.namespace))
}

export default namespaces
