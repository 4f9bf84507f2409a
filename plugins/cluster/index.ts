/**
 * Several nodes behind one address (on when NODE_URL is set). Decorates `fastify.cluster`:
 * - the node registry (registry.ts) over the DynamoDB table of nodes (node-table.ts): registered when the app
 *   is ready, heartbeating, left first thing on close (before the consumers drain), so the other nodes stop
 *   sending requests here;
 * - `instanceName()`: generated consumer instance ids name this node (instance-id.ts); a requested name is the id;
 * - `claims`: explicitly named instances are unique per group across the nodes, claimed in the DynamoDB table
 *   INSTANCES_TABLE_NAME (claims.ts, claim-table.ts); the consumer registry reserves and releases through it;
 * - `onRequest`: the hook routes/api.ts runs after authentication. A request with forwarding headers must
 *   carry a valid signature of another node (hop-auth.ts), else 401. A request for an instance this node does
 *   not hold goes to the node that does (a cached route, the generated id's node, or the name's claim), to its
 *   registered URL (forwarder.ts), streaming. A forwarded request for an instance not held here (a stale route)
 *   is passed on once more, to the holder a fresh read of the claim names; an instance nobody holds answers
 *   404/40403.
 * `fastify.cluster` is null for a single node.
 */
import fp from 'fastify-plugin'
import { hostname } from 'node:os'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, Errors, consumerBody } from '../errors/errors.js'
import { defaultNamespace } from '../namespaces/names.js'
import { NODE_ID_PATTERN, type Config } from '../config/config.js'
import { KAFKA_V2_JSON } from '../errors/index.js'
import { checkHop, signHop } from './hop-auth.js'
import { instanceIdFor } from './instance-id.js'
import { DynamoNodeTable, type NodeDirectory } from './node-table.js'
import { NodeRegistry } from './registry.js'
import { Forwarder, type ForwardHooks } from './forwarder.js'
import { DynamoClaimTable, type ClaimStore } from './claim-table.js'
import { claimKey, InstanceClaims, type InstanceRef } from './claims.js'
import { probeInstance } from './probe.js'

/**
 * Set by a node that passes on a forwarded request (its route was stale): the receiver serves it, never passes
 * it on again. Not signed: it only restricts (the forwarding headers around it are), and like them it is dropped
 * from what a client sends (forwarder.ts strips `x-diaspora-forward*`).
 */
export const FORWARD_FINAL = 'x-diaspora-forward-final'

export interface ClusterApi {
  readonly nodeId: string
  readonly registry: NodeRegistry
  /** Instance names unique per group across the nodes (the consumer registry's `claims` hook). */
  readonly claims: InstanceClaims
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
  /** A claim store to use instead of the DynamoDB table (tests). */
  claimStore?: ClaimStore
}

/** The default NODE_ID: the host name, reduced to what a node id may hold (containers: the container id). */
export function defaultNodeId (host = hostname()): string {
  const id = host.split('.')[0]?.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 32).replace(/-+$/, '') ?? ''
  return new RegExp(NODE_ID_PATTERN).test(id) ? id : 'node'
}

function tableOptions (config: Config, table: string): { table: string, region?: string, createTable: boolean } {
  return { table, ...(config.AWS_ACCOUNT_REGION !== undefined ? { region: config.AWS_ACCOUNT_REGION } : {}), createTable: config.METADATA_CREATE_TABLES }
}

const storeUnavailable = (): ApiError => new ApiError(503, 503, 'The metadata store is unavailable; retry later', { code: 'METADATA_STORE_UNAVAILABLE' })

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
  const directory = opts.directory ?? await DynamoNodeTable.open(tableOptions(config, config.NODES_TABLE_NAME))
  let claimStore: ClaimStore
  try {
    claimStore = opts.claimStore ?? await DynamoClaimTable.open(tableOptions(config, config.INSTANCES_TABLE_NAME))
  } catch (err) {
    directory.close()
    throw err
  }
  const registry = new NodeRegistry(directory, {
    id: nodeId,
    url: nodeUrl,
    intervalMs: config.NODE_HEARTBEAT_INTERVAL_MS,
    expiryMs: config.NODE_EXPIRY_MS,
    log
  })
  const claims = new InstanceClaims({
    self: { node: nodeId, incarnation: registry.incarnation },
    store: claimStore,
    nodes: { url: (id) => registry.resolve(id), incarnation: (id) => registry.incarnationOf(id) },
    probe: async (node, ref, ctx) => {
      const url = await registry.resolve(node)
      if (url === undefined) return 'unreachable'
      return probeInstance({ secret, self: nodeId, timeoutMs: config.NODE_FORWARD_CONNECT_TIMEOUT_MS + 3000 }, node, url, ref, ctx)
    },
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

  /** The hop headers of a request sent on to `to` (`final`: it was forwarded here, the receiver must serve it). */
  const hopHeaders = (hopRequest: HopRequestOf, to: string, final: boolean): Record<string, string> =>
    ({ ...signHop(secret, hopRequest, nodeId, to), ...(final ? { [FORWARD_FINAL]: '1' } : {}) })

  /** Where a request for `ref` goes: a node id, or undefined (served here). Store failures are 503. */
  const routeOf = async (ref: InstanceRef, opts: { fresh?: boolean, exclude?: string[] } = {}): Promise<string | undefined> => {
    try {
      return await claims.route(ref, opts)
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message.slice(0, 300) : String(err) }, 'reading an instance name claim failed')
      throw storeUnavailable()
    }
  }

  const api: ClusterApi = {
    nodeId,
    registry,
    claims,
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
      const ref = instanceRefOf(request)
      if (ref === undefined) return
      const key = claimKey(ref)
      if (claims.holds(key)) return
      let target: string | undefined
      if (hop.forwarded) {
        // The forwarding node's route was stale: pass it on once, to the holder the claim names now.
        if (request.headers[FORWARD_FINAL] !== undefined) return
        target = await routeOf(ref, { fresh: true, exclude: [hop.from] })
      } else {
        target = await routeOf(ref)
      }
      if (target === undefined) return // nobody holds it: served here, 40403
      const url = await registry.resolve(target)
      if (url === undefined) throw Errors.instanceNotFound()
      const via = target
      const final = hop.forwarded !== false
      const hooks: ForwardHooks = {
        // The node refused the connection (killed, not yet expired): the name may be claimed elsewhere by now.
        reroute: async () => {
          claims.forget(key)
          const next = await claims.route(ref, { fresh: true, exclude: [via, ...(hop.forwarded ? [hop.from] : [])] })
          const nextUrl = next === undefined ? undefined : await registry.resolve(next)
          return next === undefined || nextUrl === undefined ? undefined : { base: nextUrl, extra: hopHeaders(hopRequest, next, true) }
        },
        // The answer says who holds it: a 404 drops the route, another node's answer replaces it.
        onAnswer: (status, node) => {
          if (status === 404) claims.forget(key)
          else if (node !== undefined && node !== via && status < 400) claims.remember(key, node)
        }
      }
      reply.hijack()
      // A 503 from the owner may be its shutdown: gone from the node table means its instances are gone too.
      forwarder.forward(request.raw, reply.raw, url, hopHeaders(hopRequest, target, final), () => registry.gone(via), hooks)
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
  // Then its name claims go, so the names are free at once (claims of a node gone are takeable anyway).
  fastify.addHook('preClose', async () => {
    await registry.stop()
    await claims.releaseAll()
  })
  fastify.addHook('onClose', async () => {
    forwarder.close()
    directory.close()
    claimStore.close()
  })
}

type HopRequestOf = { method: string, url: string, authorization: string | undefined }

/** The consumer instance a request names (the v2 family: in the caller's default namespace), if any. */
function instanceRefOf (request: FastifyRequest): InstanceRef | undefined {
  const p = request.params as { instance?: unknown, group?: unknown, namespace?: unknown } | undefined
  if (typeof p?.instance !== 'string' || typeof p.group !== 'string') return undefined
  const namespace = typeof p.namespace === 'string' ? p.namespace : (request.principal ? defaultNamespace(request.principal.subject) : undefined)
  return namespace === undefined ? undefined : { namespace, group: p.group, name: p.instance }
}

export default fp(clusterPlugin, { name: 'cluster', fastify: '5.x', dependencies: ['config'] })
