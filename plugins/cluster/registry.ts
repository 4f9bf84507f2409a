/**
 * This node's membership of the cluster: it registers (id, NODE_URL, heartbeat) in the node directory, renews
 * its heartbeat and re-reads every node's entry each NODE_HEARTBEAT_INTERVAL_MS, and answers "where does node X
 * live" from that copy, so a forwarded request costs no DynamoDB call. A node whose heartbeat is older than
 * NODE_EXPIRY_MS is gone. Plain module.
 */
import { randomUUID } from 'node:crypto'
import type { NodeDirectory, NodeEntry } from './node-table.js'

export interface NodeRegistryOptions {
  id: string
  url: string
  intervalMs: number
  expiryMs: number
  log: {
    warn (obj: object, msg: string): void, error (obj: object, msg: string): void, info (obj: object, msg: string): void
  }
  now?: () => number
}

/** Shortest time between two reads of the directory for a node not in the copy (a node that just started). */
const MISS_REFRESH_MS = 250

export class NodeRegistry {
  readonly incarnation = randomUUID()
  #nodes = new Map<string, NodeEntry>()
  #timer: NodeJS.Timeout | undefined
  #refreshing: Promise<void> | undefined
  #refreshedAt = 0
  #registered = false
  #beatAt = 0
  #stopped = false
  readonly #now: () => number

  constructor (private readonly directory: NodeDirectory, private readonly opts: NodeRegistryOptions) {
    this.#now = opts.now ?? Date.now
  }

  get id (): string { return this.opts.id }
  get registered (): boolean { return this.#registered }
  /**
   * Do the other nodes see this node live? Registered, and its last heartbeat within NODE_EXPIRY_MS (a node that
   * cannot reach the directory is taken as gone by the others: /ready says so, and the balancer routes around it).
   */
  get current (): boolean { return this.#registered && this.#now() - this.#beatAt <= this.opts.expiryMs }

  /** Register (refused when a live node holds this id), read the others, start heartbeating. */
  async start (): Promise<void> {
    const ok = await this.directory.register(this.#self(), this.incarnation, this.opts.expiryMs)
    if (!ok) {
      throw new Error(`NODE_ID ${this.opts.id} is held by another live node (its heartbeat is younger than NODE_EXPIRY_MS): give each node its own NODE_ID`)
    }
    this.#registered = true
    this.#beatAt = this.#now()
    this.opts.log.info({ node: this.opts.id, url: this.opts.url }, 'registered in the node directory')
    await this.refresh()
    this.#timer = setInterval(() => { this.#beat().catch(() => {}) }, this.opts.intervalMs).unref()
  }

  async #beat (): Promise<void> {
    if (this.#stopped) return
    try {
      const self = this.#self()
      let ok = await this.directory.heartbeat(self, this.incarnation)
      // Our entry was taken over or removed (we missed heartbeats long enough to count as gone): enter again
      // if the id is free, otherwise say so loudly; the other holder's instances are not ours.
      if (!ok) ok = await this.directory.register(this.#self(), this.incarnation, this.opts.expiryMs)
      if (!ok && this.#registered) this.opts.log.error({ node: this.opts.id }, 'another live node holds this NODE_ID: requests for this node\'s instances may go to it')
      this.#registered = ok
      if (ok) this.#beatAt = self.heartbeat
    } catch (err) {
      this.opts.log.warn({ err: describe(err) }, 'node heartbeat failed; retrying at the next interval')
    }
    await this.refresh().catch(err => this.opts.log.warn({ err: describe(err) }, 'reading the node directory failed'))
  }

  /** Re-read every entry (coalesced: concurrent callers share one read). */
  async refresh (): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const entries = await this.directory.list()
        this.#nodes = new Map(entries.map(e => [e.id, e]))
        this.#refreshedAt = this.#now()
      } finally {
        this.#refreshing = undefined
      }
    })()
    return this.#refreshing
  }

  /** The URL of a live node, from the copy; undefined when it is unknown or gone. */
  liveUrl (id: string): string | undefined {
    const e = this.#nodes.get(id)
    return e !== undefined && this.#now() - e.heartbeat <= this.opts.expiryMs ? e.url : undefined
  }

  /** The incarnation (process start) a node registered with, from the copy. */
  incarnationOf (id: string): string | undefined { return this.#nodes.get(id)?.incarnation }

  /** As liveUrl, but a node not in the copy is looked for in the directory (at most every 250 ms). */
  async resolve (id: string): Promise<string | undefined> {
    const url = this.liveUrl(id)
    if (url !== undefined || this.#nodes.has(id) || this.#now() - this.#refreshedAt < MISS_REFRESH_MS) return url
    await this.refresh().catch(() => {})
    return this.liveUrl(id)
  }

  /** Is the node gone, after a fresh read of the directory (at most every 250 ms: a burst of checks shares one)? */
  async gone (id: string): Promise<boolean> {
    if (this.#now() - this.#refreshedAt >= MISS_REFRESH_MS) await this.refresh().catch(() => {})
    return this.liveUrl(id) === undefined
  }

  /** Live nodes, this one included when registered. */
  live (): NodeEntry[] {
    const now = this.#now()
    return [...this.#nodes.values()].filter(e => now - e.heartbeat <= this.opts.expiryMs)
  }

  /** Stop heartbeating and leave the directory (bounded by `timeoutMs`): the others stop sending requests here. */
  async stop (timeoutMs = 2000): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#timer)
    if (!this.#registered) return
    this.#registered = false
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.directory.deregister(this.opts.id, this.incarnation),
        new Promise<void>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('timed out')), timeoutMs) })
      ])
      this.opts.log.info({ node: this.opts.id }, 'left the node directory')
    } catch (err) {
      this.opts.log.warn({ err: describe(err) }, 'leaving the node directory failed; the entry expires after NODE_EXPIRY_MS')
    } finally {
      clearTimeout(timer)
    }
  }

  #self (): NodeEntry { return { id: this.opts.id, url: this.opts.url, heartbeat: this.#now() } }
}

function describe (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message.slice(0, 300)}` : String(err)
}
