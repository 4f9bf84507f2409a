/**
 * Several nodes behind one address (on when NODE_URL is set). Decorates `fastify.cluster`:
 * - the node registry (registry.ts) over the DynamoDB table of nodes (node-table.ts): registered when the app
 *   is ready, heartbeating, left first thing on close (before the consumers drain), so the other nodes stop
 *   sending requests here;
 * - `instanceName()`: consumer instance ids that name this node (instance-id.ts);
 * - `onRequest`: the hook routes/api.ts runs before authentication. A request with forwarding headers must
 *   carry a valid signature of another node (hop-auth.ts), else 401; it is then served here, never forwarded
 *   again. A request for an instance another node owns goes to that node's registered URL (forwarder.ts),
 *   streaming, without being authenticated here: the owner authenticates it (401 in the same shape as here,
 *   so an unauthenticated caller learns nothing more), and a token is introspected by one node, not two.
 *   An answer made here instead (the owner is gone: 404/40403; it did not answer: 503) comes only after
 *   this node authenticated the caller.
 * - `forwards(request)`: will this node only forward the request? Fastify's two request log lines are then
 *   left to the owner (app.ts); this node writes one line of its own when the answer is done (debug when the
 *   owner answered, info when this node did). Each forwarded
 *   request is published on the `diaspora:cluster:forward` diagnostics channel (channels.ts) for metrics.
 * `fastify.cluster` is null for a single node.
 */
import fp from 'fastify-plugin'
import { hostname } from 'node:os'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { ApiError, Errors, consumerBody } from '../errors/errors.js'
import { NODE_ID_PATTERN, type Config } from '../config/config.js'
import { KAFKA_V2_JSON } from '../errors/index.js'
import { FORWARDED_BY, FORWARD_SIGNATURE, FORWARD_TIME, checkHop, hopKey, signHop, type HopRequest } from './hop-auth.js'
import { forwardChannel, type ForwardMessage } from './channels.js'
import { instanceIdFor, ownerOf } from './instance-id.js'
import { DynamoNodeTable, type NodeDirectory } from './node-table.js'
import { NodeRegistry } from './registry.js'
import { Forwarder } from './forwarder.js'

export interface ClusterApi {
  readonly nodeId: string
  readonly registry: NodeRegistry
  /** The id of a new consumer instance on this node (the requested name tagged with this node's id). */
  instanceName (requested?: string): string
  /** onRequest hook of the authenticated routes (before authentication): refuse forged hops, forward requests for other nodes' instances. */
  onRequest (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** Does this node only forward the request (an instance of another node, no forwarding headers)? Cheap, synchronous. */
  forwards (request: FastifyRequest): boolean
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
  const secret = hopKey(config.NODE_SECRET)
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
  }, (res, status, errorCode, message) => { writeApiError(res, new ApiError(status, errorCode, message)) })

  const writeApiError = (res: ServerResponse, err: ApiError): void => {
    if (res.headersSent || res.destroyed) { res.destroy(); return }
    const body = JSON.stringify(consumerBody(err))
    res.writeHead(err.statusCode, { ...err.headers, 'content-type': KAFKA_V2_JSON, 'content-length': Buffer.byteLength(body), 'x-diaspora-node': nodeId })
    res.end(body)
  }
  /** The owner of the request's instance when this node is to forward it; undefined when it serves it. */
  const otherOwner = (request: FastifyRequest): string | undefined => {
    const headers = request.headers
    if (headers[FORWARDED_BY] !== undefined || headers[FORWARD_TIME] !== undefined || headers[FORWARD_SIGNATURE] !== undefined) return undefined
    const instance = (request.params as { instance?: unknown } | undefined)?.instance
    if (typeof instance !== 'string') return undefined
    const owner = ownerOf(instance)
    return owner === nodeId ? undefined : owner
  }
  const publish = (request: FastifyRequest, statusCode: number, began: number, outcome: ForwardMessage['outcome']): void => {
    if (!forwardChannel.hasSubscribers) return
    const message: ForwardMessage = {
      method: request.method,
      route: request.routeOptions.url ?? '',
      statusCode,
      durationMs: performance.now() - began,
      outcome
    }
    forwardChannel.publish(message)
  }
  /**
   * The one log line of a forwarded request on this node (Fastify's are left to the owner, which logs it in full):
   * at debug when the owner answered, since a synchronous log write is the largest cost left on this node; at
   * info when this node answered itself.
   */
  const logForwarded = (request: FastifyRequest, owner: string, statusCode: number, began: number, outcome: ForwardMessage['outcome']): void => {
    const level = outcome === 'forwarded' ? 'debug' : 'info'
    request.log[level]({ method: request.method, url: request.url, owner, statusCode, outcome, responseTime: performance.now() - began }, 'request forwarded')
  }

  const api: ClusterApi = {
    nodeId,
    registry,
    stats,
    instanceName: (requested) => instanceIdFor(nodeId, requested),
    forwards: (request) => otherOwner(request) !== undefined,
    async onRequest (request, reply) {
      const owner = otherOwner(request)
      if (owner === undefined) {
        const hop = checkHop(secret, hopRequestOf(request), request.headers, nodeId)
        if (hop.forwarded === 'refused') {
          stats.refusedHops++
          log.warn({ reason: hop.reason, ip: request.ip }, 'refused a request with forwarding headers')
          throw new ApiError(401, 401, 'Forwarding headers without a valid node signature are refused.', { code: 'FORWARD_REFUSED' })
        }
        return
      }
      const began = performance.now()
      const url = await registry.resolve(owner)
      if (url === undefined) {
        // Answered here, so authenticated here first: an unauthenticated caller gets its 401, as on any node.
        reply.raw.once('close', () => {
          const status = reply.raw.statusCode
          logForwarded(request, owner, status, began, 'owner-gone')
          publish(request, status, began, 'owner-gone')
        })
        await fastify.authenticate(request)
        throw Errors.instanceNotFound()
      }
      reply.hijack()
      const res = reply.raw
      forwarder.forward(request.raw, res, url, signHop(secret, hopRequestOf(request), nodeId, owner), {
        // A 503 from the owner may be its shutdown: gone from the node table means its instances are gone too.
        ownerGone: () => registry.gone(owner),
        // The owner never saw this caller's token (or did not answer): authenticate here before saying more.
        writeError: (res, status, errorCode, message) => {
          fastify.authenticate(request).then(
            () => { writeApiError(res, new ApiError(status, errorCode, message)) },
            (err: unknown) => { writeApiError(res, err instanceof ApiError ? err : new ApiError(503, 503, 'Authentication is unavailable; try again.')) })
        },
        onDone: (outcome) => {
          const logged = (): void => {
            const mapped = outcome === 'forwarded' ? 'forwarded' : outcome === 'gone' ? 'owner-gone' : 'error'
            logForwarded(request, owner, res.statusCode, began, mapped)
            publish(request, res.statusCode, began, mapped)
          }
          // Failures are answered after authentication: report them once the answer is written.
          if (outcome === 'forwarded' || res.writableFinished || res.destroyed) logged()
          else res.once('close', logged)
        }
      })
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

function hopRequestOf (request: FastifyRequest): HopRequest {
  return { method: request.raw.method ?? 'GET', url: request.raw.url ?? '/', authorization: request.headers.authorization }
}

export default fp(clusterPlugin, { name: 'cluster', fastify: '5.x', dependencies: ['config'] })
