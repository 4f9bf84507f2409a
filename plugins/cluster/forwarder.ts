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

export type Outcome = 'forwarded' | 'gone' | 'failed'

export interface ForwardOptions {
  connectTimeoutMs: number
  /** Called with the outcome (metrics, logs); must not throw. */
  onDone?: (outcome: Outcome, err?: string) => void
}

export type ErrorWriter = (res: ServerResponse, status: number, errorCode: number, message: string) => void

/** What one forwarded request adds to the forwarder's defaults. */
export interface ForwardCall {
  /**
   * A 503 from the owner is checked with it (a node that is shutting down answers 503 once it has left the node
   * table): when the owner is gone the answer is 404/40403 instead, so the client creates its instance again.
   */
  ownerGone?: () => Promise<boolean>
  /** Answers this request's failures (404 gone, 503) instead of the forwarder's writer. */
  writeError?: ErrorWriter
  /** Called once with this request's outcome, after the forwarder's onDone; must not throw. */
  onDone?: (outcome: Outcome, err?: string) => void
  /**
   * Instance-name routing (claims.ts): the target refused or did not accept the connection (nothing of the
   * request was sent yet): another node to try instead (`undefined`: answer 40403 as for any gone owner).
   * Called at most once per request.
   */
  reroute?: () => Promise<{ base: string, extra: Record<string, string> } | undefined>
  /** The target began answering (status, and the node that answered: the owner's `x-diaspora-node`). */
  onAnswer?: (status: number, node: string | undefined) => void
  /** Set on the second attempt after a reset kept-alive connection (internal). */
  resent?: boolean
}

interface Target {
  secure: boolean
  protocol: string
  hostname: string
  port: number
  host: string
}

export class Forwarder {
  readonly #http = new http.Agent({ keepAlive: true, scheduling: 'lifo' })
  readonly #https = new https.Agent({ keepAlive: true, scheduling: 'lifo' })
  /** Node URLs parsed once: a few nodes, each URL fixed while the node lives. */
  readonly #targets = new Map<string, Target>()

  constructor (private readonly opts: ForwardOptions, private readonly writeError: ErrorWriter) {}

  #target (base: string): Target {
    let target = this.#targets.get(base)
    if (target === undefined) {
      const url = new URL(base)
      const secure = url.protocol === 'https:'
      target = {
        secure,
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
        host: url.host
      }
      if (this.#targets.size >= 64) this.#targets.clear()
      this.#targets.set(base, target)
    }
    return target
  }

  /** Send `req` to `base` (a node URL) with `extra` headers added, and answer `res` with what comes back. */
  forward (
    req: IncomingMessage, res: ServerResponse, base: string, extra: Record<string, string>, call: ForwardCall = {}
  ): void {
    const target = this.#target(base)
    const headers = passOn(req.headers)
    const via = req.socket.remoteAddress
    if (via !== undefined) headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${via}` : via
    for (const name in extra) headers[name] = extra[name] as string
    headers.host = target.host
    const upstream = (target.secure ? https : http).request({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
      agent: target.secure ? this.#https : this.#http
    })
    const writeError = call.writeError ?? this.writeError
    let settled = false
    const done = (outcome: Outcome, err?: string): void => {
      if (settled) return
      settled = true
      this.opts.onDone?.(outcome, err)
      call.onDone?.(outcome, err)
    }
    // No body announced (most GETs): the request is ended at once rather than through a pipe that waits for
    // 'end'. With a reroute hook a body waits for the connection: a refused one leaves it unread for the next node.
    const body = hasBody(req)
    let piped = false
    const sendBody = (): void => {
      if (piped) return
      piped = true
      if (body) {
        req.pipe(upstream)
      } else {
        upstream.end()
        req.resume()
      }
    }
    upstream.once('socket', socket => {
      if (!socket.connecting) { sendBody(); return }
      const timer = setTimeout(() => {
        upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' }))
      }, this.opts.connectTimeoutMs)
      socket.once('connect', () => { clearTimeout(timer); sendBody() })
      socket.once('close', () => clearTimeout(timer))
    })
    const pass = (answer: IncomingMessage): void => {
      res.writeHead(answer.statusCode ?? 502, passOn(answer.headers))
      answer.pipe(res)
      answer.once('end', () => done('forwarded'))
      answer.once('close', () => { if (!answer.complete) { done('failed', 'the owner\'s answer was cut'); res.destroy() } })
    }
    upstream.once('response', answer => {
      call.onAnswer?.(answer.statusCode ?? 0, headerValue(answer.headers['x-diaspora-node']))
      const ownerGone = call.ownerGone
      if (answer.statusCode === 503 && ownerGone !== undefined) {
        answer.pause()
        ownerGone().catch(() => false).then(gone => {
          if (!gone || res.destroyed) { pass(answer); return }
          answer.resume()
          done('gone', 'the owner is shutting down')
          writeError(res, 404, 40403, 'Consumer instance not found: the node that held it is shutting down.')
        }, () => {})
        return
      }
      pass(answer)
    })
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) { res.destroy(); done('failed', err.code ?? err.message); return }
      if (res.destroyed) { done('failed', 'client gone'); return }
      // A kept-alive connection the owner closed (it was killed, or dropped it idle) as this request went out: a
      // GET without a body (safe to repeat) is sent once more on a new connection, which says if the owner is there.
      if (err.code === 'ECONNRESET' && upstream.reusedSocket && call.resent !== true && repeatable(req)) {
        settled = true
        this.forward(req, res, base, extra, { ...call, resent: true })
        return
      }
      const gone = GONE.has(err.code ?? '')
      // Nothing of a body was sent (or there is none): the request can go to the name's new holder instead.
      if (gone && (!piped || !body) && call.reroute !== undefined) {
        const reroute = call.reroute
        reroute().catch(() => undefined).then(next => {
          if (res.destroyed) { done('failed', 'client gone'); return }
          if (next !== undefined) {
            settled = true
            this.forward(req, res, next.base, next.extra, { ...call, reroute: undefined })
            return
          }
          done('gone', err.code ?? err.message)
          writeError(res, 404, 40403, 'Consumer instance not found: the node that held it is gone.')
          req.resume()
        }, () => {})
        return
      }
      done(gone ? 'gone' : 'failed', err.code ?? err.message)
      if (gone) writeError(res, 404, 40403, 'Consumer instance not found: the node that held it is gone.')
      else writeError(res, 503, 503, 'The node that holds this consumer instance did not answer; try again.')
      // What is left of the request body is not read any more: drop it rather than hold the connection.
      req.resume()
    })
    // The client went away before the answer was complete: stop the owner's work (a long poll) too.
    res.once('close', () => { if (!res.writableFinished) upstream.destroy() })
    if (call.reroute === undefined) sendBody()
  }

  close (): void {
    this.#http.destroy()
    this.#https.destroy()
  }
}

function repeatable (req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && !hasBody(req)
}

/** Does the request announce a body? (A GET may carry one: Confluent's consumer API reads GET bodies.) */
function hasBody (req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function headerValue (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * The end-to-end headers of a message: without the hop-by-hop ones, those its Connection header names, and
 * forwarding headers (only this node sets them on the next hop).
 */
function passOn (from: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const connection = from.connection
  // "keep-alive" and "close", the usual values, name no other header: no set to build.
  const listed = connection === undefined || connection === 'keep-alive' || connection === 'close' ? undefined : connectionListed(connection)
  for (const name in from) {
    const value = from[name]
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name) === true || name.startsWith('x-diaspora-forward')) continue
    out[name] = value
  }
  return out
}

function connectionListed (value: string): Set<string> {
  return new Set(value.split(',').map(s => s.trim().toLowerCase()).filter(Boolean))
}
