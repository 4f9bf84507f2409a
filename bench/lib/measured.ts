/** What a measured child process (bench/server.ts, bench/baseline-consumers.ts) reports of itself. */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Command, LoopDelay, Usage } from './protocol.js'

function usage (): Usage {
  const m = process.memoryUsage()
  const c = process.cpuUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, cpuUser: c.user, cpuSystem: c.system, now: performance.now() }
}

/** Full collections, with a turn of the event loop between them (needs node --expose-gc; else nothing). */
async function fullGc (): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise(resolve => setImmediate(resolve))
  }
}

/** Event-loop delay percentiles of a histogram, in ms. */
export function loopDelayOf (h: IntervalHistogram): LoopDelay {
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, mean: h.mean / 1e6 }
}

/** The process's event-loop delay since the last reset (5 ms resolution). */
export class LoopDelayMonitor {
  #h = monitorEventLoopDelay({ resolution: 5 })
  constructor () { this.#h.enable() }
  reset (): void {
    this.#h.disable()
    this.#h = monitorEventLoopDelay({ resolution: 5 })
    this.#h.enable()
  }

  read (): LoopDelay { return loopDelayOf(this.#h) }
}

/**
 * The commands every measured child answers alike (usage, loop delay, Kafka request counts); undefined for the
 * others, which the child handles itself.
 */
export async function answerCommon (body: Command, eld: LoopDelayMonitor, kafkaCounts: Record<string, number>): Promise<{ reply: unknown } | undefined> {
  switch (body.cmd) {
    case 'usage':
      if (body.gc) await fullGc()
      return { reply: usage() }
    case 'eld.reset':
      eld.reset()
      return { reply: null }
    case 'eld.read':
      return { reply: eld.read() }
    case 'kafka.counts':
      return { reply: { ...kafkaCounts } }
    default:
      return undefined
  }
}
