/**
 * The IPC protocol between the benchmark runner and a measured child process (bench/server.ts,
 * bench/baseline-consumers.ts, bench/baseline-producer.ts).
 */

export interface Usage {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  /** process.cpuUsage() in µs. */
  cpuUser: number
  cpuSystem: number
  /** performance.now() of the child, ms. */
  now: number
  gc: GcTotals
}

/**
 * Collections since the process started, with their main-thread time in ms: major (mark-compact), minor
 * (scavenge), other (incremental marking steps, weak callbacks).
 */
export interface GcTotals { major: number, majorMs: number, minor: number, minorMs: number, otherMs: number }

export interface LoopDelay {
  /** ms */
  p50: number
  p99: number
  max: number
  mean: number
}

export interface PhaseCounts {
  instances: number
  byPhase: Record<string, number>
  /** Partitions held, summed over instances. */
  partitions: number
  /** Instances whose kafkajs consumer has started (a subscription starts at its first read), and parked ones. */
  started: number
  parked: number
}

export interface AuthMicro {
  iterations: number
  /** µs per awaited fastify.authenticate(request) with a cached token. */
  authenticateUs: number
  /** µs per awaited call of an empty async hook, measured the same way (the floor). */
  noopUs: number
  /** µs per tokenHash() (SHA-256 of the token), the main cost of a hit. */
  hashUs: number
}

export type Command =
  | { cmd: 'usage', gc?: boolean }
  | { cmd: 'eld.reset' }
  | { cmd: 'eld.read' }
  | { cmd: 'kafka.counts' }
  | { cmd: 'phases' }
  | { cmd: 'auth.stats' }
  | { cmd: 'auth.micro', token: string, iterations: number }
  | { cmd: 'profile.mark', label: string }
  | { cmd: 'start', spec: unknown }
  | { cmd: 'run', spec: unknown }
  | { cmd: 'stop' }

export interface Request { id: number, body: Command }
export interface Reply { id: number, ok: boolean, result?: unknown, error?: string }
export interface Hello { hello: true, url?: string, pid: number }

/**
 * The child's side: answers each request with `handle`'s result (or its error), closes with `close` and exits
 * when the runner goes away, and says hello (with `url` for the server). Call once, after setting up.
 */
export function serveRunner (
  handle: (body: Command) => Promise<unknown>,
  close: () => Promise<unknown>,
  url?: string
): void {
  process.on('message', (msg: Request) => {
    handle(msg.body).then(
      result => process.send?.({ id: msg.id, ok: true, result } satisfies Reply),
      (err: unknown) =>
        process.send?.({ id: msg.id, ok: false, error: String((err as Error)?.stack ?? err) } satisfies Reply)
    )
  })
  // The runner went away: do not linger (consumers leave their groups, producers flush, on close).
  process.on('disconnect', () => { close().catch(() => {}).finally(() => process.exit(0)) })
  process.send?.({ hello: true, ...(url === undefined ? {} : { url }), pid: process.pid } satisfies Hello)
}
