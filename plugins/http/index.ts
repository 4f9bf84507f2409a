import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { KAFKA_REQUEST_TYPE, parseJsonBody } from './media.js'
import { ApiError } from '../errors/errors.js'

/**
 * Request parsing: application/json and every application/vnd.kafka…v2+json type, an empty body being
 * "no body". Other explicit types get Fastify's 415, answered in the route's error shape.
 */
const httpPlugin: FastifyPluginAsync = async (fastify) => {
  // Only JSON bodies: text/plain and anything else gets 415 (Confluent), not a confusing validation error.
  fastify.removeContentTypeParser(['application/json', 'text/plain'])
  const parse = (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      done(null, parseJsonBody(body.toString()))
    } catch (err) {
      done(err as Error)
    }
  }
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, parse)
  fastify.addContentTypeParser(KAFKA_REQUEST_TYPE, { parseAs: 'string' }, parse)
}

/**
 * Fastify never reads a GET body, but Confluent's "GET committed offsets" carries one. Read it from the raw
 * stream with the same rules: JSON types only, the body limit, and a clean 400 on bad JSON.
 */
export async function readGetBody (request: FastifyRequest, limit: number): Promise<unknown> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim() ?? ''
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request.raw) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > limit) throw new ApiError(413, 413, 'Request body is too large')
    chunks.push(buf)
  }
  if (size === 0) return undefined
  if (type !== '' && type !== 'application/json' && !KAFKA_REQUEST_TYPE.test(type)) {
    throw new ApiError(415, 415, 'Unsupported Media Type: send application/vnd.kafka.v2+json or application/json')
  }
  return parseJsonBody(Buffer.concat(chunks).toString('utf8'))
}

export default fp(httpPlugin, { name: 'http', fastify: '5.x' })
