/**
 * Scenario 1, fetch throughput. A topic pre-filled with N records (1 KiB and 100 B values; 1 and 4
 * partitions) is drained from the beginning by one consumer instance with GET records at a large max_bytes,
 * binary and json, and by a plain kafkajs consumer (library defaults, eachBatch) in the same repetition.
 * Rates exclude the first delivery (it measures the group join, not the drain).
 */
import { BenchUser, BINARY, JSONV2, shortName } from '../lib/http.js'
import { drainRates, drainWithKafkajs, prefill } from '../lib/kafka.js'
import { RecordCounter } from '../lib/records.js'
import { log, type BenchContext } from '../lib/context.js'
import { fmtSpread, ratioSpread, spread, type Spread } from '../lib/stats.js'
import type { LoopDelay, Usage } from '../lib/protocol.js'
import type { ScenarioResult, Target } from '../lib/result.js'

/** The "large max_bytes" of every read: the server's default cap CONSUMER_REQUEST_MAX_BYTES (64 MiB). */
export const MAX_BYTES = 64 * 1048576

export interface FetchTopic { size: number, partitions: number, topic: string, kafkaTopic: string, count: number }
export interface FetchSetup { user: BenchUser, topics: FetchTopic[] }

export function fetchCounts (quick: boolean): Record<number, number> {
  // Full size: drains of about 2 s each, long enough that start-up and scheduling noise stay small.
  return quick ? { 1024: 10_000, 100: 40_000 } : { 1024: 200_000, 100: 500_000 }
}

/** The pre-filled topics, made once per run (the profiling pass reuses them). */
export async function setupFetch (ctx: BenchContext): Promise<FetchSetup> {
  const cached = ctx.state.get('fetch') as FetchSetup | undefined
  if (cached) return cached
  const user = await BenchUser.create(() => ctx.client, ctx.globus)
  const counts = fetchCounts(ctx.opts.quick)
  const kafka = ctx.kafka('diaspora-bench-prefill')
  const topics: FetchTopic[] = []
  for (const size of [1024, 100]) {
    for (const partitions of [1, 4]) {
      const topic = await user.topic(partitions)
      ctx.cleanup.teardown(() => user.deleteTopic(topic))
      const count = counts[size] as number
      const t0 = performance.now()
      await prefill(kafka, user.kafkaTopic(topic), partitions, count, size)
      log(`fetch: pre-filled ${user.kafkaTopic(topic)} with ${count} × ${size} B over ${partitions} partition(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      topics.push({ size, partitions, topic, kafkaTopic: user.kafkaTopic(topic), count })
    }
  }
  const setup = { user, topics }
  ctx.state.set('fetch', setup)
  return setup
}

export interface ProxyDrain {
  records: number
  firstAt: number
  lastAt: number
  firstCount: number
  reads: number
  wireBytes: number
  eld: LoopDelay
  /** Server CPU (user + system) during the drain, % of one core, and per record drained. */
  cpuPct: number
  cpuUsPerRecord: number
  /** Server garbage collection during the drain: mark-compacts, and all GC main-thread time as % of the drain. */
  gcMajor: number
  gcPct: number
  /** The runner's own CPU during the drain (it is the HTTP client), % of one core. */
  clientCpuPct: number
}

/** One instance drains the topic from the beginning over real HTTP. */
export async function drainProxy (ctx: BenchContext, user: BenchUser, topic: string, format: 'binary' | 'json', expected: number, timeoutMs = 180_000): Promise<ProxyDrain> {
  const path = await user.consumer(shortName('g'), { format, 'auto.offset.reset': 'earliest' })
  try {
    await user.subscribe(path, [topic])
    const accept = format === 'binary' ? BINARY : JSONV2
    const deadline = performance.now() + timeoutMs
    let records = 0
    let firstAt = 0
    let lastAt = 0
    let firstCount = 0
    let reads = 0
    let wireBytes = 0
    let u0: Promise<Usage> | undefined
    let c0 = process.cpuUsage()
    let t0 = 0
    while (records < expected) {
      if (performance.now() > deadline) throw new Error(`proxy ${format}: ${records}/${expected} records after ${timeoutMs} ms`)
      const counter = new RecordCounter()
      const res = await user.req('GET', `${path}/records?timeout=1000&max_bytes=${MAX_BYTES}`, undefined, { accept }, chunk => counter.push(chunk))
      if (res.status !== 200) throw new Error(`GET records: ${res.status} ${res.text().slice(0, 300)}`)
      const n = counter.count
      if (n === 0) continue
      if (records === 0) {
        firstAt = res.at
        firstCount = n
        ctx.server.call({ cmd: 'eld.reset' }).catch(() => {})
        u0 = ctx.server.call<Usage>({ cmd: 'usage' })
        c0 = process.cpuUsage()
        t0 = performance.now()
      } else {
        reads++
        wireBytes += res.bytes
      }
      records += n
      lastAt = res.at
    }
    const c = process.cpuUsage(c0)
    const clientCpuPct = (c.user + c.system) / 1000 / (performance.now() - t0) * 100
    const [eld, a, b] = await Promise.all([
      ctx.server.call<LoopDelay>({ cmd: 'eld.read' }),
      u0 as Promise<Usage>,
      ctx.server.call<Usage>({ cmd: 'usage' })
    ])
    const cpuUs = b.cpuUser + b.cpuSystem - a.cpuUser - a.cpuSystem
    const cpuPct = (cpuUs / 1000) / (b.now - a.now) * 100
    const gcMs = b.gc.majorMs + b.gc.minorMs + b.gc.otherMs - a.gc.majorMs - a.gc.minorMs - a.gc.otherMs
    if (records !== expected) log(`fetch: warning: ${format} drain got ${records} records, expected ${expected}`)
    return {
      records,
      firstAt,
      lastAt,
      firstCount,
      reads,
      wireBytes,
      eld,
      cpuPct,
      cpuUsPerRecord: cpuUs / (records - firstCount),
      gcMajor: b.gc.major - a.gc.major,
      gcPct: gcMs / (b.now - a.now) * 100,
      clientCpuPct
    }
  } finally {
    await user.deleteConsumer(path).catch(() => {})
  }
}

/** The figures of a drain, one series of repetitions each. */
const FIGURES = ['recordsPerSec', 'mbPerSec', 'eldP99', 'cpuPct', 'usPerRecord', 'wireMbPerSec', 'gcMajor', 'gcPct'] as const
type Figure = typeof FIGURES[number]
type Series = Record<Figure, number[]>
const emptySeries = (): Series => Object.fromEntries(FIGURES.map(f => [f, []])) as unknown as Series
/** One repetition's figures; those a side does not have (the baseline's server figures) are NaN. */
function add (x: Series, v: Partial<Record<Figure, number>>): void {
  for (const f of FIGURES) x[f].push(v[f] ?? NaN)
}

export interface FetchRow {
  size: number
  partitions: number
  records: number
  kafkajs: Record<Figure, Spread>
  binary: Record<Figure, Spread> & { ratio: Spread }
  json: Record<Figure, Spread> & { ratio: Spread }
}

const TARGETS: Record<'binary' | 'json', number> = { binary: 0.5, json: 0.4 }

export async function runFetch (ctx: BenchContext): Promise<ScenarioResult> {
  const started = new Date()
  const t0 = performance.now()
  const setup = await setupFetch(ctx)
  const kafka = ctx.kafka('diaspora-bench-baseline')
  const rows: FetchRow[] = []
  for (const t of setup.topics) {
    const s = { kafkajs: emptySeries(), binary: emptySeries(), json: emptySeries() }
    for (let rep = 0; rep < ctx.opts.fetchReps; rep++) {
      // Alternate the order so that neither side always runs first (page cache, broker warmth, noise drift).
      const order: Array<keyof typeof s> = rep % 2 === 0 ? ['kafkajs', 'binary', 'json'] : ['json', 'binary', 'kafkajs']
      for (const which of order) {
        let detail = ''
        if (which === 'kafkajs') {
          const r = await drainWithKafkajs(kafka, t.kafkaTopic, t.count)
          const rates = drainRates(r)
          add(s.kafkajs, {
            recordsPerSec: rates.recordsPerSec,
            mbPerSec: rates.recordsPerSec * t.size / 1e6,
            eldP99: r.eld.p99
          })
        } else {
          const r = await drainProxy(ctx, setup.user, t.topic, which, t.count)
          const rates = drainRates(r)
          add(s[which], {
            recordsPerSec: rates.recordsPerSec,
            mbPerSec: rates.recordsPerSec * t.size / 1e6,
            eldP99: r.eld.p99,
            cpuPct: r.cpuPct,
            usPerRecord: r.cpuUsPerRecord,
            wireMbPerSec: r.wireBytes / rates.seconds / 1e6,
            gcMajor: r.gcMajor,
            gcPct: r.gcPct
          })
          detail = `, server ${r.cpuPct.toFixed(0)} % CPU, ${r.cpuUsPerRecord.toFixed(1)} µs/record, ${r.gcMajor} mark-compacts, GC ${r.gcPct.toFixed(0)} % of the drain, client ${r.clientCpuPct.toFixed(0)} % CPU`
        }
        const last = s[which].recordsPerSec.at(-1) as number
        log(`fetch: ${t.size} B × ${t.partitions}p rep ${rep + 1}/${ctx.opts.fetchReps} ${which}: ${Math.round(last).toLocaleString('en-US')} records/s${detail}`)
      }
    }
    const sum = (x: Series): Record<Figure, Spread> =>
      Object.fromEntries(FIGURES.map(f => [f, spread(x[f])])) as Record<Figure, Spread>
    rows.push({
      size: t.size,
      partitions: t.partitions,
      records: t.count,
      kafkajs: sum(s.kafkajs),
      binary: { ...sum(s.binary), ratio: ratioSpread(s.binary.recordsPerSec, s.kafkajs.recordsPerSec) },
      json: { ...sum(s.json), ratio: ratioSpread(s.json.recordsPerSec, s.kafkajs.recordsPerSec) }
    })
  }

  const targets: Target[] = []
  for (const r of rows) {
    if (r.size !== 1024) continue
    for (const f of ['binary', 'json'] as const) {
      targets.push({
        name: `fetch ${f} 1 KiB, ${r.partitions} partition${r.partitions > 1 ? 's' : ''}: proxy / kafkajs records/s`,
        goal: `≥ ${TARGETS[f]}×`,
        measured: `${fmtSpread(r[f].ratio, 2)}×`,
        pass: r[f].ratio.median >= TARGETS[f]
      })
    }
  }
  const label = (r: FetchRow): string => `${r.size === 1024 ? '1 KiB' : `${r.size} B`} × ${r.partitions}p`
  const rowsOut: string[][] = []
  for (const r of rows) {
    rowsOut.push([label(r), 'kafkajs (baseline)', fmtSpread(r.kafkajs.recordsPerSec), fmtSpread(r.kafkajs.mbPerSec), '1', fmtSpread(r.kafkajs.eldP99, 2), '–', '–', '–', '–'])
    for (const f of ['binary', 'json'] as const) {
      const target = r.size === 1024 ? ` (target ≥ ${TARGETS[f]})` : ''
      rowsOut.push([label(r), `proxy ${f}`, fmtSpread(r[f].recordsPerSec), fmtSpread(r[f].mbPerSec), `${fmtSpread(r[f].ratio, 2)}${target}`, fmtSpread(r[f].eldP99, 2), fmtSpread(r[f].cpuPct, 2), fmtSpread(r[f].usPerRecord, 2), fmtSpread(r[f].gcMajor, 2), fmtSpread(r[f].gcPct, 2)])
    }
  }
  return {
    id: 'fetch',
    title: 'Fetch throughput',
    startedAt: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    settings: {
      records: fetchCounts(ctx.opts.quick),
      reps: ctx.opts.fetchReps,
      maxBytes: MAX_BYTES,
      readTimeoutMs: 1000,
      baseline: 'kafkajs 2.2.4 consumer, library defaults, eachBatch, in the runner process',
      knobs: pickKnobs(ctx.env)
    },
    tables: [{
      title: 'Fetch throughput (records/s and MB/s of values; event-loop delay p99 of the draining process; server CPU, % of one core and µs per record; server garbage collection during the drain: mark-compacts, and main-thread GC time as % of the drain)',
      headers: ['topic', 'consumer', 'records/s', 'MB/s', '× baseline', 'loop delay p99 ms', 'server CPU %', 'server CPU µs/record', 'server mark-compacts', 'server GC %'],
      rows: rowsOut
    }],
    targets,
    data: { rows },
    notes: []
  }
}

export function pickKnobs (env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (k.startsWith('CONSUMER_')) out[k] = v
  return out
}
