/**
 * The separate metrics listener (METRICS_PORT): a small node:http server that answers `GET /metrics` and
 * nothing else, bound to METRICS_HOST (127.0.0.1 by default) so namespace names stay off the public port.
 * When METRICS_TOKEN is set it is required here too. Plain module: no Fastify.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { bearerMatches } from './metrics.js'

export interface MetricsListenerOptions {
  host: string
  port: number
  render (): Promise<string>
  contentType: string
  token?: string
  onError? (err: unknown): void
}

export interface MetricsListener {
  /** e.g. http://127.0.0.1:9464 (the bound port when 0 was asked for). */
  readonly url: string
  close (): Promise<void>
}

function send (res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers })
  res.end(body)
}

export async function startMetricsListener (opts: MetricsListenerOptions): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') return send(res, 404, 'not found: GET /metrics\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' })
    if (opts.token !== undefined && !bearerMatches(req.headers.authorization, opts.token)) {
      return send(res, 401, 'unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n', { 'www-authenticate': 'Bearer realm="metrics"' })
    }
    opts.render().then(
      text => send(res, 200, req.method === 'HEAD' ? '' : text, { 'content-type': opts.contentType }),
      (err: unknown) => { opts.onError?.(err); send(res, 500, 'metrics collection failed\n') }
    )
  })
  // Scrapes are short; a stuck client must not hold the listener open at shutdown.
  server.requestTimeout = 10_000
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve() })
  })
  const { address, port, family } = server.address() as AddressInfo
  const host = family === 'IPv6' ? `[${address}]` : address
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}
