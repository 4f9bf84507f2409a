/**
 * Several nodes behind one address (on when NODE_URL is set). Decorates `fastify.cluster`:
 * - the node registry (registry.ts) over the DynamoDB table of nodes (node-table.ts): registered when the app
 *   is ready, heartbeating, left first thing on close (before the consumers drain), so the other nodes stop
 *   sending requests here;
 * - `instanceName()`: consumer instance ids that name this node (instance-id.ts);
 * - `onRequest`: the hook routes/api.ts runs after authentication. A request with forwarding headers must
 *   carry a valid signature of another node (hop-auth.ts), else 401; it is then served here, never forwarded
 *   again. A request for an instance another node owns goes to that node's registered URL (forwarder.ts),
 *   streaming; one for an instance whose node is gone answers 404/40403.
 * `fastify.cluster` is null for a single node.
 */
import fp from 'fastify-plugin'
import { hostname } from 'node:os'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, Errors, consumerBody } from '../errors/errors.js'
import { NODE_ID_PATTERN, type Config } from '../config/config.js'
import { KAFKA_V2_JSON } from '../errors/index.js'
import { checkHop, signHop } from './hop-auth.js'
import { instanceIdFor, ownerOf } from './instance-id.js'
import { DynamoNodeTable, type NodeDirectory } from './node-table.js'
import { NodeRegistry } from './registry.js'
import { Forwarder } from './forwarder.js'

export interface ClusterApi {
  readonly nodeId: string
  readonly registry: NodeRegistry
  /** The id of a new consumer instance on this node (the requested name tagged with this node's id). */
  instanceName (requested?: string): string
  /** onRequest hook of the authenticated routes: refuse forged hops, forward requests for other nodes' instances. */
  onRequest (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** Requests forwarded and their outcomes since start (benchmarks, tests). */
  readonly stats: { forwarded: number, gone: number, failed: number, refusedHops: number }
}

declare module 'fastify' {
  interface FastifyInstance {
    cluster: ClusterApi | null
  }
}

export interface ClusterPluginOptions {
  /** A node directory to use instead of the DynamoDB table (tests). */
  directory?: NodeDirectory
}

/** The default NODE_ID: the host name, reduced to what a node id may hold (containers: the container id). */
export function defaultNodeId (host = hostname()): string {
  const id = host.split('.')[0]?.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 32).replace(/-+$/, '') ?? ''
  return new RegExp(NODE_ID_PATTERN).test(id) ? id : 'node'
}

async function openDirectory (config: Config): Promise<NodeDirectory> {
  return DynamoNodeTable.open({
    table: config.NODES_TABLE_NAME,
    ...(config.AWS_ACCOUNT_REGION !== undefined ? { region: config.AWS_ACCOUNT_REGION } : {}),
    createTable: config.METADATA_CREATE_TABLES
  })
}

const clusterPlugin: FastifyPluginAsync<ClusterPluginOptions> = async (fastify, opts) => {
  const config = fastify.config
  if (config.NODE_URL === undefined || config.NODE_SECRET === undefined) {
    fastify.decorate('cluster', null)
    return
  }
  const secret = config.NODE_SECRET
  const nodeId = config.NODE_ID ?? defaultNodeId()
  const nodeUrl = config.NODE_URL.replace(/\/+$/, '')
  const log = fastify.log.child({ component: 'cluster', node: nodeId })
  const directory = opts.directory ?? await openDirectory(config)
  const registry = new NodeRegistry(directory, {
    id: nodeId,
    url: nodeUrl,
    intervalMs: config.NODE_HEARTBEAT_INTERVAL_MS,
    expiryMs: config.NODE_EXPIRY_MS,
    log
  })
  const stats = { forwarded: 0, gone: 0, failed: 0, refusedHops: 0 }
  const forwarder = new Forwarder({
    connectTimeoutMs: config.NODE_FORWARD_CONNECT_TIMEOUT_MS,
    onDone: (outcome, err) => {
      stats[outcome]++
      if (outcome !== 'forwarded') log.warn({ outcome, err }, 'forwarding to the owner node failed')
    }
  }, (res, status, errorCode, message) => {
    const body = JSON.stringify(consumerBody(new ApiError(status, errorCode, message)))
    res.writeHead(status, { 'content-type': KAFKA_V2_JSON, 'content-length': Buffer.byteLength(body), 'x-diaspora-node': nodeId })
    res.end(body)
  })

  const api: ClusterApi = {
    nodeId,
    registry,
    stats,
    instanceName: (requested) => instanceIdFor(nodeId, requested),
    async onRequest (request, reply) {
      const hopRequest = { method: request.raw.method ?? 'GET', url: request.raw.url ?? '/', authorization: request.headers.authorization }
      const hop = checkHop(secret, hopRequest, request.headers, nodeId)
      if (hop.forwarded === 'refused') {
        stats.refusedHops++
        log.warn({ reason: hop.reason, ip: request.ip }, 'refused a request with forwarding headers')
        throw new ApiError(401, 401, 'Forwarding headers without a valid node signature are refused.', { code: 'FORWARD_REFUSED' })
      }
      if (hop.forwarded) return
      const instance = (request.params as { instance?: unknown } | undefined)?.instance
      if (typeof instance !== 'string') return
      const owner = ownerOf(instance)
      if (owner === undefined || owner === nodeId) return
      const url = await registry.resolve(owner)
      if (url === undefined) throw Errors.instanceNotFound()
      reply.hijack()
      // A 503 from the owner may be its shutdown: gone from the node table means its instances are gone too.
      forwarder.forward(request.raw, reply.raw, url, signHop(secret, hopRequest, nodeId, owner), () => registry.gone(owner))
    }
  }
  fastify.decorate('cluster', api)
  // Every answer says which node gave it (a forwarded answer keeps the owner's): for operators and tests.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('x-diaspora-node')) reply.header('x-diaspora-node', nodeId)
    done(null, payload)
  })
  // Registered before the server listens: a NODE_ID held by a live node fails the start.
  fastify.addHook('onReady', async () => {
    await registry.start()
  })
  // First step of closing (registered before the consumers' drain): the others stop sending requests here.
  fastify.addHook('preClose', async () => { await registry.stop() })
  fastify.addHook('onClose', async () => {
    forwarder.close()
    directory.close()
  })
}

export default fp(clusterPlugin, { name: 'cluster', fastify: '5.x', dependencies: ['config'] })
