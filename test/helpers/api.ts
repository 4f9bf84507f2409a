/**
 * A user of the API in tests: a Globus subject with a token, its default namespace, and request helpers
 * that go through the whole Fastify stack (auth, validation, handlers, serialization).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Producer } from 'kafkajs'
import type { GlobusStandIn } from './globus.js'
import { testKafka, type Teardownable } from './broker.js'
import { defaultNamespace } from '../../plugins/namespaces/names.js'

export const V2 = 'application/vnd.kafka.v2+json'
export const BINARY = 'application/vnd.kafka.binary.v2+json'
export const JSONV2 = 'application/vnd.kafka.json.v2+json'

export function shortName (prefix = 't'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`
}

export interface ApiUser {
  subject: string
  token: string
  ns: string
  req (method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>
  /** Create a topic in the user's namespace through the management API. */
  topic (partitions?: number): Promise<string>
  /** Create a consumer instance; returns its path below /api/v3. */
  consumer (group: string, body?: Record<string, unknown>): Promise<string>
  /** Create an instance reading from the earliest offset and subscribe it to `topics`; returns its path. */
  subscriber (group: string, topics: string[], body?: Record<string, unknown>): Promise<string>
}

export async function apiUser (app: FastifyInstance, globus: GlobusStandIn): Promise<ApiUser> {
  const subject = randomUUID()
  const token = globus.userToken(subject)
  const ns = defaultNamespace(subject)
  const req: ApiUser['req'] = (method, url, body, headers = {}) => app.inject({
    method,
    url: url.startsWith('/') ? url : `/api/v3/${url}`,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': V2 }),
      ...headers
    },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) })
  })
  const created = await req('POST', 'user')
  if (created.statusCode >= 300) throw new Error(`POST /user: ${created.statusCode} ${created.body}`)
  const user: ApiUser = {
    subject,
    token,
    ns,
    req,
    async topic (partitions = 1) {
      const name = shortName()
      const res = await req('POST', `${ns}/${name}`, { num_partitions: partitions }, { 'content-type': 'application/json' })
      if (res.statusCode >= 300) throw new Error(`create topic: ${res.statusCode} ${res.body}`)
      return name
    },
    async consumer (group, body = {}) {
      const res = await req('POST', `${ns}/consumers/${group}`, body)
      if (res.statusCode !== 200) throw new Error(`create consumer: ${res.statusCode} ${res.body}`)
      const { instance_id: id } = res.json() as { instance_id: string }
      return `${ns}/consumers/${group}/instances/${id}`
    },
    async subscriber (group, topics, body = {}) {
      const path = await user.consumer(group, { 'auto.offset.reset': 'earliest', ...body })
      const res = await req('POST', `${path}/subscription`, { topics })
      if (res.statusCode !== 204) throw new Error(`subscribe: ${res.statusCode} ${res.body}`)
      return path
    }
  }
  return user
}

/** A kafkajs producer for writing test records straight to Kafka. */
export async function producer (t: Teardownable): Promise<Producer> {
  const p = testKafka().producer({ allowAutoTopicCreation: false })
  await p.connect()
  t.teardown(() => p.disconnect())
  return p
}

/** Read until `count` records arrived or `attempts` reads passed. */
export async function readAll (
  user: ApiUser,
  path: string,
  count: number,
  opts: { accept?: string, maxBytes?: number, attempts?: number } = {}
): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = []
  for (let i = 0; i < (opts.attempts ?? 40) && out.length < count; i++) {
    const q = `timeout=1000${opts.maxBytes ? `&max_bytes=${opts.maxBytes}` : ''}`
    const res = await user.req('GET', `${path}/records?${q}`, undefined, { accept: opts.accept ?? BINARY })
    if (res.statusCode !== 200) throw new Error(`records: ${res.statusCode} ${res.body}`)
    out.push(...(res.json() as Array<Record<string, unknown>>))
  }
  return out
}

/** Short polls until the instance holds `count` partitions (bounded); returns how many it holds. */
export async function awaitPartitions (user: ApiUser, path: string, count: number, attempts = 30): Promise<number> {
  let held = -1
  for (let i = 0; i < attempts && held !== count; i++) {
    held = (await user.req('GET', `${path}/assignments`)).json().partitions.length
    if (held !== count) await user.req('GET', `${path}/records?timeout=300`, undefined, { accept: BINARY })
  }
  return held
}

export const b64 = (s: string): string => Buffer.from(s).toString('base64')
export const unb64 = (s: unknown): string => Buffer.from(String(s), 'base64').toString()
