/**
 * Scenario 4, request overhead. autocannon (50 connections) against an authenticated
 * `GET …/consumers/{group}/instances/{name}/assignments` (auth hook with a cached token, namespace ownership
 * check, registry lookup, response schema, Confluent content type) and, as the same-run baseline, against the
 * unauthenticated trivial `GET /health` of the same server.
 */
import autocannon from 'autocannon'
import { BenchUser, BINARY, shortName, sleep } from '../lib/http.js'
import { log, type BenchContext } from '../lib/context.js'
import { fmtSpread, ratioSpread, spread, type Spread } from '../lib/stats.js'
import type { LoopDelay, Usage } from '../lib/protocol.js'
import type { ScenarioResult, Target } from '../lib/result.js'

export const CONNECTIONS = 50

export interface OverheadSetup { user: BenchUser, topic: string }

export async function setupOverhead (ctx: BenchContext): Promise<OverheadSetup> {
  const cached = ctx.state.get('overhead') as OverheadSetup | undefined
  if (cached) return cached
  const user = await BenchUser.create(() => ctx.client, ctx.globus)
  const topic = await user.topic(1)
  ctx.cleanup.teardown(() => user.deleteTopic(topic))
  const setup = { user, topic }
  ctx.state.set('overhead', setup)
  return setup
}

/** A subscribed instance that holds its partition; returns its path below /api/v3. */
export async function subscribedInstance (setup: OverheadSetup): Promise<string> {
  const { user } = setup
  const path = await user.consumer(shortName('g'), { 'auto.offset.reset': 'earliest' })
  await user.subscribe(path, [setup.topic])
  for (let i = 0; i < 60; i++) {
    const held = (await user.ok('GET', `${path}/assignments`)).json<{ partitions: unknown[] }>().partitions.length
    if (held > 0) return path
    await user.req('GET', `${path}/records?timeout=300`, undefined, { accept: BINARY })
  }
  throw new Error('the instance never got its partition')
}

export interface LoadRun { rps: number, p50: number, p99: number, bad: number, eldP99: number, cpuPct: number }

/** One autocannon run against `path` of the measured server, with the server's loop delay and CPU. */
export async function load (
  ctx: BenchContext,
  path: string,
  headers: Record<string, string>,
  seconds: number
): Promise<LoadRun> {
  await ctx.server.call({ cmd: 'eld.reset' })
  const u0 = await ctx.server.call<Usage>({ cmd: 'usage' })
  const r = await autocannon({ url: `${ctx.server.url as string}${path}`, connections: CONNECTIONS, duration: seconds, headers })
  const [eld, u1] = await Promise.all([ctx.server.call<LoopDelay>({ cmd: 'eld.read' }), ctx.server.call<Usage>({ cmd: 'usage' })])
  return {
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    bad: r.non2xx + r.errors + r.timeouts,
    eldP99: eld.p99,
    cpuPct: ((u1.cpuUser + u1.cpuSystem - u0.cpuUser - u0.cpuSystem) / 1000) / (u1.now - u0.now) * 100
  }
}

export async function runOverhead (ctx: BenchContext): Promise<ScenarioResult> {
  const started = new Date()
  const t0 = performance.now()
  const setup = await setupOverhead(ctx)
  const path = await subscribedInstance(setup)
  const url = `/api/v3/${path}/assignments`
  const seconds = ctx.opts.quick ? 5 : 8
  const auth = setup.user.auth
  // Warm-up (JIT, connection set-up), not measured.
  await load(ctx, '/health', {}, 2)
  await load(ctx, url, auth, 2)
  const runs: Record<'health' | 'assignments', LoadRun[]> = { health: [], assignments: [] }
  for (let rep = 0; rep < ctx.opts.reps; rep++) {
    const order: Array<'health' | 'assignments'> = rep % 2 === 0 ? ['health', 'assignments'] : ['assignments', 'health']
    for (const which of order) {
      await sleep(500)
      const r = await load(ctx, which === 'health' ? '/health' : url, which === 'health' ? {} : auth, seconds)
      runs[which].push(r)
      log(`overhead: rep ${rep + 1}/${ctx.opts.reps} ${which}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, non-2xx/errors ${r.bad}`)
    }
  }
  await setup.user.deleteConsumer(path)
  const sum = (xs: LoadRun[]): Record<keyof LoadRun, Spread> => ({
    rps: spread(xs.map(x => x.rps)),
    p50: spread(xs.map(x => x.p50)),
    p99: spread(xs.map(x => x.p99)),
    bad: spread(xs.map(x => x.bad)),
    eldP99: spread(xs.map(x => x.eldP99)),
    cpuPct: spread(xs.map(x => x.cpuPct))
  })
  const health = sum(runs.health)
  const assignments = sum(runs.assignments)
  const ratio = ratioSpread(runs.assignments.map(x => x.rps), runs.health.map(x => x.rps))
  const p99Ratio = ratioSpread(runs.assignments.map(x => x.p99), runs.health.map(x => x.p99))
  const targets: Target[] = [
    { name: 'overhead: authenticated GET assignments req/s', goal: '≥ 8,000', measured: fmtSpread(assignments.rps), pass: assignments.rps.median >= 8000 },
    { name: 'overhead: authenticated GET assignments p99 latency (50 connections, saturated)', goal: '≤ 10 ms', measured: fmtSpread(assignments.p99, 3, ' ms'), pass: assignments.p99.median <= 10 },
    { name: 'overhead: assignments / health req/s', goal: '≥ 0.5×', measured: `${fmtSpread(ratio, 2)}×`, pass: ratio.median >= 0.5 }
  ]
  return {
    id: 'overhead',
    title: 'Request overhead',
    startedAt: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    settings: { connections: CONNECTIONS, durationSeconds: seconds, reps: ctx.opts.reps, tool: 'autocannon 8 (programmatic, in the runner process)' },
    tables: [{
      title: `Request overhead (autocannon, ${CONNECTIONS} connections, ${seconds} s per run)`,
      headers: ['route', 'req/s', '× baseline', 'p50 ms', 'p99 ms', 'p99 × baseline', 'non-2xx/errors', 'server loop delay p99 ms', 'server CPU %'],
      rows: [
        ['GET /health (baseline, no auth)', fmtSpread(health.rps), '1', fmtSpread(health.p50), fmtSpread(health.p99), '1', fmtSpread(health.bad), fmtSpread(health.eldP99, 2), fmtSpread(health.cpuPct, 2)],
        ['GET …/assignments (Globus token, cached)', fmtSpread(assignments.rps), fmtSpread(ratio, 2), fmtSpread(assignments.p50), fmtSpread(assignments.p99), fmtSpread(p99Ratio, 2), fmtSpread(assignments.bad), fmtSpread(assignments.eldP99, 2), fmtSpread(assignments.cpuPct, 2)]
      ]
    }],
    targets,
    data: { health, assignments, ratio, p99Ratio },
    notes: []
  }
}
