/** What every scenario gets: options, the Globus stand-in, the measured server, an HTTP client, cleanup. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { startGlobus, type GlobusStandIn } from '../../test/helpers/globus.js'
import { NODE_FLAGS } from '../../node-flags.js'
import { Child } from './child.js'
import { HttpClient } from './http.js'

export interface BenchOptions {
  quick: boolean
  /** Repetitions per measured configuration. */
  reps: number
  /** Repetitions of the fetch drains (short and the noisiest figures: 5 in full runs unless --reps). */
  fetchReps: number
  profile: boolean
  /** App environment overrides (--env K=V). */
  env: Record<string, string>
  brokers: string[]
  /** Many-instances scenario size and idle time (overridable for experiments). */
  instances?: number
  idleSeconds?: number
}

export class Cleanup {
  #fns: Array<() => unknown> = []
  teardown (fn: () => unknown): void { this.#fns.push(fn) }
  async run (): Promise<void> {
    for (const fn of this.#fns.reverse()) {
      try { await fn() } catch (err) { console.error('cleanup:', (err as Error).message) }
    }
    this.#fns = []
  }
}

export function log (msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

/** The app environment of the measured server: production defaults except what a bench needs. */
export function appEnv (
  globus: GlobusStandIn,
  brokers: string[],
  metadataFile: string,
  overrides: Record<string, string>
): Record<string, string> {
  return {
    // kafkajs' own errors (e.g. "the group is rebalancing" during joins) are logged as warnings: keep the output
    // readable.
    LOG_LEVEL: 'error',
    DEFAULT_SERVERS: brokers.join(','),
    SERVER_CLIENT_ID: globus.clientId,
    SERVER_SECRET: globus.clientSecret,
    GLOBUS_AUTH_URL: globus.url,
    METADATA_STORE: metadataFile,
    TOPIC_DEFAULT_REPLICATION_FACTOR: '1',
    ...overrides
  }
}

export class BenchContext {
  readonly cleanup = new Cleanup()
  /** Set-ups shared between scenarios and the profiling pass (e.g. the pre-filled topics). */
  readonly state = new Map<string, unknown>()
  readonly globus: GlobusStandIn
  server!: Child
  client!: HttpClient
  readonly #dir: string

  private constructor (readonly opts: BenchOptions, globus: GlobusStandIn) {
    this.globus = globus
    this.#dir = mkdtempSync(join(tmpdir(), 'diaspora-bench-'))
  }

  static async create (opts: BenchOptions): Promise<BenchContext> {
    const cleanup = new Cleanup()
    const globus = await startGlobus(cleanup)
    const ctx = new BenchContext(opts, globus)
    ctx.cleanup.teardown(() => cleanup.run())
    ctx.cleanup.teardown(() => rmSync(ctx.#dir, { recursive: true, force: true }))
    ctx.server = await ctx.startServer()
    ctx.client = new HttpClient(ctx.server.url as string)
    ctx.cleanup.teardown(() => ctx.client.close())
    return ctx
  }

  get env (): Record<string, string> {
    return appEnv(this.globus, this.opts.brokers, join(this.#dir, 'metadata.json'), this.opts.env)
  }

  /** Start a server child on the same metadata file (several may not run at once: one process per file). */
  async startServer (nodeArgs: string[] = []): Promise<Child> {
    const child = await Child.start({ script: 'server.ts', env: { BENCH_APP_ENV: JSON.stringify(this.env) }, nodeArgs: [...NODE_FLAGS, ...nodeArgs] })
    this.cleanup.teardown(() => child.stop())
    return child
  }

  /** Replace the running server by another (e.g. a profiled one); users and topics persist in the metadata file. */
  async restartServer (nodeArgs: string[] = []): Promise<void> {
    await this.server.stop()
    this.client.close()
    this.server = await this.startServer(nodeArgs)
    this.client = new HttpClient(this.server.url as string)
    this.cleanup.teardown(() => this.client.close())
  }

  kafka (clientId = 'diaspora-bench'): Kafka {
    return new Kafka({ clientId, brokers: this.opts.brokers, logLevel: logLevel.NOTHING })
  }
}
