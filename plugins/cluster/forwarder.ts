/**
 * Forwards one HTTP request to the node that owns its consumer instance and streams the answer back: the
 * request body is piped as it arrives (GET bodies too), the response is piped as the owner writes it (a long
 * poll waits on the owner, not here), over keep-alive connections. Nothing is buffered. Plain module (node:http).
 *
 * A node that refuses or does not accept the connection (within the connect timeout) is gone: its instances
 * are gone with it, so the answer is 404/40403 and the SDK creates its instance again. Any other failure before
 * the owner answered is 503; a failure after it began answering cuts the client's connection (the answer is
 * incomplete, and saying otherwise would be a lie).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'

/** Headers that belong to one connection (RFC 9110 §7.6.1), never passed on. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host'
])
/** Errors that mean the owner's process is not there (nothing was sent). */
const GONE: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'CONNECT_TIMEOUT'])

export interface ForwardOptions {
  connectTimeoutMs: number
  /** Called with the outcome (metrics, logs); must not throw. */
  onDone?: (outcome: 'forwarded' | 'gone' | 'failed', err?: string) => void
}

export type ErrorWriter = (res: ServerResponse, status: number, errorCode: number, message: string) => void

/** Per-request hooks of instance-name routing (claims.ts). */
export interface ForwardHooks {
  /**
   * The target refused or did not accept the connection (nothing of the request was sent yet): another node
   * to try instead (`undefined`: answer 40403 as for any gone owner). Called at most once per request.
   */
  reroute?: () => Promise<{ base: string, extra: Record<string, string> } | undefined>
  /** The target began answering (status, and the node that answered: the owner's `x-diaspora-node`). */
  onAnswer?: (status: number, node: string | undefined) => void
  /** Set on the second attempt after a reset kept-alive connection (internal). */
  resent?: boolean
}

export class Forwarder {
  readonly #http = new http.Agent({ keepAlive: true, scheduling: 'lifo' })
  readonly #https = new https.Agent({ keepAlive: true, scheduling: 'lifo' })

  constructor (private readonly opts: ForwardOptions, private readonly writeError: ErrorWriter) {}

  /**
   * Send `req` to `base` (a node URL) with `extra` headers added, and answer `res` with what comes back. A 503
   * from the owner is checked with `ownerGone` (a node that is shutting down answers 503 once it has left the
   * node table): when the owner is gone the answer is 404/40403 instead, so the client creates its instance again.
   */
  forward (req: IncomingMessage, res: ServerResponse, base: string, extra: Record<string, string>, ownerGone?: () => Promise<boolean>, hooks?: ForwardHooks): void {
    const target = new URL(base)
    const secure = target.protocol === 'https:'
    const headers: Record<string, string | string[]> = {}
    const listed = connectionListed(req.headers.connection)
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name) || name.startsWith('x-diaspora-forward')) continue
      headers[name] = value
    }
    const via = req.socket.remoteAddress
    if (via !== undefined) headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${via}` : via
    Object.assign(headers, extra)
    headers.host = target.host
    const upstream = (secure ? https : http).request({
      protocol: target.protocol,
      hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: target.port === '' ? (secure ? 443 : 80) : Number(target.port),
      method: req.method,
      path: req.url,
      headers,
      agent: secure ? this.#https : this.#http
    })
    let settled = false
    const done = (outcome: 'forwarded' | 'gone' | 'failed', err?: string): void => {
      if (settled) return
      settled = true
      this.opts.onDone?.(outcome, err)
    }
    // With a reroute hook, the body waits for the connection: a refused one leaves it unread for the next node.
    let piped = false
    const pipeBody = (): void => { if (!piped) { piped = true; req.pipe(upstream) } }
    upstream.once('socket', socket => {
      if (!socket.connecting) { pipeBody(); return }
      const timer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' })), this.opts.connectTimeoutMs)
      socket.once('connect', () => { clearTimeout(timer); pipeBody() })
      socket.once('close', () => clearTimeout(timer))
    })
    upstream.once('response', answer => {
      hooks?.onAnswer?.(answer.statusCode ?? 0, headerValue(answer.headers['x-diaspora-node']))
      if (answer.statusCode === 503 && ownerGone !== undefined) {
        answer.pause()
        ownerGone().catch(() => false).then(gone => {
          if (!gone || res.destroyed) { pass(answer); return }
          answer.resume()
          done('gone', 'the owner is shutting down')
          this.writeError(res, 404, 40403, 'Consumer instance not found: the node that held it is shutting down.')
        }, () => {})
        return
      }
      pass(answer)
    })
    const pass = (answer: IncomingMessage): void => {
      const out: Record<string, string | string[]> = {}
      const listedBack = connectionListed(answer.headers.connection)
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name) && !listedBack.has(name)) out[name] = value
      }
      res.writeHead(answer.statusCode ?? 502, out)
      answer.pipe(res)
      answer.once('end', () => done('forwarded'))
      answer.once('close', () => { if (!answer.complete) { done('failed', 'the owner\'s answer was cut'); res.destroy() } })
    }
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) { res.destroy(); done('failed', err.code ?? err.message); return }
      if (res.destroyed) { done('failed', 'client gone'); return }
      // A kept-alive connection the owner closed (it was killed, or dropped it idle) as this request went out: a
      // GET without a body (safe to repeat) is sent once more on a new connection, which says if the owner is there.
      if (err.code === 'ECONNRESET' && upstream.reusedSocket && hooks?.resent !== true && repeatable(req)) {
        settled = true
        this.forward(req, res, base, extra, ownerGone, { ...hooks, resent: true })
        return
      }
      const gone = GONE.has(err.code ?? '')
      if (gone && !piped && hooks?.reroute !== undefined) {
        const reroute = hooks.reroute
        settled = true
        reroute().catch(() => undefined).then(next => {
          if (res.destroyed) { this.opts.onDone?.('failed', 'client gone'); return }
          if (next !== undefined) { this.forward(req, res, next.base, next.extra, ownerGone, { ...hooks, reroute: undefined }); return }
          this.opts.onDone?.('gone', err.code ?? err.message)
          this.writeError(res, 404, 40403, 'Consumer instance not found: the node that held it is gone.')
          req.resume()
        }, () => {})
        return
      }
      done(gone ? 'gone' : 'failed', err.code ?? err.message)
      if (gone) this.writeError(res, 404, 40403, 'Consumer instance not found: the node that held it is gone.')
      else this.writeError(res, 503, 503, 'The node that holds this consumer instance did not answer; try again.')
      // What is left of the request body is not read any more: drop it rather than hold the connection.
      req.resume()
    })
    // The client went away before the answer was complete: stop the owner's work (a long poll) too.
    res.once('close', () => { if (!res.writableFinished) upstream.destroy() })
    if (hooks?.reroute === undefined) pipeBody()
  }

  close (): void {
    this.#http.destroy()
    this.#https.destroy()
  }
}

function repeatable (req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0')
}

function headerValue (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function connectionListed (value: string | undefined): Set<string> {
  return new Set((value ?? '').split(',').map(s => s.trim().toLowerCase()).filter(Boolean))
}
