/**
 * A minimal keep-alive HTTP client for driving the service over real HTTP (node:http, no extra package),
 * and the API user of the benchmarks: a Globus subject with a token, its default namespace and helpers.
 */
import http from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import type { GlobusStandIn } from '../../test/helpers/globus.js'
import { defaultNamespace } from '../../plugins/namespaces/names.js'

export const V2 = 'application/vnd.kafka.v2+json'
export const BINARY = 'application/vnd.kafka.binary.v2+json'
export const JSONV2 = 'application/vnd.kafka.json.v2+json'

export interface HttpResponse {
  status: number
  /** Empty when a 200 answer went to `onChunk` instead. */
  body: Buffer
  /** Bytes of the body, also those handed to `onChunk`. */
  bytes: number
  /** performance.now() when the last byte arrived. */
  at: number
  text (): string
  json<T = unknown> (): T
}

export interface RequestOptions {
  headers?: Record<string, string>
  body?: unknown
  /**
   * Hand a 200 answer's body over chunk by chunk instead of keeping it: a drain counts records as they arrive
   * rather than copying each multi-megabyte answer into one more fresh Buffer (about 1 µs of the runner's CPU per
   * 1 KiB record on this machine, taken from the cores the server runs on).
   */
  onChunk?: (chunk: Buffer) => void
}

export class HttpClient {
  readonly base: URL
  readonly agent: http.Agent

  constructor (baseUrl: string, opts: { maxSockets?: number } = {}) {
    this.base = new URL(baseUrl)
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 64,
      maxFreeSockets: opts.maxSockets ?? 64
    })
  }

  /**
   * One request. A keep-alive socket that the server closes just as it is reused (idle past the server's
   * keepAliveTimeout) fails with ECONNRESET before any answer: that request is sent again once, on a new socket.
   */
  async request (method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    try {
      return await this.#request(method, path, opts)
    } catch (err) {
      if ((err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return this.#request(method, path, opts)
      throw err
    }
  }

  #request (method: string, path: string, opts: RequestOptions): Promise<HttpResponse> {
    const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
    const headers: Record<string, string> = { ...opts.headers }
    if (payload !== undefined) {
      headers['content-type'] ??= V2
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.base.hostname,
        port: this.base.port,
        method,
        path,
        headers,
        agent: this.agent
      }, res => {
        const chunks: Buffer[] = []
        const sink = res.statusCode === 200 ? opts.onChunk : undefined
        let bytes = 0
        res.on('data', (c: Buffer) => {
          bytes += c.length
          if (sink) sink(c)
          else chunks.push(c)
        })
        res.on('error', reject)
        res.on('end', () => {
          const at = performance.now()
          const body = chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks)
          resolve({
            status: res.statusCode ?? 0,
            body,
            bytes,
            at,
            text: () => body.toString('utf8'),
            json: <T>() => JSON.parse(body.toString('utf8')) as T
          })
        })
      })
      req.on('error', err => reject(Object.assign(err, { reusedSocket: req.reusedSocket })))
      if (payload !== undefined) req.write(payload)
      req.end()
    })
  }

  close (): void { this.agent.destroy() }
}

export function shortName (prefix = 'b'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`
}

/** A benchmark user: one Globus subject, its token, its default namespace. */
export class BenchUser {
  readonly subject: string
  readonly token: string
  readonly ns: string
  readonly auth: Record<string, string>

  /** `client` is asked on every request, so a user survives a server restart. */
  private constructor (readonly client: () => HttpClient, subject: string, token: string) {
    this.subject = subject
    this.token = token
    this.ns = defaultNamespace(subject)
    this.auth = { authorization: `Bearer ${token}` }
  }

  /** Mint a token at the stand-in and claim the user's default namespace. */
  static async create (client: () => HttpClient, globus: GlobusStandIn): Promise<BenchUser> {
    const subject = randomUUID()
    const user = new BenchUser(client, subject, globus.userToken(subject))
    await user.ok('POST', '/api/v3/user', undefined, [200, 201])
    return user
  }

  req (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    onChunk?: (chunk: Buffer) => void
  ): Promise<HttpResponse> {
    return this.client().request(method, path.startsWith('/') ? path : `/api/v3/${path}`, { headers: { ...this.auth, ...headers }, body, onChunk })
  }

  async ok (
    method: string,
    path: string,
    body?: unknown,
    statuses: number[] = [200, 204],
    headers: Record<string, string> = {}
  ): Promise<HttpResponse> {
    const res = await this.req(method, path, body, headers)
    if (!statuses.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${res.text().slice(0, 300)}`)
    return res
  }

  /** Create a topic in the namespace (through the management API); returns its user name. */
  async topic (partitions: number, name = shortName('t')): Promise<string> {
    await this.ok('POST', `${this.ns}/${name}`, { num_partitions: partitions }, [200, 201], { 'content-type': 'application/json' })
    return name
  }

  kafkaTopic (topic: string): string { return `${this.ns}.${topic}` }

  async deleteTopic (topic: string): Promise<void> {
    await this.req('DELETE', `${this.ns}/${topic}`).catch(() => {})
  }

  /** Create a consumer instance; returns its path below /api/v3. */
  async consumer (group: string, body: Record<string, unknown> = {}): Promise<string> {
    const res = await this.ok('POST', `${this.ns}/consumers/${group}`, body, [200])
    const { instance_id: id } = res.json<{ instance_id: string }>()
    return `${this.ns}/consumers/${group}/instances/${id}`
  }

  async subscribe (path: string, topics: string[]): Promise<void> {
    await this.ok('POST', `${path}/subscription`, { topics }, [204])
  }

  /** One GET records that waits at most `timeoutMs`: a subscription's first read starts its consumer. */
  async read (path: string, timeoutMs = 0): Promise<void> {
    await this.ok('GET', `${path}/records?timeout=${timeoutMs}`, undefined, [200], { accept: 'application/vnd.kafka.binary.v2+json' })
  }

  async deleteConsumer (path: string): Promise<void> {
    await this.ok('DELETE', path, undefined, [204, 404])
  }
}

/** Run `fn` over `items` with at most `limit` in flight; resolves with results in item order. */
export async function pool<T, R> (
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
