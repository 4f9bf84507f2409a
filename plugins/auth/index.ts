/**
 * Globus token auth (shared/docs/globus-token-introspection.md; issue 3 "Auth plugin").
 *
 * Decorates:
 * - `fastify.authenticate(request)`: an async onRequest hook. Parses `Authorization: Bearer <token>` and the
 *   optional `subject` header, verifies the token (cache, else introspection), checks the subject header
 *   against the token's `sub`, and sets `request.principal`; otherwise throws the §6 ApiError, which the
 *   root error handler renders in the route family's shape.
 * - `request.principal`: `Principal | null` (null until authenticate succeeds).
 * - `fastify.auth`: stats and cache size (benchmarks, metrics), verifyToken, clear.
 *
 * Publishes each introspection call's duration and outcome on `diaspora:auth:introspection` (channels.ts).
 *
 * AUTH_MODE=dev accepts only the token minted at start (or DEV_TOKEN) for DEV_SUBJECT, and says so loudly.
 * No token ever reaches the log: Globus tokens appear only as tokenRef() (a 12-hex-digit SHA-256 prefix), and
 * the dev token only in the start banner, which is written straight to the terminal (stderr), never through
 * the logger, whose lines are collected and shared. The log says that a banner was printed, not what it holds.
 */
import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { isLoopback, requiredScope } from '../config/config.js'
import { publishingIntrospector } from './channels.js'
import { AuthErrors } from './errors.js'
import { parseAuthorization, parseSubject } from './header.js'
import { IntrospectionClient, type Introspector } from './introspection.js'
import { DevVerifier, GlobusVerifier, devCurlLine, mintDevToken, type AuthStats, type TokenVerifier } from './service.js'
import type { Principal } from './verifier.js'

export type { Principal } from './verifier.js'
export type { AuthStats } from './service.js'

export interface AuthApi {
  readonly mode: 'globus' | 'dev'
  /** Counters since start: cache hits/misses, introspection calls, coalesced misses, size, in flight. */
  stats (): AuthStats
  /** Number of cached tokens. */
  readonly size: number
  /** The principal of a bare token (no header parsing, no subject check). */
  verifyToken (token: string): Promise<Principal>
  /** Forget every cached token. */
  clear (): void
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest) => Promise<void>
    auth: AuthApi
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

export interface AuthPluginOptions {
  /** Clock in epoch ms (tests); Date.now when absent. */
  now?: () => number
  /** Replace the HTTP introspection client (tests, benchmarks). */
  introspector?: Introspector
  /** Where the dev-mode banner (with the token) is written, never the log; process.stderr when absent. */
  stderr?: { write (text: string): unknown }
}

const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (fastify, opts) => {
  const config = fastify.config
  const log = fastify.log.child({ component: 'auth' })
  let verifier: TokenVerifier

  if (config.AUTH_MODE === 'dev') {
    const token = config.DEV_TOKEN ?? mintDevToken()
    verifier = new DevVerifier(token, config.DEV_SUBJECT)
    const line = devCurlLine(token, config.PORT)
    const remote = !isLoopback(config.HOST)
    log.warn({ subject: config.DEV_SUBJECT, host: config.HOST }, 'AUTH_MODE=dev: Globus is NOT consulted; one local token is accepted. ' +
      'Never run this in production. The token and a curl line are printed on stderr, not logged.')
    // loadConfig refuses a non-loopback HOST in dev mode unless DEV_ALLOW_REMOTE=true: say it loudly when it was.
    const exposure = remote
      ? `HOST=${config.HOST} with DEV_ALLOW_REMOTE=true: anyone who can reach port ${config.PORT} and learns the token is let in`
      : undefined
    if (exposure !== undefined) log.warn({ host: config.HOST, port: config.PORT }, `AUTH_MODE=dev listens beyond loopback: ${exposure}`)
    const warning = exposure === undefined ? '' : `\n!!! WARNING: AUTH_MODE=dev listens beyond loopback. ${exposure}. !!!\n`
    ;(opts.stderr ?? process.stderr).write(
      `${warning}\nAUTH_MODE=dev: accepting only this token, for subject ${config.DEV_SUBJECT}. Try:\n  ${line}\n\n`)
  } else {
    const clientId = config.SERVER_CLIENT_ID
    const secret = config.SERVER_SECRET
    // loadConfig already requires both in globus mode; this guards direct registrations with a bad config.
    if (!clientId || !secret) throw new Error('auth: SERVER_CLIENT_ID and SERVER_SECRET are required when AUTH_MODE=globus')
    let introspect = opts.introspector
    let closeClient: (() => void) | undefined
    if (introspect === undefined) {
      const client = new IntrospectionClient({
        baseUrl: config.GLOBUS_AUTH_URL,
        clientId,
        clientSecret: secret,
        timeoutMs: config.AUTH_INTROSPECTION_TIMEOUT_MS,
        logger: log
      })
      introspect = client.introspect
      closeClient = () => client.close()
    }
    const verifierOpts: ConstructorParameters<typeof GlobusVerifier>[0] = {
      // Each call's duration and outcome go to the diaspora:auth:introspection channel (channels.ts).
      introspect: publishingIntrospector(introspect),
      policy: { clientId, requiredScope: requiredScope(config) },
      ttlMs: config.AUTH_CACHE_TTL_MS,
      maxEntries: config.AUTH_CACHE_MAX_ENTRIES,
      logger: log
    }
    if (opts.now) verifierOpts.now = opts.now
    if (closeClient) verifierOpts.onClose = closeClient
    verifier = new GlobusVerifier(verifierOpts)
    log.info({ url: config.GLOBUS_AUTH_URL, ttlMs: config.AUTH_CACHE_TTL_MS, maxEntries: config.AUTH_CACHE_MAX_ENTRIES }, 'Globus token introspection enabled')
  }

  const authenticate = async (request: FastifyRequest): Promise<void> => {
    const token = parseAuthorization(request.headers.authorization)
    const subject = parseSubject(request.headers.subject)
    const principal = await verifier.verifyToken(token)
    if (subject !== undefined && subject !== principal.subject) throw AuthErrors.subjectMismatch()
    request.principal = principal
  }

  const api: AuthApi = {
    get mode () { return verifier.mode },
    stats: () => verifier.stats(),
    get size () { return verifier.size },
    verifyToken: (token) => verifier.verifyToken(token),
    clear: () => verifier.clear()
  }

  fastify.decorateRequest('principal', null)
  fastify.decorate('authenticate', authenticate)
  fastify.decorate('auth', api)
  fastify.addHook('onClose', async () => { verifier.close() })
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x', dependencies: ['config'] })
