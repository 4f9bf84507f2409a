/**
 * A minimal HTTP/1.1 keep-alive client for the produce scenario's POSTs: one socket per connection, one request
 * in flight on it, each request a ready-made Buffer (request line, headers and body, made once before the clock
 * starts and written with one write), the answer parsed just enough to hand back its status, Retry-After and
 * body (Content-Length or chunked). On this loaded 2-core machine node:http's client cost about 190 µs of the
 * runner's CPU per small request with 100 keep-alive sockets and undici about 130 µs, CPU taken from the cores
 * the server runs on; this costs a fraction of that (the scenario reports the runner's CPU of every figure).
 */
import net from 'node:net'

export interface RawResponse {
  status: number
  retryAfter: string | undefined
  body: Buffer
  /** performance.now() when the answer had fully arrived. */
  at: number
}

const CRLF = Buffer.from('\r\n')
const HEAD_END = Buffer.from('\r\n\r\n')

/** A POST as bytes: `path` on `base`, JSON body, extra headers (e.g. authorization). */
export function rawPost (base: URL, path: string, headers: Record<string, string>, body: Buffer): Buffer {
  const lines = [`POST ${path} HTTP/1.1`, `Host: ${base.host}`, 'Content-Type: application/json', `Content-Length: ${body.length}`]
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body])
}

export class RawHttpConnection {
  readonly #socket: net.Socket
  #buf: Buffer = Buffer.alloc(0)
  #pending: { resolve: (r: RawResponse) => void, reject: (e: Error) => void } | undefined
  /** The answer in progress: status (0 before its head), body length (-1: chunked), chunks of a chunked body. */
  #status = 0
  #retryAfter: string | undefined
  #length = 0
  #parts: Buffer[] = []
  #closed: Error | undefined

  private constructor (socket: net.Socket) {
    this.#socket = socket
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
      try {
        this.#parse()
      } catch (err) {
        this.#fail(err as Error)
      }
    })
    socket.on('error', err => this.#fail(err))
    socket.on('close', () => this.#fail(new Error('connection closed by the server')))
  }

  static open (base: URL): Promise<RawHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: base.hostname, port: Number(base.port) })
      socket.once('connect', () => { socket.off('error', reject); resolve(new RawHttpConnection(socket)) })
      socket.once('error', reject)
    })
  }

  /** Send one ready-made request; resolves with its answer. One at a time per connection. */
  request (bytes: Buffer): Promise<RawResponse> {
    if (this.#closed) return Promise.reject(this.#closed)
    if (this.#pending) return Promise.reject(new Error('one request at a time per connection'))
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject }
      this.#socket.write(bytes)
    })
  }

  close (): void { this.#socket.destroy() }

  #fail (err: Error): void {
    this.#closed ??= err
    const p = this.#pending
    this.#pending = undefined
    p?.reject(err)
    this.#socket.destroy()
  }

  #finish (body: Buffer): void {
    const p = this.#pending
    const r: RawResponse = { status: this.#status, retryAfter: this.#retryAfter, body, at: performance.now() }
    this.#pending = undefined
    this.#status = 0
    this.#retryAfter = undefined
    this.#parts = []
    p?.resolve(r)
  }

  #parse (): void {
    for (;;) {
      if (this.#status === 0) {
        const end = this.#buf.indexOf(HEAD_END)
        if (end === -1) return
        const head = this.#buf.toString('latin1', 0, end).split('\r\n')
        this.#buf = this.#buf.subarray(end + 4)
        const status = Number((head[0] as string).slice(9, 12))
        if (!(status >= 100)) throw new Error(`not an HTTP answer: ${head[0]}`)
        if (status < 200) continue // 100 Continue and the like: the real answer follows
        let length = -2
        for (let i = 1; i < head.length; i++) {
          const line = head[i] as string
          const colon = line.indexOf(':')
          const name = line.slice(0, colon).trim().toLowerCase()
          const value = line.slice(colon + 1).trim()
          if (name === 'content-length') length = Number(value)
          else if (name === 'transfer-encoding' && value.toLowerCase().includes('chunked')) length = -1
          else if (name === 'retry-after') this.#retryAfter = value
        }
        if (length === -2) throw new Error(`an answer with neither Content-Length nor chunked body (status ${status})`)
        this.#status = status
        this.#length = length
      }
      if (this.#length >= 0) {
        if (this.#buf.length < this.#length) return
        const body = this.#buf.subarray(0, this.#length)
        this.#buf = this.#buf.subarray(this.#length)
        this.#finish(body)
        return
      }
      // Chunked: "<hex size>[;ext]\r\n<data>\r\n" … "0\r\n\r\n" (no trailers expected).
      for (;;) {
        const eol = this.#buf.indexOf(CRLF)
        if (eol === -1) return
        const size = parseInt(this.#buf.toString('latin1', 0, eol), 16)
        if (!Number.isFinite(size)) throw new Error('bad chunk size')
        if (size === 0) {
          if (this.#buf.length < eol + 4) return
          this.#buf = this.#buf.subarray(eol + 4)
          this.#finish(this.#parts.length === 1 ? this.#parts[0] as Buffer : Buffer.concat(this.#parts))
          return
        }
        if (this.#buf.length < eol + 2 + size + 2) return
        this.#parts.push(this.#buf.subarray(eol + 2, eol + 2 + size))
        this.#buf = this.#buf.subarray(eol + 2 + size + 2)
      }
    }
  }
}

/** `n` connections to `base`. */
export async function openConnections (base: URL, n: number): Promise<RawHttpConnection[]> {
  return Promise.all(Array.from({ length: n }, () => RawHttpConnection.open(base)))
}
