/**
 * Several nodes behind one address (on when NODE_URL is set). Decorates `fastify.cluster`:
 * - the node registry (registry.ts) over the DynamoDB table of nodes (node-table.ts): registered when the app
 *   is ready, heartbeating, left first thing on close (before the consumers drain), so the other nodes stop
 *   sending requests here;
 * - `instanceName()`: generated consumer instance ids name this node (instance-id.ts); a requested name is the id;
 * - `claims`: explicitly named instances are unique per group across the nodes, claimed in the DynamoDB table
 *   INSTANCES_TABLE_NAME (claims.ts, claim-table.ts); the consumer registry reserves and releases through it;
 * - `onRequest`: the hook routes/api.ts runs before authentication. A request with forwarding headers must
 *   carry a valid signature of another node (hop-auth.ts), else 401. A request for a generated instance id
 *   of another live node (its prefix), not held here, goes to that node's registered URL (forwarder.ts),
 *   streaming, without being authenticated here: the owner authenticates it (401 in the same shape as here,
 *   so an unauthenticated caller learns nothing more), and a token is introspected by one node, not two.
 *   An answer made here instead (404/40403, 503) comes only after this node authenticated the caller.
 * - `onAuthenticated`: the hook routes/api.ts runs after authentication, for what needs the caller or the
 *   store: a request for an instance this node does not hold goes to the node that does (a cached route, the
 *   generated id's node, or the name's claim). A forwarded request for an instance not held here (a stale
 *   route) is passed on once more, to the holder a fresh read of the claim names; an instance nobody holds
 *   answers 404/40403. No store read happens for a caller not authenticated.
 * - `forwards(request)`: will this node only forward the request before authentication? Fastify's two request
 *   log lines are then left to the owner (app.ts); this node writes one line of its own when the answer is done
 *   (debug when the owner answered, info when this node did). Each forwarded request is published on the
 *   `diaspora:cluster:forward` diagnostics channel (channels.ts) for metrics.
 * `fastify.cluster` is null for a single node.
 */
import fp from 'fastify-plugin'
import { hostname } from 'node:os'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { ApiError, Errors, consumerBody } from '../errors/errors.js'
import { defaultNamespace } from '../namespaces/names.js'
import { NODE_ID_PATTERN, type Config } from '../config/config.js'
import { KAFKA_V2_JSON } from '../errors/index.js'
import { FORWARDED_BY, FORWARD_SIGNATURE, FORWARD_TIME, checkHop, hopKey, signHop, type HopRequest } from './hop-auth.js'
import { forwardChannel, type ForwardMessage } from './channels.js'
import { instanceIdFor, ownerOf } from './instance-id.js'
import { DynamoNodeTable, type NodeDirectory } from './node-table.js'
import { NodeRegistry } from './registry.js'
import { Forwarder, type Outcome } from './forwarder.js'
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
  /**
   * onRequest hook of the authenticated routes (before authentication): refuse forged hops, forward requests for
   * other nodes' instances.
   */
  onRequest (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** onRequest hook after authentication: route a request for an instance held elsewhere by its claim. */
  onAuthenticated (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /**
   * Does this node only forward the request (an instance of another node, no forwarding headers)? Cheap,
   * synchronous.
   */
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
  /** A claim store to use instead of the DynamoDB table (tests). */
  claimStore?: ClaimStore
}

/** The default NODE_ID: the host name, reduced to what a node id may hold (containers: the container id). */
export function defaultNodeId (host = hostname()): string {
  const id = host.split('.')[0]?.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 32).replace(/-+$/, '') ?? ''
  return new RegExp(NODE_ID_PATTERN).test(id) ? id : 'node'
}

function tableOptions (config: Config, table: string): { table: string, region?: string, createTable: boolean } {
  return {
    table,
    ...(config.AWS_ACCOUNT_REGION !== undefined ? { region: config.AWS_ACCOUNT_REGION } : {}),
    createTable: config.METADATA_CREATE_TABLES
  }
}

const storeUnavailable = (): ApiError => new ApiError(503, 503, 'The metadata store is unavailable; retry later', { code: 'METADATA_STORE_UNAVAILABLE' })

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
      return probeInstance(
        { secret, self: nodeId, timeoutMs: config.NODE_FORWARD_CONNECT_TIMEOUT_MS + 3000 }, node, url, ref, ctx
      )
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
    if (
      headers[FORWARDED_BY] !== undefined || headers[FORWARD_TIME] !== undefined ||
      headers[FORWARD_SIGNATURE] !== undefined
    ) return undefined
    const instance = (request.params as { instance?: unknown } | undefined)?.instance
    if (typeof instance !== 'string') return undefined
    const owner = ownerOf(instance)
    // A generated id this node may hold (the SDK created it again here under the id it had): decided after
    // authentication, by the instance's key.
    return owner === nodeId || claims.holdsName(instance) ? undefined : owner
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

  /** The hop headers of a request sent on to `to` (`final`: it was forwarded here, the receiver must serve it). */
  const hopHeaders = (hopRequest: HopRequest, to: string, final: boolean): Record<string, string> =>
    ({ ...signHop(secret, hopRequest, nodeId, to), ...(final ? { [FORWARD_FINAL]: '1' } : {}) })

  /** Where a request for `ref` goes: a node id, or undefined (served here). Store failures are 503. */
  const routeOf = async (
    ref: InstanceRef, opts: { fresh?: boolean, exclude?: string[] } = {}
  ): Promise<string | undefined> => {
    try {
      return await claims.route(ref, opts)
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message.slice(0, 300) : String(err) }, 'reading an instance name claim failed')
      throw storeUnavailable()
    }
  }

  /** A signed forwarded request's sender, from the hook before authentication to the one after it. */
  const hops = new WeakMap<FastifyRequest, string>()

  /** The forwarder's `onDone` of a request forwarded by this node: its log line and diagnostics message. */
  const reportDone = (request: FastifyRequest, owner: string, res: ServerResponse, began: number) =>
    (outcome: Outcome): void => {
      const logged = (): void => {
        const mapped = outcome === 'forwarded' ? 'forwarded' : outcome === 'gone' ? 'owner-gone' : 'error'
        logForwarded(request, owner, res.statusCode, began, mapped)
        publish(request, res.statusCode, began, mapped)
      }
      // Failures are answered after authentication: report them once the answer is written.
      if (outcome === 'forwarded' || res.writableFinished || res.destroyed) logged()
      else res.once('close', logged)
    }

  /**
   * After authentication: a request for an instance this node does not hold goes to the node that does (by
   * route cache, id prefix or claim). `from`: the node that forwarded it here (its route was stale: passed on
   * once, to the holder a fresh read of the claim names). Returns with the reply untouched when it is served here.
   */
  const byClaim = async (request: FastifyRequest, reply: FastifyReply, from: string | undefined): Promise<void> => {
    const ref = instanceRefOf(request)
    if (ref === undefined) return
    const key = claimKey(ref)
    if (claims.holds(key)) return
    let target: string | undefined
    if (from !== undefined) {
      if (request.headers[FORWARD_FINAL] !== undefined) return
      target = await routeOf(ref, { fresh: true, exclude: [from] })
    } else {
      target = await routeOf(ref)
    }
    if (target === undefined) return // nobody holds it: served here, 40403
    const url = await registry.resolve(target)
    if (url === undefined) throw Errors.instanceNotFound()
    const via = target
    const hopRequest = hopRequestOf(request)
    const began = performance.now()
    reply.hijack()
    const res = reply.raw
    forwarder.forward(request.raw, res, url, hopHeaders(hopRequest, target, from !== undefined), {
      // A 503 from the owner may be its shutdown: gone from the node table means its instances are gone too.
      ownerGone: () => registry.gone(via),
      // The node refused the connection (killed, not yet expired): the name may be claimed elsewhere by now.
      reroute: async () => {
        claims.forget(key)
        const next = await claims.route(ref, { fresh: true, exclude: [via, ...(from !== undefined ? [from] : [])] })
        const nextUrl = next === undefined ? undefined : await registry.resolve(next)
        return next === undefined || nextUrl === undefined
          ? undefined
          : { base: nextUrl, extra: hopHeaders(hopRequest, next, true) }
      },
      // The answer says who holds it: a 404 drops the route, another node's answer replaces it.
      onAnswer: (status, node) => {
        if (status === 404) claims.forget(key)
        else if (node !== undefined && node !== via && status < 400) claims.remember(key, node)
      },
      onDone: reportDone(request, via, res, began)
    })
  }

  const api: ClusterApi = {
    nodeId,
    registry,
    claims,
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
        if (hop.forwarded) hops.set(request, hop.from)
        return
      }
      const began = performance.now()
      const url = await registry.resolve(owner)
      if (url === undefined) {
        // Answered here (or routed by the name's claim: the SDK may have created it again elsewhere under the
        // same id), so authenticated here first: an unauthenticated caller gets its 401, as on any node.
        let rerouted = false
        reply.raw.once('close', () => {
          if (rerouted) return // the forwarder reports it
          const status = reply.raw.statusCode
          logForwarded(request, owner, status, began, 'owner-gone')
          publish(request, status, began, 'owner-gone')
        })
        await fastify.authenticate(request)
        await byClaim(request, reply, undefined)
        if (reply.sent) {
          rerouted = true
          return
        }
        throw Errors.instanceNotFound()
      }
      reply.hijack()
      const res = reply.raw
      forwarder.forward(request.raw, res, url, signHop(secret, hopRequestOf(request), nodeId, owner), {
        // A 503 from the owner may be its shutdown: gone from the node table means its instances are gone too.
        ownerGone: () => registry.gone(owner),
        // The id's node refused the connection (killed, not yet expired): the SDK may have created the instance
        // again elsewhere under the same id, claimed. Finding it needs the caller (a v2 instance's namespace).
        reroute: async () => {
          try {
            await fastify.authenticate(request)
          } catch {
            return undefined // writeError answers: it authenticates again and gives the caller its 401
          }
          const ref = instanceRefOf(request)
          if (ref === undefined) return undefined
          const next = claims.holds(claimKey(ref)) ? nodeId : await claims.route(ref, { fresh: true, exclude: [owner] })
          const nextUrl = next === undefined ? undefined : next === nodeId ? nodeUrl : await registry.resolve(next)
          return next === undefined || nextUrl === undefined
            ? undefined
            : { base: nextUrl, extra: hopHeaders(hopRequestOf(request), next, true) }
        },
        // The owner never saw this caller's token (or did not answer): authenticate here before saying more.
        writeError: (res, status, errorCode, message) => {
          fastify.authenticate(request).then(
            () => { writeApiError(res, new ApiError(status, errorCode, message)) },
            (err: unknown) => {
              writeApiError(res, err instanceof ApiError ? err : new ApiError(503, 503, 'Authentication is unavailable; try again.'))
            })
        },
        onDone: reportDone(request, owner, res, began)
      })
    },
    async onAuthenticated (request, reply) {
      if (reply.sent) return
      await byClaim(request, reply, hops.get(request))
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

/** The consumer instance a request names (the v2 family: in the caller's default namespace), if any. */
function instanceRefOf (request: FastifyRequest): InstanceRef | undefined {
  const p = request.params as { instance?: unknown, group?: unknown, namespace?: unknown } | undefined
  if (typeof p?.instance !== 'string' || typeof p.group !== 'string') return undefined
  const namespace = typeof p.namespace === 'string'
    ? p.namespace
    : (request.principal ? defaultNamespace(request.principal.subject) : undefined)
  return namespace === undefined ? undefined : { namespace, group: p.group, name: p.instance }
}

function hopRequestOf (request: FastifyRequest): HopRequest {
  return { method: request.raw.method ?? 'GET', url: request.raw.url ?? '/', authorization: request.headers.authorization }
}

export default fp(clusterPlugin, { name: 'cluster', fastify: '5.x', dependencies: ['config'] })
