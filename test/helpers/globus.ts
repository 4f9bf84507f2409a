/**
 * A stand-in for Globus Auth's token introspection endpoint, per shared/docs/globus-token-introspection.md §1
 * "What the stand-in must do": a real HTTP server on 127.0.0.1 (port 0) serving
 * `POST /v2/oauth2/token/introspect`, so the service is tested through its normal HTTP code path.
 *
 * - Checks HTTP Basic credentials (401 `invalid_client` on mismatch), requires a non-empty form `token`
 *   (400 `invalid_request`), ignores query strings.
 * - Looks the token up in a table of scripted responses; unknown tokens get `{"active": false}`.
 * - `identity_set` / `session_info` / `identity_set_detail` are returned only when `include` names them.
 * - Scripted faults per token: delay, any status (429/5xx with Retry-After, 401/403, …), a non-JSON body,
 *   a JSON body without `active`.
 * - Counts calls (every request to the endpoint) and accepted TCP connections.
 * - Never filters by audience: the service's own `aud` check is what gets tested.
 */
import http from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import type { AddressInfo, Socket } from 'node:net'
import type { IntrospectionDoc } from '../../plugins/auth/introspection.js'
import { recordSecret } from '../../scripts/log-leaks.js'

export type { IntrospectionDoc }

/** The Diaspora resource server (the service's SERVER_CLIENT_ID in production). */
export const DIASPORA_RESOURCE_SERVER = '2b9d2f5c-fa32-45b5-875b-b24cd343b917'
/** The Diaspora SDK's native-app client (the `client_id` of user tokens). */
export const DIASPORA_SDK_CLIENT = 'c5d4fab4-7f0d-422e-b0c8-5c74329b52fe'
export const INTROSPECT_PATH = '/v2/oauth2/token/introspect'

export type TokenFault =
  /** Answer after `ms` (past the client timeout, typically) with `doc`, by default `{active: false}`. */
  | { fault: 'delay', ms: number, doc?: IntrospectionDoc }
  /** Answer `status` with an OAuth-style JSON error body (or `body`), and Retry-After when given. */
  | { fault: 'status', status: number, retryAfter?: string | number, body?: string }
  /** 200 with a body that is not JSON. */
  | { fault: 'garbage' }
  /** 200 with a JSON object that lacks `active`. */
  | { fault: 'no-active' }

/** What the stand-in answers for a token: a document to return, or a fault. */
export type TokenScript = IntrospectionDoc | TokenFault

export interface RecordedRequest {
  headers: http.IncomingHttpHeaders
  form: URLSearchParams
}

export interface GlobusStandIn {
  /** Base URL, e.g. http://127.0.0.1:40123 (use as GLOBUS_AUTH_URL). */
  url: string
  clientId: string
  clientSecret: string
  /** Requests received on the introspection endpoint (writable: tests may zero it). */
  calls: number
  /** The required scope for clientId: https://auth.globus.org/scopes/<clientId>/action_all */
  scope: string
  /**
   * Registers an active, correct token (aud = [clientId], scope, exp 1 h ahead) for subject (a random UUID
   * when absent) and returns it. Overrides replace fields; an override of `undefined` removes the field.
   */
  userToken (subject?: string, overrides?: Partial<IntrospectionDoc>): string
  /** Script the answer for a token. */
  setToken (token: string, response: TokenScript): void
  /** Forget every token and zero the counters. */
  reset (): void
  close (): Promise<void>
  /** TCP connections accepted so far (keep-alive reuse shows as fewer connections than calls). */
  connections: number
  /** The last request received on the endpoint. */
  lastRequest: RecordedRequest | undefined
  /**
   * An outage: drop every connection and reset each new one until resume(). The port stays held, so no
   * other test's listener can take it meanwhile (closing and listening again raced with them).
   */
  suspend (): Promise<void>
  resume (): Promise<void>
}

/**
 * An address that refuses connections. Port 1 (tcpmux) is privileged and nothing here serves it; a port
 * freed by closing a listener could be taken by another test file's listener before the test connects.
 */
export const REFUSED_URL = 'http://127.0.0.1:1'

export interface StartGlobusOptions {
  clientId?: string
  clientSecret?: string
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A token shaped like the ones observed from Globus: `Ag` + alphanumerics, ~100 characters. */
export function fakeGlobusToken (length = 100): string {
  const bytes = randomBytes(length - 2)
  let s = 'Ag'
  for (const b of bytes) s += ALNUM[b % ALNUM.length]
  recordSecret(s)
  return s
}

const isFault = (s: TokenScript): s is TokenFault => typeof (s as { fault?: unknown }).fault === 'string'

const INCLUDABLE = ['identity_set', 'session_info', 'identity_set_detail']

export async function startGlobus (
  t: { teardown (fn: () => unknown): void },
  opts: StartGlobusOptions = {}
): Promise<GlobusStandIn> {
  const clientId = opts.clientId ?? DIASPORA_RESOURCE_SERVER
  const clientSecret = opts.clientSecret ?? `stand-in-secret-${randomBytes(8).toString('hex')}`
  recordSecret(clientSecret)
  const expectedBasic = `${clientId}:${clientSecret}`
  const tokens = new Map<string, TokenScript>()
  const timers = new Set<NodeJS.Timeout>()

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json', ...headers })
    res.end(text)
  }

  const answer = (res: http.ServerResponse, script: TokenScript | undefined, include: Set<string>) => {
    if (script === undefined) return send(res, 200, { active: false })
    if (!isFault(script)) {
      const doc: Record<string, unknown> = { ...script }
      for (const field of INCLUDABLE) if (!include.has(field)) delete doc[field]
      return send(res, 200, doc)
    }
    switch (script.fault) {
      case 'delay': {
        const timer = setTimeout(() => {
          timers.delete(timer)
          if (!res.destroyed) answer(res, script.doc ?? { active: false }, include)
        }, script.ms)
        timers.add(timer)
        return
      }
      case 'status': {
        const headers: Record<string, string> = {}
        if (script.retryAfter !== undefined) headers['retry-after'] = String(script.retryAfter)
        const error = script.status === 401 ? 'invalid_client' : script.status === 429 ? 'rate_limited' : 'server_error'
        return send(res, script.status, script.body ?? {
          error,
          errors: [{ status: String(script.status), id: randomUUID(), code: error.toUpperCase(), title: 'Scripted failure', detail: 'stand-in fault' }]
        }, headers)
      }
      case 'garbage':
        return send(res, 200, '<html><body><h1>502 Bad Gateway</h1></body></html>')
      case 'no-active':
        return send(res, 200, { scope: standIn.scope, aud: [clientId], sub: randomUUID() })
    }
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== INTROSPECT_PATH) return send(res, 404, { error: 'not_found' })
    if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' })
    standIn.calls++
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
      standIn.lastRequest = { headers: req.headers, form }
      const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '')
      if (!m || Buffer.from(m[1] as string, 'base64').toString('utf8') !== expectedBasic) {
        return send(res, 401, { error: 'invalid_client', error_description: 'Invalid client credentials' })
      }
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
      const token = form.get('token')
      if (type !== 'application/x-www-form-urlencoded' || !token) {
        return send(res, 400, { error: 'invalid_request', error_description: 'token is required' })
      }
      const include = new Set((form.get('include') ?? '').split(',').map(s => s.trim()).filter(Boolean))
      answer(res, tokens.get(token), include)
    })
  })
  let suspended = false
  server.on('connection', (socket: Socket) => {
    if (suspended) { socket.resetAndDestroy(); return }
    standIn.connections++
  })

  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const stop = () => new Promise<void>((resolve) => {
    for (const timer of timers) clearTimeout(timer)
    timers.clear()
    if (!server.listening) { resolve(); return }
    server.close(() => resolve())
    server.closeAllConnections()
  })

  await listen(0)
  const port = (server.address() as AddressInfo).port

  const standIn: GlobusStandIn = {
    url: `http://127.0.0.1:${port}`,
    clientId,
    clientSecret,
    calls: 0,
    connections: 0,
    lastRequest: undefined,
    scope: `https://auth.globus.org/scopes/${clientId}/action_all`,
    userToken (subject = randomUUID(), overrides = {}) {
      const token = fakeGlobusToken()
      const now = Math.floor(Date.now() / 1000)
      const doc: IntrospectionDoc = {
        active: true,
        token_type: 'Bearer',
        scope: standIn.scope,
        client_id: DIASPORA_SDK_CLIENT,
        sub: subject,
        username: `user-${subject.slice(0, 8)}@example.edu`,
        name: 'Test User',
        email: null,
        aud: [clientId],
        iss: 'https://auth.globus.org',
        exp: now + 3600,
        iat: now,
        nbf: now,
        dependent_tokens_cache_id: randomBytes(16).toString('hex'),
        identity_set: [subject],
        session_info: {
          session_id: randomUUID(),
          authentications: { [subject]: { auth_time: now - 60, idp: randomUUID() } }
        },
        ...overrides
      }
      tokens.set(token, doc)
      return token
    },
    setToken (token, response) {
      recordSecret(token)
      tokens.set(token, response)
    },
    reset () {
      tokens.clear()
      standIn.calls = 0
      standIn.connections = 0
      standIn.lastRequest = undefined
    },
    close: stop,
    suspend: async () => {
      suspended = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      server.closeAllConnections()
    },
    resume: async () => { suspended = false }
  }

  t.teardown(() => standIn.close())
  return standIn
}
