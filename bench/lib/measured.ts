/**
 * What a measured child process (bench/server.ts, bench/baseline-consumers.ts, bench/baseline-producer.ts)
 * reports of itself.
 */
import { constants, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks'
import type { Command, GcTotals, LoopDelay, Usage } from './protocol.js'

/** Garbage collections of this process since it started (perf_hooks 'gc' entries). */
const gcTotals: GcTotals = { major: 0, majorMs: 0, minor: 0, minorMs: 0, otherMs: 0 }
new PerformanceObserver(list => {
  for (const e of list.getEntries()) {
    const kind = ((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gcTotals.major++
      gcTotals.majorMs += e.duration
    } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gcTotals.minor++
      gcTotals.minorMs += e.duration
    } else gcTotals.otherMs += e.duration // incremental marking steps, weak callbacks
  }
}).observe({ entryTypes: ['gc'] })

function usage (): Usage {
  const m = process.memoryUsage()
  const c = process.cpuUsage()
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    cpuUser: c.user,
    cpuSystem: c.system,
    now: performance.now(),
    gc: { ...gcTotals }
  }
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
export async function answerCommon (
  body: Command,
  eld: LoopDelayMonitor,
  kafkaCounts: Record<string, number>
): Promise<{ reply: unknown } | undefined> {
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
