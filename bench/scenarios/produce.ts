/**
 * Scenario 6, produce (issue 12). The same 1 KiB records (values of bench/lib/kafka.ts jsonValue, no key, so
 * the partitioner spreads them over the topic's 4 partitions) are written, acks=all, by:
 *
 * - the baseline, a plain kafkajs 2.2.4 producer in a process of its own (bench/baseline-producer.ts): sends of
 *   500 records with 4 sends outstanding, the batching and concurrency of the batch figure;
 * - `POST …/records:batch`, 500 entries per request, 4 keep-alive connections each with one request in flight;
 * - Confluent's streaming mode of `POST …/records`: the records concatenated into one chunked request (and, as a
 *   second figure, 4 such requests at once), the answer's result objects counted as they arrive.
 *
 * Records/s run from the first byte sent to the last acknowledgement (the last answer). The three alternate
 * within each repetition, in an order that changes between repetitions. Then the one-record latency: one
 * `POST …/records` at a time, against a kafkajs send() of one record at a time in the baseline process, in
 * alternating blocks. Last, the server's memory under 100 concurrent producers: 100 connections, each sending
 * one-record requests in a loop for a fixed time, then each sending 100-entry batches in a loop, on a fresh
 * server process; RSS before (after full GCs), sampled every 250 ms during the load (the peak), and after (after
 * full GCs).
 */
import { Child } from '../lib/child.js'
import { BenchUser, sleep } from '../lib/http.js'
import { log, type BenchContext } from '../lib/context.js'
import { batchBody, postStream, recordJson, type StreamResult } from '../lib/produce-http.js'
import { openConnections, rawPost, type RawHttpConnection, type RawResponse } from '../lib/raw-http.js'
import { fmt, fmtSpread, percentile, ratioSpread, spread, type Spread } from '../lib/stats.js'
import type { LoopDelay, Usage } from '../lib/protocol.js'
import type { ScenarioResult, Target } from '../lib/result.js'
import type { BaselineProducerRun, BaselineThroughput } from '../baseline-producer.js'
import { NODE_FLAGS } from '../../node-flags.js'

const SIZE = 1024
const PARTITIONS = 4
const BATCH = 500
const BATCH_CONNECTIONS = 4
/** Records per chunk written into a streamed request (about 44 KiB). */
const PER_CHUNK = 32
const STREAMS = [1, 4] as const
const PRODUCERS = 100
/** Entries per request in the second half of the 100-producer load. */
const CROWD_BATCH = 100
const MiB = 1048576
/**
 * The bound on the server's RSS under the 100-producer loads. The server idles at roughly 150–200 MiB (V8 heap
 * flags of node-flags.ts: 32 MiB semi-spaces, 128 MiB initial old space), and 100 producers have at most 100
 * requests in flight (100 × 140 KiB of bodies for the batch load), so anything near the bound means memory
 * that grows with the load's length or its concurrency rather than with what is in flight.
 */
const RSS_PEAK_BOUND_MIB = 512
const TARGETS = { batch: 0.8, stream: 0.9, p50: 3, p99: 15 }

export function produceSizes (
  quick: boolean
): { records: number, blocks: number, perBlock: number, crowdSeconds: number } {
  // Full size: runs of about 2 s for the baseline, longer for the HTTP sides.
  return quick
    ? { records: 40_000, blocks: 2, perBlock: 250, crowdSeconds: 5 }
    : { records: 200_000, blocks: 5, perBlock: 400, crowdSeconds: 15 }
}

type Side = 'kafkajs' | 'batch' | 'stream1' | 'stream4'
const SIDES: Side[] = ['kafkajs', 'batch', 'stream1', 'stream4']
const LABEL: Record<Side, string> = {
  kafkajs: `kafkajs producer (baseline): sends of ${BATCH}, ${BATCH_CONNECTIONS} in flight`,
  batch: `POST records:batch, ${BATCH} per request, ${BATCH_CONNECTIONS} connections`,
  stream1: 'POST records streaming, 1 chunked request',
  stream4: 'POST records streaming, 4 chunked requests at once'
}

/** One throughput run of one side. */
interface Run {
  records: number
  ms: number
  /** CPU of the producing process (the server, or the baseline's process), µs, and its event-loop delay. */
  cpuUs: number
  eld: LoopDelay
  /** The runner's own CPU during the run (the HTTP client), µs; NaN for the baseline. */
  clientCpuUs: number
  failures: number
  refused: number
}

export interface Prepared {
  user: BenchUser
  topic: string
  base: URL
  /** Distinct batch bodies, used round-robin; and streamed chunks, likewise. */
  batches: Buffer[]
  chunks: Buffer[]
  singles: Buffer[]
  path: string
}

const usage = (ctx: BenchContext, gc = false): Promise<Usage> => ctx.server.call<Usage>({ cmd: 'usage', gc })
const cpuOf = (a: Usage, b: Usage): number => b.cpuUser + b.cpuSystem - a.cpuUser - a.cpuSystem
const clientCpu = (c0: NodeJS.CpuUsage): number => { const c = process.cpuUsage(c0); return c.user + c.system }

async function withDeadline<T> (what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<T>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no end after ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** 429 answers are admission control (nothing written): wait as told (at most 1 s) and send again. */
function retryAfterMs (res: RawResponse): number {
  const s = Number(res.retryAfter)
  return Number.isFinite(s) && s > 0 ? Math.min(1000, s * 1000) : 50
}

const text = (res: RawResponse): string => res.body.toString('utf8').slice(0, 300)

/** The ready-made requests of `bodies` to `path` (made before any clock starts). */
const requestsOf = (p: Prepared, path: string, bodies: Buffer[]): Buffer[] =>
  bodies.map(b => rawPost(p.base, path, p.user.auth, b))

export async function batchRun (ctx: BenchContext, p: Prepared, records: number): Promise<Run> {
  const requests = Math.ceil(records / BATCH)
  const reqs = requestsOf(p, `${p.path}:batch`, p.batches)
  const conns = await openConnections(p.base, BATCH_CONNECTIONS)
  let next = 0
  let ok = 0
  let failures = 0
  let refused = 0
  const firstFailures: string[] = []
  await ctx.server.call({ cmd: 'eld.reset' })
  const u0 = await usage(ctx)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const worker = async (conn: RawHttpConnection): Promise<void> => {
    while (next < requests) {
      const req = reqs[next++ % reqs.length] as Buffer
      for (;;) {
        const res = await conn.request(req)
        if (res.status === 429) {
          if (++refused > 20 * requests) throw new Error(`POST records:batch: ${refused} answers 429 for ${requests} requests`)
          await sleep(retryAfterMs(res))
          continue
        }
        if (res.status !== 207) throw new Error(`POST records:batch: ${res.status} ${text(res)}`)
        const r = JSON.parse(res.body.toString('utf8')) as { successes: unknown[], failures: unknown[] }
        ok += r.successes.length
        failures += r.failures.length
        if (r.failures.length > 0 && firstFailures.length < 3) firstFailures.push(JSON.stringify(r.failures[0]))
        break
      }
    }
  }
  try {
    await withDeadline('batch produce', 300_000, Promise.all(conns.map(worker)))
  } finally {
    for (const c of conns) c.close()
  }
  const ms = performance.now() - t0
  const clientCpuUs = clientCpu(c0)
  const [u1, eld] = await Promise.all([usage(ctx), ctx.server.call<LoopDelay>({ cmd: 'eld.read' })])
  if (failures > 0) log(`produce: ${failures} batch entries failed, e.g. ${firstFailures.join('; ')}`)
  return { records: ok, ms, cpuUs: cpuOf(u0, u1), eld, clientCpuUs, failures, refused }
}

export async function streamRun (ctx: BenchContext, p: Prepared, records: number, streams: number): Promise<Run> {
  const chunksPerStream = Math.max(1, Math.round(records / streams / PER_CHUNK))
  const chunksOf = function * (s: number): Generator<Buffer> {
    for (let k = 0; k < chunksPerStream; k++) yield p.chunks[(s * 7 + k) % p.chunks.length] as Buffer
  }
  await ctx.server.call({ cmd: 'eld.reset' })
  const u0 = await usage(ctx)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const results: StreamResult[] = await withDeadline('streamed produce', 300_000,
    Promise.all(Array.from({ length: streams }, (_, s) => postStream(p.base, p.path, p.user.auth, chunksOf(s)))))
  const ms = Math.max(...results.map(r => r.endedAt)) - t0
  const clientCpuUs = clientCpu(c0)
  const [u1, eld] = await Promise.all([usage(ctx), ctx.server.call<LoopDelay>({ cmd: 'eld.read' })])
  for (const r of results) {
    if (r.status !== 200) throw new Error(`streamed POST records: ${r.status} ${r.failed.join(' ')}`)
    const expected = chunksPerStream * PER_CHUNK
    if (r.successes + r.failures !== expected) log(`produce: warning: a stream got ${r.successes + r.failures} results for ${expected} records (${r.failed.join('; ')})`)
    if (r.failures > 0) log(`produce: ${r.failures} streamed records failed, e.g. ${r.failed.join('; ')}`)
  }
  const sum = (f: (r: StreamResult) => number): number => results.reduce((n, r) => n + f(r), 0)
  return {
    records: sum(r => r.successes),
    ms,
    cpuUs: cpuOf(u0, u1),
    eld,
    clientCpuUs,
    failures: sum(r => r.failures),
    refused: 0
  }
}

async function baselineRun (base: Child, topic: string, records: number): Promise<Run> {
  const spec: BaselineProducerRun = { kind: 'throughput', topic, records, size: SIZE, perSend: BATCH, inFlight: BATCH_CONNECTIONS }
  const r = await base.call<BaselineThroughput>({ cmd: 'run', spec })
  return { records: r.records, ms: r.ms, cpuUs: r.cpuUs, eld: r.eld, clientCpuUs: NaN, failures: 0, refused: 0 }
}

/** One-record requests, one at a time: ms from before the request to the last byte of its answer. */
async function latencyBlock (p: Prepared, n: number): Promise<number[]> {
  const reqs = requestsOf(p, p.path, p.singles)
  const [conn] = await openConnections(p.base, 1) as [RawHttpConnection]
  const out: number[] = []
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      const res = await conn.request(reqs[i % reqs.length] as Buffer)
      if (res.status !== 200) throw new Error(`POST records: ${res.status} ${text(res)}`)
      out.push(res.at - t0)
    }
  } finally {
    conn.close()
  }
  return out
}

interface CrowdRun {
  kind: 'one record' | `${number} records`
  seconds: number
  records: number
  requests: number
  p50: number
  p99: number
  refused: number
  errors: number
  rssBefore: number
  rssPeak: number
  /** The largest sample in the first and in the second half of the load (a bounded RSS stops growing). */
  rssPeakFirstHalf: number
  rssPeakSecondHalf: number
  rssAfter: number
  heapPeak: number
  cpuPct: number
  clientCpuPct: number
}

/** PRODUCERS connections, each sending requests of `perRequest` records in a loop for `seconds`. */
async function crowd (ctx: BenchContext, p: Prepared, seconds: number, perRequest: number): Promise<CrowdRun> {
  const bodies = perRequest === 1
    ? p.singles
    : Array.from({ length: 8 }, (_, i) => batchBody(i * perRequest, perRequest, SIZE))
  const reqs = requestsOf(p, perRequest === 1 ? p.path : `${p.path}:batch`, bodies)
  const ok = perRequest === 1 ? 200 : 207
  const conns = await openConnections(p.base, PRODUCERS)
  const before = await usage(ctx, true)
  const samples: Array<{ at: number, rss: number, heap: number }> = []
  const sampling = { on: true }
  const sampler = (async () => {
    while (sampling.on) {
      const u = await usage(ctx)
      samples.push({ at: performance.now(), rss: u.rss, heap: u.heapUsed })
      await sleep(250)
    }
  })()
  const lat: number[] = []
  let records = 0
  let requests = 0
  let refused = 0
  let errors = 0
  let lastError = ''
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  const worker = async (conn: RawHttpConnection, w: number): Promise<void> => {
    for (let i = w; performance.now() < end; i += PRODUCERS) {
      const s = performance.now()
      try {
        const res = await conn.request(reqs[i % reqs.length] as Buffer)
        requests++
        if (res.status === ok) {
          lat.push(res.at - s)
          records += perRequest === 1 ? 1 : (JSON.parse(res.body.toString('utf8')) as { successes: unknown[] }).successes.length
        } else if (res.status === 429) {
          refused++
          await sleep(retryAfterMs(res))
        } else {
          errors++
          lastError = `${res.status} ${text(res)}`
        }
      } catch (err) {
        // The connection is gone (the server closed it): count it and stop this producer.
        errors++
        lastError = (err as Error).message
        return
      }
    }
  }
  await Promise.all(conns.map(worker))
  const wall = performance.now() - t0
  const clientCpuUs = clientCpu(c0)
  const loaded = await usage(ctx)
  sampling.on = false
  await sampler
  for (const c of conns) c.close()
  await sleep(1000)
  const after = await usage(ctx, true)
  if (errors > 0) log(`produce: ${errors} failed requests under ${PRODUCERS} producers, last: ${lastError}`)
  const during = samples.filter(x => x.at <= t0 + wall + 250)
  const half = t0 + wall / 2
  const maxOf = (xs: typeof samples): number => xs.reduce((m, x) => Math.max(m, x.rss), 0)
  return {
    kind: perRequest === 1 ? 'one record' : `${perRequest} records`,
    seconds: wall / 1000,
    records,
    requests,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    refused,
    errors,
    rssBefore: before.rss,
    rssPeak: Math.max(maxOf(during), before.rss),
    rssPeakFirstHalf: maxOf(during.filter(x => x.at < half)),
    rssPeakSecondHalf: maxOf(during.filter(x => x.at >= half)),
    rssAfter: after.rss,
    heapPeak: during.reduce((m, x) => Math.max(m, x.heap), 0),
    cpuPct: cpuOf(before, loaded) / 1000 / (loaded.now - before.now) * 100,
    clientCpuPct: clientCpuUs / 1000 / wall * 100
  }
}

/** The user, topic and ready-made bodies, made once per run (the profiling pass reuses them). */
export async function setupProduce (ctx: BenchContext): Promise<Prepared> {
  const cached = ctx.state.get('produce') as Prepared | undefined
  if (cached) {
    cached.base = new URL(ctx.server.url as string) // the server may have been restarted meanwhile
    return cached
  }
  const user = await BenchUser.create(() => ctx.client, ctx.globus)
  const topic = await user.topic(PARTITIONS)
  ctx.cleanup.teardown(() => user.deleteTopic(topic))
  const recordsJson = Array.from({ length: 1000 }, (_, i) => recordJson(i, SIZE))
  const p: Prepared = {
    user,
    topic,
    base: new URL(ctx.server.url as string),
    path: `/api/v3/${user.ns}/topics/${topic}/records`,
    batches: Array.from({ length: 8 }, (_, i) => batchBody(i * BATCH, BATCH, SIZE)),
    chunks: Array.from({ length: 31 }, (_, c) => Buffer.from(Array.from({ length: PER_CHUNK }, (_, j) => recordsJson[(c * PER_CHUNK + j) % recordsJson.length]).join(''))),
    singles: recordsJson.slice(0, 200).map(s => Buffer.from(s))
  }
  ctx.state.set('produce', p)
  return p
}

export async function runProduce (ctx: BenchContext): Promise<ScenarioResult> {
  const started = new Date()
  const t0 = performance.now()
  const sizes = produceSizes(ctx.opts.quick)
  const p = await setupProduce(ctx)
  const { user, base, path } = p
  const kafkaTopic = user.kafkaTopic(p.topic)

  const baseline = await Child.start({ script: 'baseline-producer.ts', nodeArgs: [...NODE_FLAGS] })
  ctx.cleanup.teardown(() => baseline.stop())
  await baseline.call({ cmd: 'start', spec: { brokers: ctx.opts.brokers } })

  // Is the route there at all? A clear message instead of a failed run when the service has no produce routes.
  const [probe] = await openConnections(base, 1) as [RawHttpConnection]
  const answer = await probe.request(rawPost(base, path, user.auth, p.singles[0] as Buffer))
    .finally(() => probe.close())
  if (answer.status !== 200) throw new Error(`POST ${path} answered ${answer.status} ${text(answer)}: the produce routes of issue 12 are needed`)

  // Warm-up (JIT, connections, the producers' metadata), not measured.
  const warm = Math.min(20_000, sizes.records / 4)
  await baselineRun(baseline, kafkaTopic, warm)
  await batchRun(ctx, p, warm)
  await streamRun(ctx, p, warm / 2, 1)

  const runs: Record<Side, Run[]> = { kafkajs: [], batch: [], stream1: [], stream4: [] }
  for (let rep = 0; rep < ctx.opts.reps; rep++) {
    const order = rep % 2 === 0 ? SIDES : [...SIDES].reverse()
    for (const side of order) {
      await sleep(300)
      const r = side === 'kafkajs'
        ? await baselineRun(baseline, kafkaTopic, sizes.records)
        : side === 'batch'
          ? await batchRun(ctx, p, sizes.records)
          : await streamRun(ctx, p, sizes.records, side === 'stream1' ? 1 : 4)
      runs[side].push(r)
      const rate = r.records / r.ms * 1000
      log(`produce: rep ${rep + 1}/${ctx.opts.reps} ${side}: ${Math.round(rate).toLocaleString('en-US')} records/s, ${side === 'kafkajs' ? 'baseline process' : 'server'} ${(r.cpuUs / 10 / r.ms).toFixed(0)} % CPU, ${(r.cpuUs / r.records).toFixed(1)} µs/record${Number.isFinite(r.clientCpuUs) ? `, runner ${(r.clientCpuUs / 10 / r.ms).toFixed(0)} % CPU` : ''}${r.failures > 0 ? `, ${r.failures} failed` : ''}${r.refused > 0 ? `, ${r.refused} × 429` : ''}`)
    }
  }

  // One-record latency, alternating blocks with the baseline's one-record sends.
  await latencyBlock(p, 200)
  await baseline.call({ cmd: 'run', spec: { kind: 'latency', topic: kafkaTopic, n: 200, size: SIZE } satisfies BaselineProducerRun })
  const lat: Record<'kafkajs' | 'http', number[]> = { kafkajs: [], http: [] }
  const perBlock: Record<'kafkajs' | 'http', { p50: number[], p99: number[] }> = { kafkajs: { p50: [], p99: [] }, http: { p50: [], p99: [] } }
  for (let b = 0; b < sizes.blocks; b++) {
    const order: Array<'kafkajs' | 'http'> = b % 2 === 0 ? ['kafkajs', 'http'] : ['http', 'kafkajs']
    for (const which of order) {
      const xs = which === 'http'
        ? await latencyBlock(p, sizes.perBlock)
        : await baseline.call<number[]>({ cmd: 'run', spec: { kind: 'latency', topic: kafkaTopic, n: sizes.perBlock, size: SIZE } satisfies BaselineProducerRun })
      lat[which].push(...xs)
      perBlock[which].p50.push(percentile(xs, 50))
      perBlock[which].p99.push(percentile(xs, 99))
      log(`produce: latency block ${b + 1}/${sizes.blocks} ${which}: p50 ${fmt(percentile(xs, 50))} ms, p99 ${fmt(percentile(xs, 99))} ms`)
    }
  }
  await baseline.stop()

  // Memory under 100 concurrent producers, on a fresh server process (the throughput passes leave the heap grown
  // to their own high-water mark), warmed up by a few sequential requests of each kind (producer connected, JIT).
  await ctx.restartServer()
  p.base = new URL(ctx.server.url as string)
  await latencyBlock(p, 200)
  const [warm1] = await openConnections(p.base, 1) as [RawHttpConnection]
  for (let i = 0; i < 5; i++) {
    const res = await warm1.request(rawPost(p.base, `${p.path}:batch`, user.auth, batchBody(0, CROWD_BATCH, SIZE)))
    if (res.status !== 207) throw new Error(`POST records:batch: ${res.status} ${text(res)}`)
  }
  warm1.close()
  const crowds: CrowdRun[] = []
  for (const perRequest of [1, CROWD_BATCH]) {
    await sleep(500)
    const c = await crowd(ctx, p, sizes.crowdSeconds, perRequest)
    crowds.push(c)
    log(`produce: ${PRODUCERS} producers, ${c.kind} per request, ${c.seconds.toFixed(0)} s: ${Math.round(c.records / c.seconds).toLocaleString('en-US')} records/s, p99 ${fmt(c.p99)} ms, RSS ${fmt(c.rssBefore / MiB)} → peak ${fmt(c.rssPeak / MiB)} → after ${fmt(c.rssAfter / MiB)} MiB, ${c.refused} × 429, ${c.errors} errors, runner ${c.clientCpuPct.toFixed(0)} % CPU`)
  }

  // ---- summary ------------------------------------------------------------------------------------------
  const rate = (r: Run): number => r.records / r.ms * 1000
  type Summary = {
    recordsPerSec: Spread
    cpuPct: Spread
    usPerRecord: Spread
    eldP99: Spread
    clientCpuPct: Spread
    failures: number
    refused: number
    ratio: Spread
  }
  const sum = (side: Side): Summary => {
    const rs = runs[side]
    return {
      recordsPerSec: spread(rs.map(rate)),
      cpuPct: spread(rs.map(r => r.cpuUs / 10 / r.ms)),
      usPerRecord: spread(rs.map(r => r.cpuUs / r.records)),
      eldP99: spread(rs.map(r => r.eld.p99)),
      clientCpuPct: spread(rs.map(r => r.clientCpuUs / 10 / r.ms)),
      failures: rs.reduce((n, r) => n + r.failures, 0),
      refused: rs.reduce((n, r) => n + r.refused, 0),
      ratio: ratioSpread(rs.map(rate), runs.kafkajs.map(rate))
    }
  }
  const s = Object.fromEntries(SIDES.map(side => [side, sum(side)])) as Record<Side, Summary>
  const latFig = (w: 'kafkajs' | 'http'): { p50: number, p99: number, max: number, n: number, blockP50: Spread, blockP99: Spread } => ({
    p50: percentile(lat[w], 50),
    p99: percentile(lat[w], 99),
    max: Math.max(...lat[w]),
    n: lat[w].length,
    blockP50: spread(perBlock[w].p50),
    blockP99: spread(perBlock[w].p99)
  })
  const latency = { http: latFig('http'), kafkajs: latFig('kafkajs') }
  const withBlocks = (v: number, sp: Spread): string => `${fmt(v)} (blocks ${fmt(sp.min)}–${fmt(sp.max)})`
  const rssPeak = Math.max(...crowds.map(c => c.rssPeak))
  const mib = (v: number): string => `${fmt(v / MiB)} MiB`

  const targets: Target[] = [
    { name: `produce: records:batch (${BATCH} per request, ${BATCH_CONNECTIONS} connections) / kafkajs records/s`, goal: `≥ ${TARGETS.batch}×`, measured: `${fmtSpread(s.batch.ratio, 2)}×`, pass: s.batch.ratio.median >= TARGETS.batch },
    { name: 'produce: streaming (1 chunked request) / kafkajs records/s', goal: `≥ ${TARGETS.stream}×`, measured: `${fmtSpread(s.stream1.ratio, 2)}×`, pass: s.stream1.ratio.median >= TARGETS.stream },
    { name: 'produce: one-record POST records p50 (one in flight)', goal: `≤ ${TARGETS.p50} ms`, measured: `${withBlocks(latency.http.p50, latency.http.blockP50)} ms`, pass: latency.http.p50 <= TARGETS.p50 },
    { name: 'produce: one-record POST records p99 (one in flight)', goal: `≤ ${TARGETS.p99} ms`, measured: `${withBlocks(latency.http.p99, latency.http.blockP99)} ms`, pass: latency.http.p99 <= TARGETS.p99 },
    {
      name: `produce: server RSS peak with ${PRODUCERS} concurrent producers (one-record, then ${CROWD_BATCH}-record requests)`,
      goal: `≤ ${RSS_PEAK_BOUND_MIB} MiB`,
      measured: `${mib(rssPeak)} (before ${mib(crowds[0]?.rssBefore ?? NaN)}, after ${mib(crowds.at(-1)?.rssAfter ?? NaN)})`,
      pass: rssPeak <= RSS_PEAK_BOUND_MIB * MiB
    }
  ]
  const throughputRows = SIDES.map(side => {
    const x = s[side]
    const target = side === 'batch' ? ` (target ≥ ${TARGETS.batch})` : side === 'stream1' ? ` (target ≥ ${TARGETS.stream})` : ''
    return [
      LABEL[side],
      fmtSpread(x.recordsPerSec),
      fmtSpread(spread(x.recordsPerSec.runs.map(v => v * SIZE / 1e6))),
      side === 'kafkajs' ? '1' : `${fmtSpread(x.ratio, 2)}${target}`,
      fmtSpread(x.cpuPct, 2),
      fmtSpread(x.usPerRecord, 2),
      fmtSpread(x.eldP99, 2),
      side === 'kafkajs' ? '–' : fmtSpread(x.clientCpuPct, 2),
      side === 'kafkajs' ? '–' : `${x.failures} / ${x.refused}`
    ]
  })
  return {
    id: 'produce',
    title: 'Produce',
    startedAt: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    settings: {
      records: sizes.records,
      valueBytes: SIZE,
      partitions: PARTITIONS,
      reps: ctx.opts.reps,
      key: 'none (spread by the partitioner)',
      httpValue: 'BINARY (base64 of the same bytes)',
      acks: 'all (-1)',
      batch: { entries: BATCH, connections: BATCH_CONNECTIONS },
      streaming: { recordsPerChunk: PER_CHUNK, requests: STREAMS },
      latency: { blocks: sizes.blocks, perBlock: sizes.perBlock },
      crowd: { producers: PRODUCERS, seconds: sizes.crowdSeconds, perRequest: [1, CROWD_BATCH] },
      baseline: `kafkajs 2.2.4 producer, library defaults, acks=-1, sends of ${BATCH} records with ${BATCH_CONNECTIONS} outstanding (one record per send for the latency), own process`,
      client: 'bench/lib/raw-http.ts (HTTP/1.1 keep-alive, one request in flight per connection) for POSTs, node:http for streamed requests; in the runner process, bodies made before the clock starts'
    },
    tables: [
      {
        title: `Produce throughput, 1 KiB records, acks=all, ${PARTITIONS}-partition topic (records/s and MB/s of values; CPU of the producing process: the server, or the baseline's own process, % of one core and µs per record; its event-loop delay p99; the runner's CPU as the HTTP client)`,
        headers: ['producer', 'records/s', 'MB/s', '× baseline', 'producer CPU %', 'CPU µs/record', 'loop delay p99 ms', 'runner CPU %', 'failed / 429'],
        rows: throughputRows
      },
      {
        title: `One-record produce latency, one in flight (${latency.http.n} records per side, ${sizes.blocks} alternating blocks; ms, request → last byte of the answer, or send() → acknowledgement)`,
        headers: ['producer', 'p50', 'p99', 'max', 'p50 × baseline', 'p99 × baseline'],
        rows: [
          ['kafkajs send() of one record, acks=-1 (baseline)', withBlocks(latency.kafkajs.p50, latency.kafkajs.blockP50), withBlocks(latency.kafkajs.p99, latency.kafkajs.blockP99), fmt(latency.kafkajs.max), '1', '1'],
          ['POST records, one record', withBlocks(latency.http.p50, latency.http.blockP50), withBlocks(latency.http.p99, latency.http.blockP99), fmt(latency.http.max), fmt(latency.http.p50 / latency.kafkajs.p50, 2), fmt(latency.http.p99 / latency.kafkajs.p99, 2)]
        ]
      },
      {
        title: `Server memory with ${PRODUCERS} concurrent producers (${PRODUCERS} keep-alive connections, each sending requests in a loop for ${sizes.crowdSeconds} s; RSS before and after after full GCs, peak sampled every 250 ms)`,
        headers: ['records per request', 'records/s', 'request p50 ms', 'request p99 ms', '429 / errors', 'RSS before', 'RSS peak (1st half / 2nd half)', 'heap peak', 'RSS after', 'server CPU %', 'server CPU µs/record', 'runner CPU %'],
        rows: crowds.map(c => [
          c.kind,
          fmt(c.records / c.seconds),
          fmt(c.p50),
          fmt(c.p99),
          `${c.refused} / ${c.errors}`,
          mib(c.rssBefore),
          `${mib(c.rssPeak)} (${fmt(c.rssPeakFirstHalf / MiB)} / ${fmt(c.rssPeakSecondHalf / MiB)})`,
          mib(c.heapPeak),
          mib(c.rssAfter),
          fmt(c.cpuPct, 2),
          fmt(c.cpuPct * 10_000 / (c.records / c.seconds), 2),
          fmt(c.clientCpuPct, 2)
        ])
      }
    ],
    targets,
    data: { throughput: s, latency, crowds, rssBoundMiB: RSS_PEAK_BOUND_MIB },
    notes: []
  }
}
