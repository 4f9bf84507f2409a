/**
 * The Globus Auth token introspection client (shared/docs/globus-token-introspection.md §1, §4, §6 rows
 * 10–13). Plain module.
 *
 * `POST {GLOBUS_AUTH_URL}/v2/oauth2/token/introspect`, HTTP Basic with the service's confidential client,
 * form-encoded `token`. No `include`: the service needs only `sub`, `username`, `exp`, `aud` and `scope`, and
 * the identity/session extras only make the answer bigger.
 *
 * Why node:http(s) and not the global fetch: the client owns a dedicated keep-alive Agent, bounded in sockets,
 * closed with the plugin, and independent of undici's process-wide dispatcher that other code (or tests) may
 * replace; it is also measurably cheaper per call than fetch's WHATWG streams on Node 20. The one hazard of
 * keep-alive, the server closing an idle socket just as we reuse it, is handled the way the Node docs advise:
 * a request that fails on a *reused* socket before any answer is retried once, on a fresh one, within the
 * same deadline (introspection is read-only, so the retry is safe). There are no other retries: §4 wants
 * 0–1, and a 503 with Retry-After lets the SDK back off by itself.
 *
 * The deadline is one AbortSignal.timeout() for the whole exchange (connect, send, headers and body).
 * Outcomes: 200 + JSON object with `active` → the document; timeout / connection failure → 503
 * AUTH_UNAVAILABLE (#10); 429 / 5xx → 503 with Globus's Retry-After (#11); non-JSON, no `active`, 200 with
 * something else, any other status → 502 AUTH_BAD_RESPONSE (#12); 401 / 403 (our credentials) → 500
 * AUTH_MISCONFIGURED, logged at error level (#13).
 */
import http from 'node:http'
import https from 'node:https'
import { AuthErrors } from './errors.js'

/** RFC 7662 / Globus introspection document. Unknown fields are kept and ignored. */
export interface IntrospectionDoc {
  active: boolean
  scope?: string
  client_id?: string
  sub?: string
  username?: string
  name?: string | null
  email?: string | null
  aud?: string[] | string | null
  iss?: string
  exp?: number
  iat?: number
  nbf?: number
  token_type?: string
  dependent_tokens_cache_id?: string
  identity_set?: string[]
  session_info?: Record<string, unknown>
  identity_set_detail?: Array<Record<string, unknown>>
  [field: string]: unknown
}

/** Anything that can introspect a token: the HTTP client below, or a fake in tests and benchmarks. */
export type Introspector = (token: string) => Promise<IntrospectionDoc>

/** The subset of a pino/Fastify logger the auth modules use. */
export interface AuthLogger {
  error (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  debug (obj: object, msg: string): void
}

export interface IntrospectionClientOptions {
  /** GLOBUS_AUTH_URL, e.g. https://auth.globus.org (a path prefix is kept). */
  baseUrl: string
  clientId: string
  clientSecret: string
  timeoutMs: number
  /** Largest number of concurrent connections to Globus (further calls queue inside the deadline). */
  maxSockets?: number
  logger?: AuthLogger
}

export const INTROSPECT_PATH = 'v2/oauth2/token/introspect'
/** An introspection answer is a few hundred bytes; anything past this is not one. */
const MAX_BODY_BYTES = 256 * 1024
const RETRYABLE_ON_REUSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])

interface RawResponse { status: number, retryAfter: string | undefined, body: string }

class TimeoutError extends Error {
  constructor () { super('introspection timed out'); this.name = 'TimeoutError' }
}

export class IntrospectionClient {
  readonly #url: URL
  readonly #agent: http.Agent
  readonly #request: typeof http.request
  readonly #authorization: string
  readonly #timeoutMs: number
  readonly #logger: AuthLogger | undefined
  /** HTTP exchanges attempted (a keep-alive retry counts twice). */
  requests = 0

  constructor (opts: IntrospectionClientOptions) {
    const base = opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`
    this.#url = new URL(INTROSPECT_PATH, base)
    const secure = this.#url.protocol === 'https:'
    const agentOpts: http.AgentOptions = {
      keepAlive: true,
      keepAliveMsecs: 1000,
      maxSockets: opts.maxSockets ?? 256,
      maxFreeSockets: 64,
      scheduling: 'lifo',
      // Idle sockets are closed after 4 s, below the usual 5 s server keep-alive, to avoid the reuse race.
      timeout: 4000
    }
    this.#agent = secure ? new https.Agent(agentOpts) : new http.Agent(agentOpts)
    this.#request = secure ? https.request : http.request
    // globus-sdk's BasicAuthorizer: base64("<id>:<secret>"), without form-encoding the parts.
    this.#authorization = `Basic ${Buffer.from(`${opts.clientId}:${opts.clientSecret}`).toString('base64')}`
    this.#timeoutMs = opts.timeoutMs
    this.#logger = opts.logger
  }

  /** The Introspector function bound to this client. */
  readonly introspect: Introspector = async (token) => {
    const body = new URLSearchParams({ token }).toString()
    const signal = AbortSignal.timeout(this.#timeoutMs)
    let res: RawResponse
    try {
      res = await this.#send(body, signal, true)
    } catch (err) {
      const timedOut = err instanceof TimeoutError
      this.#logger?.warn({ timeoutMs: this.#timeoutMs, err: timedOut ? undefined : describe(err) },
        timedOut ? 'Globus introspection timed out' : 'Globus introspection failed to connect')
      throw AuthErrors.unreachable(timedOut ? undefined : describe(err))
    }
    return this.#interpret(res)
  }

  /** Close pooled connections (plugin close). */
  close (): void {
    this.#agent.destroy()
  }

  #interpret (res: RawResponse): IntrospectionDoc {
    const { status } = res
    if (status === 200) {
      let doc: unknown
      try {
        doc = JSON.parse(res.body)
      } catch {
        this.#logger?.warn({ status }, 'Globus introspection answered non-JSON')
        throw AuthErrors.badResponse()
      }
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !('active' in doc)) {
        this.#logger?.warn({ status }, 'Globus introspection answer lacks "active"')
        throw AuthErrors.badResponse()
      }
      return doc as IntrospectionDoc
    }
    if (status === 401 || status === 403) {
      this.#logger?.error({ status, url: this.#url.href },
        'Globus Auth REJECTED THE SERVICE CREDENTIALS (SERVER_CLIENT_ID / SERVER_SECRET): every authenticated request fails until this is fixed')
      throw AuthErrors.misconfigured()
    }
    if (status === 429 || status >= 500) {
      this.#logger?.warn({ status, retryAfter: res.retryAfter }, 'Globus introspection unavailable')
      throw AuthErrors.unavailable(res.retryAfter)
    }
    this.#logger?.warn({ status }, 'Globus introspection answered an unexpected status')
    throw AuthErrors.badResponse()
  }

  #send (body: string, signal: AbortSignal, mayRetry: boolean): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      if (signal.aborted) { reject(new TimeoutError()); return }
      this.requests++
      let settled = false
      let answered = false
      const finish = (err: Error | null, value?: RawResponse) => {
        if (settled) return
        settled = true
        signal.removeEventListener('abort', onAbort)
        if (err) reject(err)
        else resolve(value as RawResponse)
      }
      const req = this.#request(this.#url, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          authorization: this.#authorization,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json'
        }
      })
      const onAbort = () => {
        finish(new TimeoutError())
        req.destroy()
      }
      signal.addEventListener('abort', onAbort, { once: true })
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return
        if (mayRetry && !answered && req.reusedSocket && RETRYABLE_ON_REUSED.has(err.code ?? '')) {
          settled = true
          signal.removeEventListener('abort', onAbort)
          this.#send(body, signal, false).then(resolve, reject)
          return
        }
        finish(err)
      })
      req.on('response', (res) => {
        answered = true
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_BODY_BYTES) {
            // Status 0 is "not an introspection answer": #interpret maps it to 502.
            finish(null, { status: 0, retryAfter: undefined, body: '' })
            res.destroy()
            return
          }
          chunks.push(chunk)
        })
        res.on('error', (err) => finish(err))
        res.on('close', () => { if (!res.complete) finish(new Error('response aborted')) })
        res.on('end', () => {
          const ra = res.headers['retry-after']
          finish(null, { status: res.statusCode ?? 0, retryAfter: Array.isArray(ra) ? ra[0] : ra, body: Buffer.concat(chunks).toString('utf8') })
        })
      })
      req.end(body)
    })
  }
}

function describe (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err)
}
