/**
 * Scenario 3, many instances. N consumer instances (N/10 groups × 10, spread over N/100 users because of the
 * per-subject quota) are created and subscribed over HTTP (measured idle once: no consumer runs before the first
 * read), then read once each so that every consumer joins, each group on a topic with 10 partitions so every
 * instance holds one; once the groups are stable they idle for a while; then they are deleted.
 *
 * Measured in the server process: creation and subscription rates, time until the groups are stable, RSS
 * (after full GCs) per idle instance over the empty server, process CPU while idle, and the Kafka requests
 * the instances send while idle, counted from kafkajs' instrumentation event consumer.network.request (every
 * request a consumer's connections send; the broker's own request metrics would need JMX, which we do not
 * run). Broker CPU (the JVM's utime+stime from /proc) is shown too, but it includes other users of the
 * shared broker.
 *
 * Baseline: the same number of plain kafkajs consumers, same layout and settings, in a process of their own
 * (bench/baseline-consumers.ts).
 */
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { brokerStatus } from '../../scripts/broker.js'
import { loadConfig } from '../../plugins/config/config.js'
import { BenchUser, pool, sleep } from '../lib/http.js'
import { Child } from '../lib/child.js'
import { log, type BenchContext } from '../lib/context.js'
import { fmt } from '../lib/stats.js'
import type { LoopDelay, PhaseCounts, Usage } from '../lib/protocol.js'
import type { ScenarioResult, Target } from '../lib/result.js'
import type { BaselineSpec } from '../baseline-consumers.js'
import { pickKnobs } from './fetch.js'

const PER_GROUP = 10
const PARTITIONS = 10
const CONCURRENCY = 20
const MiB = 1048576

interface Measured { call<T> (body: Parameters<Child['call']>[0]): Promise<T> }

/** utime + stime of a process in seconds (Linux /proc; NaN elsewhere). */
function procCpuSeconds (pid: number | undefined): number {
  if (pid === undefined) return NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // CLK_TCK is 100 on Linux
  } catch {
    return NaN
  }
}

interface IdleWindow {
  seconds: number
  cpuPct: number
  brokerCpuPct: number
  requestsPerSec: number
  byApi: Record<string, number>
  eld: LoopDelay
}

/** Measure one idle window of a measured process. */
async function idleWindow (m: Measured, seconds: number, brokerPid: number | undefined): Promise<IdleWindow> {
  await m.call({ cmd: 'eld.reset' })
  const c0 = await m.call<Record<string, number>>({ cmd: 'kafka.counts' })
  const u0 = await m.call<Usage>({ cmd: 'usage' })
  const b0 = procCpuSeconds(brokerPid)
  const w0 = performance.now()
  await sleep(seconds * 1000)
  const u1 = await m.call<Usage>({ cmd: 'usage' })
  const b1 = procCpuSeconds(brokerPid)
  const w1 = performance.now()
  const c1 = await m.call<Record<string, number>>({ cmd: 'kafka.counts' })
  const eld = await m.call<LoopDelay>({ cmd: 'eld.read' })
  const wall = (u1.now - u0.now) / 1000
  const byApi: Record<string, number> = {}
  let total = 0
  for (const [k, v] of Object.entries(c1)) {
    const d = v - (c0[k] ?? 0)
    if (d > 0) { byApi[k] = d / wall; total += d }
  }
  return {
    seconds: wall,
    cpuPct: ((u1.cpuUser + u1.cpuSystem - u0.cpuUser - u0.cpuSystem) / 1e6) / wall * 100,
    brokerCpuPct: (b1 - b0) / ((w1 - w0) / 1000) * 100,
    requestsPerSec: total / wall,
    byApi,
    eld
  }
}

/** Wait until every member is joined, holds its partition, and no JoinGroup was sent for `quietMs`. */
export async function awaitStable (
  m: Measured,
  n: number,
  timeoutMs: number,
  quietMs = 5000
): Promise<{ ms: number, stable: boolean, phases: PhaseCounts }> {
  const t0 = performance.now()
  let lastJoins = -1
  let quietSince = performance.now()
  let phases: PhaseCounts = { instances: 0, byPhase: {}, partitions: 0, started: 0, parked: 0 }
  while (performance.now() - t0 < timeoutMs) {
    phases = await m.call<PhaseCounts>({ cmd: 'phases' })
    const counts = await m.call<Record<string, number>>({ cmd: 'kafka.counts' })
    const joins = (counts.JoinGroup ?? 0) + (counts.SyncGroup ?? 0)
    if (joins !== lastJoins) { lastJoins = joins; quietSince = performance.now() }
    const settled = (phases.byPhase.joined ?? 0) === n && phases.partitions === n
    if (settled && performance.now() - quietSince >= quietMs) {
      return { ms: performance.now() - t0 - quietMs, stable: true, phases }
    }
    await sleep(500)
  }
  return { ms: performance.now() - t0, stable: false, phases }
}

export interface Member { user: BenchUser, topic: string, group: string, path?: string }

/** Users (each with a 10-partition topic) and the group of each of the n future instances. */
export async function population (
  ctx: BenchContext,
  n: number,
  groupsPerSubject = 10
): Promise<{ members: Member[], run: string }> {
  const subjects = Math.ceil(n / (groupsPerSubject * PER_GROUP))
  const users: Array<{ user: BenchUser, topic: string }> = []
  for (let i = 0; i < subjects; i++) {
    const user = await BenchUser.create(() => ctx.client, ctx.globus)
    const topic = await user.topic(PARTITIONS)
    ctx.cleanup.teardown(() => user.deleteTopic(topic))
    users.push({ user, topic })
  }
  const run = randomBytes(3).toString('hex')
  const members: Member[] = []
  for (let i = 0; i < n; i++) {
    const g = Math.floor(i / PER_GROUP)
    const u = users[Math.floor(g / groupsPerSubject)] as { user: BenchUser, topic: string }
    members.push({ ...u, group: `many-${run}-${g}` })
  }
  return { members, run }
}

/**
 * Create and subscribe every member's instance, then read once from each so that its consumer starts and joins
 * (a subscription starts at its first read); 20 requests in flight. Returns the seconds of each step.
 */
export async function createAndSubscribe (
  members: Member[]
): Promise<{ createSec: number, subscribeSec: number, firstReadSec: number }> {
  let c0 = performance.now()
  await pool(members, CONCURRENCY, async m => { m.path = await m.user.consumer(m.group) })
  const createSec = (performance.now() - c0) / 1000
  c0 = performance.now()
  await pool(members, CONCURRENCY, async m => { await m.user.subscribe(m.path as string, [m.topic]) })
  const subscribeSec = (performance.now() - c0) / 1000
  c0 = performance.now()
  await pool(members, CONCURRENCY, async m => { await m.user.read(m.path as string) })
  return { createSec, subscribeSec, firstReadSec: (performance.now() - c0) / 1000 }
}

export async function runInstances (ctx: BenchContext): Promise<ScenarioResult> {
  const started = new Date()
  const t0 = performance.now()
  const n = ctx.opts.instances ?? (ctx.opts.quick ? 200 : 1000)
  const idle = ctx.opts.idleSeconds ?? (ctx.opts.quick ? 20 : 60)
  const config = loadConfig(ctx.env)
  const perSubject = Math.min(config.CONSUMER_MAX_INSTANCES_PER_SUBJECT, 100)
  const groupsPerSubject = Math.floor(perSubject / PER_GROUP)
  const subjects = Math.ceil(n / (groupsPerSubject * PER_GROUP))
  const brokerPid = (await brokerStatus().catch(() => undefined))?.pid

  const { members, run } = await population(ctx, n, groupsPerSubject)
  const groups = Math.ceil(n / PER_GROUP)
  // A fresh server process: earlier scenarios leave freed memory in RSS that would blur the per-instance figure.
  await ctx.restartServer()
  const server = ctx.server

  // 0. The empty server, idle: the baseline of memory and CPU.
  const empty = await server.call<Usage>({ cmd: 'usage', gc: true })
  const emptyIdle = await idleWindow(server, ctx.opts.quick ? 5 : 10, brokerPid)
  log(`instances: empty server idle: CPU ${fmt(emptyIdle.cpuPct)} %, RSS ${fmt(empty.rss / MiB)} MiB`)

  // 1. Create, then subscribe.
  let c0 = performance.now()
  await pool(members, CONCURRENCY, async m => { m.path = await m.user.consumer(m.group) })
  const createSec = (performance.now() - c0) / 1000
  const afterCreate = await server.call<Usage>({ cmd: 'usage', gc: true })
  c0 = performance.now()
  await pool(members, CONCURRENCY, async m => { await m.user.subscribe(m.path as string, [m.topic]) })
  const subscribeSec = (performance.now() - c0) / 1000
  log(`instances: created ${n} in ${fmt(createSec)} s, subscribed in ${fmt(subscribeSec)} s`)

  // 2. Subscribed, never read: no consumer runs yet (it starts at the first read, as Java's at the first poll).
  const lazyIdle = await idleWindow(server, ctx.opts.quick ? 5 : 10, brokerPid)
  const afterSubscribe = await server.call<Usage>({ cmd: 'usage', gc: true })
  const lazyPhases = await server.call<PhaseCounts>({ cmd: 'phases' })
  log(`instances: subscribed, never read: CPU ${fmt(lazyIdle.cpuPct)} %, ${lazyPhases.started} consumers started`)

  // 3. One read each (timeout 0): every consumer starts (the read answers at its deadline, the start goes on) and
  //    joins its group; then until the groups are stable.
  c0 = performance.now()
  await pool(members, CONCURRENCY, async m => { await m.user.read(m.path as string) })
  const firstReadSec = (performance.now() - c0) / 1000
  log(`instances: first read of ${n} in ${fmt(firstReadSec)} s`)
  const stable = await awaitStable(server, n, ctx.opts.quick ? 120_000 : 240_000)
  log(`instances: ${stable.stable ? 'stable' : 'NOT stable'} after ${fmt(stable.ms / 1000)} s (${JSON.stringify(stable.phases)})`)

  // 4. Idle: joined members nobody reads (they park CONSUMER_PARK_AFTER_MS after their last read).
  const idleServer = await idleWindow(server, idle, brokerPid)
  const held = await server.call<Usage>({ cmd: 'usage', gc: true })
  const phasesAfterIdle = await server.call<PhaseCounts>({ cmd: 'phases' })
  log(`instances: idle ${idle} s: CPU ${fmt(idleServer.cpuPct)} %, ${fmt(idleServer.requestsPerSec)} Kafka requests/s, RSS ${fmt(held.rss / MiB)} MiB`)

  // 5. Delete.
  c0 = performance.now()
  await pool(members, CONCURRENCY, async m => { await m.user.deleteConsumer(m.path as string) })
  const deleteSec = (performance.now() - c0) / 1000
  const afterDelete = await server.call<Usage>({ cmd: 'usage', gc: true })
  log(`instances: deleted ${n} in ${fmt(deleteSec)} s`)

  // 6. Baseline: the same consumers with plain kafkajs, in their own process.
  const base = await Child.start({ script: 'baseline-consumers.ts' })
  ctx.cleanup.teardown(() => base.stop())
  const baseEmpty = await base.call<Usage>({ cmd: 'usage', gc: true })
  const spec: BaselineSpec = {
    brokers: ctx.opts.brokers,
    members: members.map(m => ({ groupId: `bench-base-${run}-${m.group}`, topic: m.user.kafkaTopic(m.topic) })),
    sessionTimeout: config.CONSUMER_SESSION_TIMEOUT_MS,
    heartbeatInterval: config.CONSUMER_HEARTBEAT_INTERVAL_MS,
    maxWaitTimeInMs: config.CONSUMER_FETCH_MAX_WAIT_MS,
    maxBytes: config.CONSUMER_FETCH_MAX_BYTES,
    concurrency: CONCURRENCY
  }
  c0 = performance.now()
  await base.call({ cmd: 'start', spec })
  const baseStartSec = (performance.now() - c0) / 1000
  const baseStable = await awaitStable(base, n, ctx.opts.quick ? 120_000 : 240_000)
  log(`instances: baseline ${n} kafkajs consumers started in ${fmt(baseStartSec)} s, ${baseStable.stable ? 'stable' : 'NOT stable'} after ${fmt(baseStable.ms / 1000)} s`)
  const baseIdle = await idleWindow(base, idle, brokerPid)
  const baseHeld = await base.call<Usage>({ cmd: 'usage', gc: true })
  c0 = performance.now()
  await base.stop()
  const baseStopSec = (performance.now() - c0) / 1000
  log(`instances: baseline idle: CPU ${fmt(baseIdle.cpuPct)} %, ${fmt(baseIdle.requestsPerSec)} Kafka requests/s`)

  const rssPer = (held.rss - empty.rss) / n
  const heapPer = (held.heapUsed - empty.heapUsed) / n
  const baseRssPer = (baseHeld.rss - baseEmpty.rss) / n
  const baseHeapPer = (baseHeld.heapUsed - baseEmpty.heapUsed) / n
  const coreFromNet = idleServer.cpuPct - emptyIdle.cpuPct
  const kib = (b: number): string => `${fmt(b / 1024)} KiB`
  const targets: Target[] = [
    { name: `instances: RSS per idle instance (${n} instances)`, goal: '≤ 1 MiB', measured: `${fmt(rssPer / MiB)} MiB`, pass: rssPer <= MiB },
    { name: `instances: server CPU while ${n} instances idle (joined, after one read each)`, goal: '≤ 25 % of one core', measured: `${fmt(idleServer.cpuPct)} %`, pass: idleServer.cpuPct <= 25 }
  ]
  const ratio = (a: number, b: number): string => fmt(a / b, 2)
  const apis = [...new Set([...Object.keys(idleServer.byApi), ...Object.keys(baseIdle.byApi)])].sort()
  return {
    id: 'instances',
    title: 'Many instances',
    startedAt: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    settings: {
      instances: n,
      groups,
      perGroup: PER_GROUP,
      users: subjects,
      partitionsPerTopic: PARTITIONS,
      idleSeconds: idle,
      httpConcurrency: CONCURRENCY,
      knobs: {
        ...pickKnobs(ctx.env),
        effective: {
          CONSUMER_FETCH_MAX_WAIT_MS: config.CONSUMER_FETCH_MAX_WAIT_MS,
          CONSUMER_HEARTBEAT_INTERVAL_MS: config.CONSUMER_HEARTBEAT_INTERVAL_MS,
          CONSUMER_SESSION_TIMEOUT_MS: config.CONSUMER_SESSION_TIMEOUT_MS,
          CONSUMER_PARK_AFTER_MS: config.CONSUMER_PARK_AFTER_MS
        }
      }
    },
    tables: [
      {
        title: `Many instances: ${n} instances (${groups} groups × ${PER_GROUP}, ${subjects} users), idle ${idle} s; baseline: ${n} plain kafkajs consumers, same layout and settings, own process`,
        headers: ['figure', 'service', 'kafkajs baseline', '× baseline'],
        rows: [
          ['create instances (POST, 20 in flight)', `${fmt(n / createSec)} /s (${fmt(createSec)} s)`, '–', '–'],
          ['subscribe (POST subscription, 20 in flight; starts no consumer)', `${fmt(n / subscribeSec)} /s (${fmt(subscribeSec)} s)`, '–', '–'],
          ['subscribed, never read: process CPU (% of one core)', `${fmt(lazyIdle.cpuPct)} % (${lazyPhases.started} consumers started)`, '–', '–'],
          ['subscribed, never read: RSS per instance', kib((afterSubscribe.rss - empty.rss) / n), '–', '–'],
          ['first read of each (GET records, timeout 0: starts its consumer, which connects in the background)', `${fmt(n / firstReadSec)} /s (${fmt(firstReadSec)} s)`, `${fmt(n / baseStartSec)} /s connect+subscribe+run (${fmt(baseStartSec)} s)`, ratio(n / firstReadSec, n / baseStartSec)],
          ['until groups are stable', `${fmt(stable.ms / 1000)} s${stable.stable ? '' : ' (not stable)'}`, `${fmt(baseStable.ms / 1000)} s${baseStable.stable ? '' : ' (not stable)'}`, ratio(stable.ms, baseStable.ms)],
          ['RSS per idle instance', kib(rssPer), kib(baseRssPer), ratio(rssPer, baseRssPer)],
          ['heap per idle instance', kib(heapPer), kib(baseHeapPer), ratio(heapPer, baseHeapPer)],
          ['RSS per created, unsubscribed instance', kib((afterCreate.rss - empty.rss) / n), '–', '–'],
          ['instances parked at the end of the idle time', `${phasesAfterIdle.parked} of ${n}`, '–', '–'],
          ['process CPU while idle (% of one core)', `${fmt(idleServer.cpuPct)} % (empty server: ${fmt(emptyIdle.cpuPct)} %)`, `${fmt(baseIdle.cpuPct)} %`, ratio(idleServer.cpuPct, baseIdle.cpuPct)],
          ['CPU per idle instance', `${fmt(coreFromNet * 10 / n)} ms/s`, `${fmt(baseIdle.cpuPct * 10 / n)} ms/s`, ratio(coreFromNet, baseIdle.cpuPct)],
          ['Kafka requests/s while idle (kafkajs instrumentation)', fmt(idleServer.requestsPerSec), fmt(baseIdle.requestsPerSec), ratio(idleServer.requestsPerSec, baseIdle.requestsPerSec)],
          ...apis.map(a => [`  ${a}/s`, fmt(idleServer.byApi[a] ?? 0), fmt(baseIdle.byApi[a] ?? 0), ratio(idleServer.byApi[a] ?? 0, baseIdle.byApi[a] ?? 0)]),
          ['event-loop delay p99 while idle', `${fmt(idleServer.eld.p99)} ms`, `${fmt(baseIdle.eld.p99)} ms`, ratio(idleServer.eld.p99, baseIdle.eld.p99)],
          ['broker JVM CPU while idle (shared broker: includes other users)', `${fmt(idleServer.brokerCpuPct)} % (before: ${fmt(emptyIdle.brokerCpuPct)} %)`, `${fmt(baseIdle.brokerCpuPct)} %`, ratio(idleServer.brokerCpuPct, baseIdle.brokerCpuPct)],
          ['delete instances (DELETE, 20 in flight)', `${fmt(n / deleteSec)} /s (${fmt(deleteSec)} s)`, `disconnect all: ${fmt(baseStopSec)} s`, '–'],
          ['RSS after deleting all, over the empty server', kib(afterDelete.rss - empty.rss), '–', '–']
        ]
      }
    ],
    targets,
    data: {
      n,
      createPerSec: n / createSec,
      subscribePerSec: n / subscribeSec,
      firstReadPerSec: n / firstReadSec,
      lazyIdle,
      rssSubscribed: afterSubscribe.rss,
      deletePerSec: n / deleteSec,
      stableSeconds: stable.ms / 1000,
      stable: stable.stable,
      rssPerInstance: rssPer,
      heapPerInstance: heapPer,
      rss: { empty: empty.rss, created: afterCreate.rss, idle: held.rss, deleted: afterDelete.rss },
      idle: idleServer,
      emptyIdle,
      phasesAfterIdle,
      baseline: {
        startSeconds: baseStartSec,
        stableSeconds: baseStable.ms / 1000,
        stable: baseStable.stable,
        rssPerConsumer: baseRssPer,
        heapPerConsumer: baseHeapPer,
        idle: baseIdle
      }
    },
    notes: []
  }
}
