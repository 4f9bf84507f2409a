/**
 * The profiling pass (`node --cpu-prof`) of scenarios 1, 3, 4 and 6 (produce: a batch run and a streamed one),
 * after the measured passes (profiling slows the process down, so no figure comes from here). Each profile is
 * its own server process; the summary keeps only the samples between two marks taken around the measured work
 * (start-up and set-up excluded).
 */
import { mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { BENCH_DIR } from '../lib/child.js'
import { log, type BenchContext } from '../lib/context.js'
import { summarizeProfile } from '../lib/profile.js'
import type { ProfileSummary, ScenarioId } from '../lib/result.js'
import { drainProxy, setupFetch } from './fetch.js'
import { load, setupOverhead, subscribedInstance } from './overhead.js'
import { awaitStable, createAndSubscribe, population } from './instances.js'
import { sleep } from '../lib/http.js'
import { batchRun, setupProduce, streamRun } from './produce.js'

async function profiled<T> (
  ctx: BenchContext,
  dir: string,
  label: string,
  prepare: () => Promise<T>,
  work: (prepared: T) => Promise<void>
): Promise<ProfileSummary> {
  const out = path.join(dir, label)
  mkdirSync(out, { recursive: true })
  await ctx.restartServer(['--cpu-prof', `--cpu-prof-dir=${out}`])
  const prepared = await prepare()
  const fromUs = await ctx.server.call<number>({ cmd: 'profile.mark', label: 'begin' })
  await work(prepared)
  const toUs = await ctx.server.call<number>({ cmd: 'profile.mark', label: 'end' })
  await ctx.restartServer() // stops the profiled process, which writes its profile
  // One profile per thread: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread
  // (tsx's module loader runs on a thread of its own).
  const files = readdirSync(out).filter(f => f.endsWith('.cpuprofile')).sort()
  const file = files.find(f => /\.0\.\d+\.cpuprofile$/.test(f)) ?? files.at(-1)
  if (!file) throw new Error(`no .cpuprofile in ${out}`)
  const summary = summarizeProfile(path.join(out, file), label, { fromUs, toUs })
  log(`profile ${label}: ${summary.totalMs} ms busy; top: ${summary.top.slice(0, 3).map(t => `${t.fn} ${t.selfPct}%`).join(', ')}`)
  return summary
}

export async function runProfiles (ctx: BenchContext, scenarios: ScenarioId[]): Promise<ProfileSummary[]> {
  const dir = path.join(BENCH_DIR, 'out', 'profiles', new Date().toISOString().replace(/[:.]/g, '-'))
  const out: ProfileSummary[] = []
  if (scenarios.includes('fetch')) {
    const setup = await setupFetch(ctx)
    const t = setup.topics.find(x => x.size === 1024 && x.partitions === 1)
    if (!t) throw new Error('no 1 KiB topic')
    for (const format of ['binary', 'json'] as const) {
      out.push(await profiled(ctx, dir, `fetch-${format}-1KiB`, async () => {}, async () => {
        await drainProxy(ctx, setup.user, t.topic, format, t.count)
      }))
    }
  }
  if (scenarios.includes('overhead')) {
    const setup = await setupOverhead(ctx)
    let instance = ''
    out.push(await profiled(ctx, dir, 'overhead-assignments', async () => {
      instance = await subscribedInstance(setup)
      await load(ctx, `/api/v3/${instance}/assignments`, setup.user.auth, 1) // warm-up
    }, async () => {
      await load(ctx, `/api/v3/${instance}/assignments`, setup.user.auth, 5)
    }))
  }
  if (scenarios.includes('instances')) {
    // Where idle instances spend their CPU (not asked for by the issue, but it is the evidence for that target).
    const n = 200
    out.push(await profiled(ctx, dir, `instances-idle-${n}`, async () => {
      const { members } = await population(ctx, n)
      await createAndSubscribe(members)
      await awaitStable(ctx.server, n, 120_000)
    }, async () => { await sleep(15_000) }))
  }
  if (scenarios.includes('produce')) {
    const p = await setupProduce(ctx)
    for (const kind of ['batch', 'stream'] as const) {
      out.push(await profiled(ctx, dir, `produce-${kind}-1KiB`, async () => {
        p.base = new URL(ctx.server.url as string)
        await batchRun(ctx, p, 5000) // warm-up: producer connected, metadata, JIT
      }, async () => {
        if (kind === 'batch') await batchRun(ctx, p, 100_000)
        else await streamRun(ctx, p, 50_000, 1)
      }))
    }
  }
  return out
}
