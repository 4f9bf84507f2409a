// `npm run soak`: load and soak of the service over real HTTP on loopback (issue 6 item 6). Not a test: it
// prints figures, which RELIABILITY.md records.
//
//   npm run soak -- [--duration=120] [--cycles=2] [--polls=200] [--users=20] [--rate=200]
//                   [--poll-timeout=5000] [--warmup=10]
//
// --duration  seconds of load in all (warm-ups included), split over --cycles load cycles; --polls  concurrent
// long polls, one per consumer instance; --users  Globus users (each with a 4-partition topic and two groups);
// --rate  records produced per second; --poll-timeout  ?timeout of each long poll in ms; --warmup  seconds of
// each cycle before its steady-state figures start. Each cycle creates its users, topics and instances, loads
// them, and deletes them all; memory is measured after a forced GC before the first cycle and after each one,
// so growth from one cycle to the next shows a leak while a one-off warm-up cost does not repeat.
//
// Two processes. This one runs the service as server.ts builds it (same Fastify options, the whole app,
// metrics on a separate loopback listener) on 127.0.0.1, and measures it: event-loop delay (how late a 10 ms
// timer fires, so an idle loop reads about 0–1 ms; steady phases and the rest apart; and the part of it the
// process spent on a CPU, to tell its own work from waiting for a CPU on a shared machine), RSS and heap before
// the load, at its peak, and after it (after deleting everything and a forced GC: the npm script runs node with
// --expose-gc). A forked child generates the load (long polls with commits, a steady producer, management
// traffic, instance and topic churn, metrics scrapes) and hosts the Globus introspection stand-in, so none of
// that work shows in the service's figures. It reports every non-2xx answer or failed request as an error, and
// checks that each group received every record the producer had acknowledged.
//
// Broker: DEFAULT_SERVERS or KAFKA_TEST_BROKERS when set; otherwise a broker of its own (free ports, a temporary
// run folder, stopped at the end), so the shared local broker of the tests is never loaded.
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { Kafka, logLevel } from 'kafkajs'
import app, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/config/config.js'
import { startGlobus } from '../test/helpers/globus.js'
import { privateBrokerConfig, startBroker, stopBroker, type BrokerConfig } from './broker.js'
import { defaultNamespace } from '../plugins/namespaces/names.js'

interface Options {
  duration: number
  cycles: number
  polls: number
  users: number
  rate: number
  pollTimeout: number
  warmup: number
}

function options (argv: string[]): Options {
  const o: Options = { duration: 120, cycles: 2, polls: 200, users: 20, rate: 200, pollTimeout: 5000, warmup: 10 }
  const names: Record<string, keyof Options> = { duration: 'duration', cycles: 'cycles', polls: 'polls', users: 'users', rate: 'rate', 'poll-timeout': 'pollTimeout', warmup: 'warmup' }
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(\d+)$/.exec(arg)
    const key = m ? names[m[1] as string] : undefined
    if (!m || !key) {
      if (arg.startsWith('--role=')) continue
      throw new Error(`unknown argument ${arg}; usage: npm run soak -- [--duration=120] [--cycles=2] [--polls=200] [--users=20] [--rate=200] [--poll-timeout=5000] [--warmup=10]`)
    }
    o[key] = Number(m[2])
  }
  if (o.users < 1 || o.polls < 2 * o.users) throw new Error('--polls must be at least twice --users (two groups per user)')
  if (o.cycles < 1) throw new Error('--cycles must be at least 1')
  if (o.warmup >= o.duration / o.cycles) throw new Error('--warmup must be shorter than one cycle (--duration / --cycles)')
  return o
}

// ---- messages between the two processes ---------------------------------------------------------------------

interface KindStats {
  requests: number
  errors: number
  statuses: Record<string, number>
  p50: number
  p99: number
  max: number
}
interface LoadReport {
  kinds: Record<string, KindStats>
  errors: number
  errorSamples: string[]
  produced: number
  delivered: number
  duplicates: number
  lost: number
  instances: number
}
type Msg =
  | { type: 'globus', url: string, clientId: string, clientSecret: string }
  | { type: 'start', url: string, metricsUrl: string, brokers: string[] }
  | { type: 'steady' }
  | { type: 'unloaded' }
  | { type: 'cleaned' }
  | { type: 'next' }
  | { type: 'report', report: LoadReport }

function nextMessage<T extends Msg['type']> (from: NodeJS.Process | ChildProcess, type: T): Promise<Extract<Msg, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Msg): void => {
      if (m.type !== type) return
      from.off('message', onMessage)
      from.off('exit', onExit)
      resolve(m as Extract<Msg, { type: T }>)
    }
    const onExit = (code: number | null): void => { reject(new Error(`the load process exited (${code}) before sending '${type}'`)) }
    from.on('message', onMessage)
    from.on('exit', onExit)
  })
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`
const ms = (ns: number): string => `${(ns / 1e6).toFixed(1)} ms`

interface DelayHistograms {
  /** How late the timer fired. */
  wall: RecordableHistogram
  /** The part of it the process spent on the CPU itself (the rest it waited for a CPU other processes held). */
  own: RecordableHistogram
}

function delayHistograms (): DelayHistograms {
  return { wall: createHistogram(), own: createHistogram() }
}

/**
 * Event-loop delay: how late a timer due every `intervalMs` fires, recorded (ns) into whichever histograms are
 * current; and, as `own`, the smaller of that delay and the CPU time the process used over the same interval, so
 * that on a shared machine the delay caused by the service's own work can be told from time spent waiting for a
 * CPU. (perf_hooks.monitorEventLoopDelay cannot be split into phases: it records the whole interval, and a
 * disable/enable pair records the pause as one huge sample.)
 */
function delaySampler (intervalMs = 10): { into (h: DelayHistograms | undefined): void, stop (): void } {
  let target: DelayHistograms | undefined
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  let timer: NodeJS.Timeout
  const tick = (): void => {
    const now = performance.now()
    const cpu = process.cpuUsage(lastCpu)
    const late = Math.max(0, now - last - intervalMs)
    const used = (cpu.user + cpu.system) / 1000
    target?.wall.record(Math.max(1, Math.round(late * 1e6)))
    target?.own.record(Math.max(1, Math.round(Math.min(late, used) * 1e6)))
    last = now
    lastCpu = process.cpuUsage()
    timer = setTimeout(tick, intervalMs)
  }
  timer = setTimeout(tick, intervalMs)
  return { into (h) { target = h }, stop () { clearTimeout(timer) } }
}

// ---- the service process --------------------------------------------------------------------------------------

interface Memory { rss: number, heapUsed: number, heapTotal: number, external: number }
function memory (): Memory {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }
}

async function collectGarbage (): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return
  for (let i = 0; i < 3; i++) { gc(); await sleep(100) }
}

async function serve (opts: Options): Promise<number> {
  const began = Date.now()
  let ownBroker: BrokerConfig | undefined
  let bootstrap = process.env.DEFAULT_SERVERS || process.env.KAFKA_TEST_BROKERS || ''
  if (bootstrap === '') {
    ownBroker = await privateBrokerConfig('diaspora-soak-broker-')
    await startBroker(ownBroker)
    bootstrap = `127.0.0.1:${ownBroker.port}`
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'diaspora-soak-'))
  const child = fork(fileURLToPath(import.meta.url), ['--role=load', ...process.argv.slice(2)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' })
  let server: ReturnType<typeof Fastify> | undefined
  try {
    const globus = await nextMessage(child, 'globus')
    const env: Record<string, string> = {
      LOG_LEVEL: 'error',
      DEFAULT_SERVERS: bootstrap,
      SERVER_CLIENT_ID: globus.clientId,
      SERVER_SECRET: globus.clientSecret,
      GLOBUS_AUTH_URL: globus.url,
      METADATA_STORE: path.join(dataDir, 'metadata.json'),
      TOPIC_DEFAULT_REPLICATION_FACTOR: '1',
      CONSUMER_MAX_INSTANCES_PER_SUBJECT: '1000',
      METRICS_PORT: '0'
    }
    const config = loadConfig(env)
    server = Fastify({ ...serverOptions(config), logger: { level: 'error' } })
    await server.register(fp(app), { env })
    const url = await server.listen({ port: 0, host: '127.0.0.1' })
    await sleep(1000)
    await collectGarbage()
    const before = memory()

    // Event-loop delay in two histograms: the steady phases of the cycles, and the rest (setup, warm-up, cleanup).
    const steadyDelay = delayHistograms()
    const otherDelay = delayHistograms()
    const sampleDelay = delaySampler()
    let steadySeconds = 0
    let steadyCpuMicros = 0
    const loads: number[] = []
    let peak = memory()
    const sampler = setInterval(() => {
      const m = memory()
      if (m.rss > peak.rss) peak = { ...m }
    }, 1000)
    const cycles: Array<{ beforeGc: Memory, after: Memory, instancesLeft: number }> = []
    child.send({ type: 'start', url, metricsUrl: server.metrics?.listenerUrl ?? '', brokers: bootstrap.split(',') } satisfies Msg)
    for (let c = 0; c < opts.cycles; c++) {
      if (c > 0) child.send({ type: 'next' } satisfies Msg)
      sampleDelay.into(otherDelay)
      await nextMessage(child, 'steady')
      sampleDelay.into(steadyDelay)
      const steadyFrom = Date.now()
      const cpuFrom = process.cpuUsage()
      await nextMessage(child, 'unloaded')
      const cpu = process.cpuUsage(cpuFrom)
      steadyCpuMicros += cpu.user + cpu.system
      steadySeconds += (Date.now() - steadyFrom) / 1000
      loads.push(os.loadavg()[0] as number)
      sampleDelay.into(otherDelay)
      await nextMessage(child, 'cleaned')
      sampleDelay.into(undefined)
      const beforeGc = memory()
      await sleep(2000)
      await collectGarbage()
      cycles.push({ beforeGc, after: memory(), instancesLeft: server.consumers.size })
    }
    child.send({ type: 'next' } satisfies Msg)
    const { report } = await nextMessage(child, 'report')
    const serverSide = await serverView(await server.metrics?.service.render() ?? '')
    clearInterval(sampler)
    sampleDelay.stop()
    const figures = (h: RecordableHistogram): string =>
      `p50 ${ms(h.percentile(50))}, p90 ${ms(h.percentile(90))}, p99 ${ms(h.percentile(99))}, p99.9 ${ms(h.percentile(99.9))}, max ${ms(h.max)}`
    const last = cycles.at(-1) as (typeof cycles)[number]
    const growth = cycles.map((cy, i) =>
      cy.after.heapUsed - (i === 0 ? before : (cycles[i - 1] as (typeof cycles)[number]).after).heapUsed)

    const target = (ok: boolean): string => ok ? 'met' : 'MISSED'
    const lines = [
      '',
      `# soak: ${opts.polls} long polls (${opts.users} users, ?timeout=${opts.pollTimeout}), ${opts.rate} records/s, ${opts.duration} s of load in ${opts.cycles} cycle(s) (${opts.warmup} s warm-up each)`,
      `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), broker ${ownBroker ? `own, Kafka ${ownBroker.version}` : bootstrap}; gc ${typeof (globalThis as { gc?: unknown }).gc === 'function' ? 'forced' : 'NOT available (run with --expose-gc)'}`,
      '',
      '## requests',
      '| kind | requests | errors | statuses | p50 | p99 | max |',
      '|---|---|---|---|---|---|---|',
      ...Object.entries(report.kinds).map(([k, s]) =>
        `| ${k} | ${s.requests} | ${s.errors} | ${Object.entries(s.statuses).map(([c, n]) => `${c}: ${n}`).join(', ')} | ${s.p50} ms | ${s.p99} ms | ${s.max} ms |`),
      '',
      `errors: ${report.errors} (target 0: ${target(report.errors === 0)})${report.errorSamples.length > 0 ? `; e.g. ${report.errorSamples.join(' | ')}` : ''}`,
      `records: ${report.produced} acknowledged by Kafka, ${report.delivered} deliveries (each record to two groups), ${report.lost} lost (target 0: ${target(report.lost === 0)}), ${report.duplicates} delivered twice`,
      '',
      `server side (its own metrics): ${serverSide}`,
      '',
      '## event-loop delay (how late a 10 ms timer fires)',
      `steady state (${steadySeconds.toFixed(0)} s): ${figures(steadyDelay.wall)} (p99 target < 50 ms: ${target(steadyDelay.wall.percentile(99) < 50e6)})`,
      `  of which the service's own CPU work: ${figures(steadyDelay.own)} (p99 < 50 ms: ${target(steadyDelay.own.percentile(99) < 50e6)})`,
      `setup, warm-up and cleanup (instance creation, group joins, deletions): ${figures(otherDelay.wall)}`,
      `  of which the service's own CPU work: ${figures(otherDelay.own)}`,
      `the service used ${(steadyCpuMicros / 1e4 / steadySeconds).toFixed(0)} % of one CPU in the steady state; machine load average (1 min) at the end of each steady phase: ${loads.map(l => l.toFixed(1)).join(', ')} on ${os.cpus().length} CPUs ` +
        '(the broker, the load generator and anything else running share them: time the service waits for a CPU shows up as event-loop delay)',
      '',
      '## memory',
      '| when | RSS | heap used | heap total | external |',
      '|---|---|---|---|---|',
      `| before the load (after GC) | ${mib(before.rss)} | ${mib(before.heapUsed)} | ${mib(before.heapTotal)} | ${mib(before.external)} |`,
      `| peak RSS during the load | ${mib(peak.rss)} | ${mib(peak.heapUsed)} | ${mib(peak.heapTotal)} | ${mib(peak.external)} |`,
      ...cycles.flatMap((cy, i) => [
        `| after cycle ${i + 1}, before GC | ${mib(cy.beforeGc.rss)} | ${mib(cy.beforeGc.heapUsed)} | ${mib(cy.beforeGc.heapTotal)} | ${mib(cy.beforeGc.external)} |`,
        `| after cycle ${i + 1} (after GC) | ${mib(cy.after.rss)} | ${mib(cy.after.heapUsed)} | ${mib(cy.after.heapTotal)} | ${mib(cy.after.external)} |`
      ]),
      '',
      `heap growth after GC, cycle by cycle: ${growth.map(g => mib(g)).join(', ')}; RSS growth in all: ${mib(last.after.rss - before.rss)}; ` +
        `instances left: ${cycles.map(cy => cy.instancesLeft).join(', ')}; wall time ${((Date.now() - began) / 1000).toFixed(0)} s`,
      ''
    ]
    console.log(lines.join('\n'))
    return report.errors === 0 && report.lost === 0 ? 0 : 1
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM')
    await server?.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
    if (ownBroker) {
      await stopBroker(ownBroker)
      fs.rmSync(ownBroker.runDir, { recursive: true, force: true })
    }
  }
}

/** What the service's own metrics say about the reads: how many took long, seen from inside. */
async function serverView (text: string): Promise<string> {
  const bucket = (le: string): number => {
    const line = text.split('\n').find(l => l.startsWith('diaspora_http_request_duration_seconds_bucket{') && l.includes('route="/api/v3/:namespace/consumers/:group/instances/:instance/records"') && l.includes(`le="${le}"`) && l.includes('method="GET"'))
    return line === undefined ? 0 : Number(line.split(' ').at(-1))
  }
  const sample = (name: string): number => Number(text.split('\n').find(l => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN)
  const all = bucket('+Inf')
  return `${all} reads answered, ${all - bucket('10')} took over 10 s, ${all - bucket('30')} over 30 s; ` +
    `${sample('diaspora_consumer_rebalances_total')} group joins, ${sample('diaspora_consumer_commit_errors_total')} commit errors`
}

// ---- the load process -----------------------------------------------------------------------------------------

interface Reply { status: number, body: string }

class Client {
  readonly agent: http.Agent
  constructor (readonly base: string, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets })
  }

  /** One request; rejects on a network error or when no answer comes within `timeoutMs`. */
  request (
    method: string,
    url: string,
    opts: { token?: string, body?: unknown, type?: string, accept?: string, timeoutMs: number }
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body)
      const headers: Record<string, string> = {}
      if (opts.token) headers.authorization = `Bearer ${opts.token}`
      if (body !== undefined) { headers['content-type'] = opts.type ?? 'application/vnd.kafka.v2+json'; headers['content-length'] = String(Buffer.byteLength(body)) }
      if (opts.accept) headers.accept = opts.accept
      const req = http.request(url.startsWith('http') ? url : `${this.base}${url}`, { method, headers, agent: this.agent })
      const timer = setTimeout(() => { req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)) }, opts.timeoutMs)
      req.on('error', (err) => { clearTimeout(timer); reject(err) })
      req.on('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }) })
        res.on('error', (err) => { clearTimeout(timer); reject(err) })
      })
      req.end(body)
    })
  }
}

interface KindTally { requests: number, errors: number, statuses: Record<string, number>, latencies: number[] }

class Stats {
  #kinds = new Map<string, KindTally>()
  errors = 0
  samples: string[] = []

  async time (
    kind: string,
    fn: () => Promise<Reply>,
    ok: (status: number) => boolean = s => s < 300
  ): Promise<Reply | undefined> {
    let k = this.#kinds.get(kind)
    if (!k) this.#kinds.set(kind, (k = { requests: 0, errors: 0, statuses: {}, latencies: [] }))
    const began = performance.now()
    k.requests++
    try {
      const res = await fn()
      k.latencies.push(performance.now() - began)
      k.statuses[res.status] = (k.statuses[res.status] ?? 0) + 1
      if (!ok(res.status)) this.#error(k, `${kind}: ${res.status} ${res.body.slice(0, 160)}`)
      return res
    } catch (err) {
      k.statuses.failed = (k.statuses.failed ?? 0) + 1
      this.#error(k, `${kind}: ${(err as Error).message}`)
      return undefined
    }
  }

  #error (k: { errors: number }, sample: string): void {
    k.errors++
    this.errors++
    if (this.samples.length < 5) this.samples.push(sample)
  }

  summary (): Record<string, KindStats> {
    const out: Record<string, KindStats> = {}
    for (const [kind, k] of [...this.#kinds].sort()) {
      const sorted = [...k.latencies].sort((a, b) => a - b)
      const at = (q: number): number =>
        Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
      out[kind] = {
        requests: k.requests,
        errors: k.errors,
        statuses: k.statuses,
        p50: at(0.5),
        p99: at(0.99),
        max: Math.round(sorted.at(-1) ?? 0)
      }
    }
    return out
  }
}

async function generate (opts: Options): Promise<void> {
  const globus = await startGlobus({ teardown: () => {} })
  process.send?.({ type: 'globus', url: globus.url, clientId: globus.clientId, clientSecret: globus.clientSecret } satisfies Msg)
  const start = await nextMessage(process, 'start')
  const client = new Client(start.url, opts.polls + 64)
  const stats = new Stats()
  const long = opts.pollTimeout + 20_000
  const short = 30_000
  const BINARY = 'application/vnd.kafka.binary.v2+json'

  let produced = 0
  let lost = 0
  let deliveries = 0
  let duplicates = 0
  let instances = 0
  for (let cycle = 0; cycle < opts.cycles; cycle++) {
    if (cycle > 0) await nextMessage(process, 'next')
    const r = await loadCycle(cycle)
    produced += r.produced
    lost += r.lost
    deliveries += r.deliveries
    duplicates += r.duplicates
    instances += r.instances
    process.send?.({ type: 'cleaned' } satisfies Msg)
  }
  await nextMessage(process, 'next')
  client.agent.destroy()
  await globus.close()
  process.send?.({ type: 'report', report: { kinds: stats.summary(), errors: stats.errors, errorSamples: stats.samples, produced, delivered: deliveries, duplicates, lost, instances } } satisfies Msg)

  /** One cycle: create users, topics and instances; load them; delete everything. */
  async function loadCycle (
    cycle: number
  ): Promise<{ produced: number, lost: number, deliveries: number, duplicates: number, instances: number }> {
    const seconds = opts.duration / opts.cycles
    // Users, each with a topic of 4 partitions and two groups sharing its share of the instances.
    interface User {
      token: string
      ns: string
      topic: string
      produced: Set<number>
      groups: Array<{ name: string, seen: Set<number>, instances: string[] }>
    }
    const users: User[] = []
    for (let u = 0; u < opts.users; u++) {
      const subject = randomUUID()
      const user: User = { token: globus.userToken(subject), ns: defaultNamespace(subject), topic: `soak${u}`, produced: new Set(), groups: [] }
      await stats.time('setup: POST user', () => client.request('POST', '/api/v3/user', { token: user.token, timeoutMs: short }))
      await stats.time('setup: POST topic', () => client.request('POST', `/api/v3/${user.ns}/${user.topic}`, { token: user.token, body: { num_partitions: 4 }, type: 'application/json', timeoutMs: short }))
      users.push(user)
    }
    const perUser = Math.floor(opts.polls / opts.users)
    let instances = 0
    await Promise.all(users.map(async (user, u) => {
      for (const g of ['a', 'b']) user.groups.push({ name: `g${g}`, seen: new Set(), instances: [] })
      for (let i = 0; i < perUser + (u < opts.polls % opts.users ? 1 : 0); i++) {
        const group = user.groups[i % 2] as User['groups'][number]
        const res = await stats.time('setup: create instance', () => client.request('POST', `/api/v3/${user.ns}/consumers/${group.name}`, { token: user.token, body: { name: `c${i}`, 'auto.offset.reset': 'earliest' }, timeoutMs: short }))
        if (res?.status !== 200) continue
        const inst = `/api/v3/${user.ns}/consumers/${group.name}/instances/c${i}`
        await stats.time('setup: subscribe', () => client.request('POST', `${inst}/subscription`, { token: user.token, body: { topics: [user.topic] }, timeoutMs: short }))
        group.instances.push(inst)
        instances++
      }
    }))

    const run = { polling: true, producing: true, managing: true }
    let deliveries = 0
    let duplicates = 0

    const poll = async (user: User, group: User['groups'][number], inst: string): Promise<void> => {
      let sinceCommit = 0
      while (run.polling) {
        const res = await stats.time('GET records (long poll)', () => client.request('GET', `${inst}/records?timeout=${opts.pollTimeout}`, { token: user.token, accept: BINARY, timeoutMs: long }))
        if (res?.status !== 200) {
          if (res === undefined && process.env.SOAK_DEBUG) console.error(`[soak load] ${new Date().toISOString()} no answer: GET ${inst}/records`)
          await sleep(500)
          continue
        }
        const records = JSON.parse(res.body) as Array<{ value: string }>
        for (const r of records) {
          const seq = Number(Buffer.from(r.value, 'base64').toString().split(':')[0])
          if (group.seen.has(seq)) duplicates++
          else group.seen.add(seq)
          deliveries++
        }
        sinceCommit += records.length
        if (sinceCommit >= 50 || (sinceCommit > 0 && Math.random() < 0.3)) {
          await stats.time('POST offsets (commit all)', () => client.request('POST', `${inst}/offsets`, { token: user.token, timeoutMs: short }))
          sinceCommit = 0
        }
      }
    }

    const kafka = new Kafka({ clientId: `soak-producer-${cycle + 1}`, brokers: start.brokers, logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    let seq = 0
    const pad = 'x'.repeat(200)
    const produce = async (): Promise<void> => {
      const tick = 50
      const perTick = Math.max(1, Math.round(opts.rate * tick / 1000))
      let next = Date.now()
      while (run.producing) {
        const batch = new Map<User, Array<{ value: string }>>()
        const seqs: Array<[User, number]> = []
        for (let i = 0; i < perTick; i++) {
          const n = seq++
          const user = users[n % users.length] as User
          const list = batch.get(user) ?? []
          list.push({ value: `${n}:${pad}` })
          batch.set(user, list)
          seqs.push([user, n])
        }
        const res = await stats.time('produce (kafkajs, not HTTP)', async () => {
          await producer.sendBatch({ acks: -1, topicMessages: [...batch].map(([u, messages]) => ({ topic: `${u.ns}.${u.topic}`, messages })) })
          return { status: 200, body: '' }
        })
        if (res) for (const [user, n] of seqs) user.produced.add(n)
        next += tick
        await sleep(Math.max(0, next - Date.now()))
      }
    }

    // Management traffic, about 4 operations a second, and churn: short-lived instances and topics.
    const manage = async (): Promise<void> => {
      for (let i = 0; run.managing; i++) {
        const user = users[i % users.length] as User
        const group = user.groups[i % 2] as User['groups'][number]
        const inst = group.instances[0] as string
        const t = user.token
        switch (i % 9) {
          case 0: await stats.time('GET namespace', () => client.request('GET', '/api/v3/namespace', { token: t, timeoutMs: short })); break
          case 1: await stats.time('GET ready', () => client.request('GET', '/ready', { timeoutMs: short })); break
          case 2: await stats.time('GET subscription', () => client.request('GET', `${inst}/subscription`, { token: t, timeoutMs: short })); break
          case 3: await stats.time('GET assignments', () => client.request('GET', `${inst}/assignments`, { token: t, timeoutMs: short })); break
          case 4: await stats.time('GET offsets (committed)', () => client.request('GET', `${inst}/offsets`, { token: t, body: { partitions: [0, 1, 2, 3].map(partition => ({ topic: user.topic, partition })) }, timeoutMs: short })); break
          case 5: {
            const name = `churn${i}`
            const path = `/api/v3/${user.ns}/consumers/gchurn/instances/${name}`
            await stats.time('churn: create instance', () => client.request('POST', `/api/v3/${user.ns}/consumers/gchurn`, { token: t, body: { name }, timeoutMs: short }))
            await stats.time('churn: subscribe', () => client.request('POST', `${path}/subscription`, { token: t, body: { topics: [user.topic] }, timeoutMs: short }))
            await stats.time('churn: GET records', () => client.request('GET', `${path}/records?timeout=200`, { token: t, accept: BINARY, timeoutMs: short }))
            await stats.time('churn: delete instance', () => client.request('DELETE', path, { token: t, timeoutMs: short }))
            break
          }
          case 6: await stats.time('GET metrics (listener)', () => client.request('GET', `${start.metricsUrl}/metrics`, { timeoutMs: short })); break
          case 7:
            if (i % 36 === 7) {
              const topic = `churn${i}`
              await stats.time('churn: create topic', () => client.request('POST', `/api/v3/${user.ns}/${topic}`, { token: t, timeoutMs: short }))
              await stats.time('churn: delete topic', () => client.request('DELETE', `/api/v3/${user.ns}/${topic}`, { token: t, timeoutMs: short }))
            }
            break
          case 8: await stats.time('GET health', () => client.request('GET', '/health', { timeoutMs: short })); break
        }
        await sleep(250)
      }
    }

    const loops = [
      ...users.flatMap(user => user.groups.flatMap(group => group.instances.map(inst => poll(user, group, inst)))),
      produce(),
      manage()
    ]
    await sleep(opts.warmup * 1000)
    process.send?.({ type: 'steady' } satisfies Msg)
    await sleep((seconds - opts.warmup) * 1000)

    // Stop producing and managing; keep polling until every group has every acknowledged record (bounded).
    run.producing = false
    run.managing = false
    const complete = (): boolean => users.every(u =>
      u.groups.every(g => g.instances.length === 0 || [...u.produced].every(n => g.seen.has(n))))
    for (let waited = 0; waited < 30_000 && !complete(); waited += 500) await sleep(500)
    run.polling = false
    await Promise.all(loops)
    process.send?.({ type: 'unloaded' } satisfies Msg)

    // Clean up everything, so the service's memory can be compared with its state before the load.
    await producer.disconnect()
    for (const user of users) {
      for (const group of user.groups) {
        for (const inst of group.instances) await stats.time('cleanup: delete instance', () => client.request('DELETE', inst, { token: user.token, timeoutMs: short }))
      }
      await stats.time('cleanup: delete topic', () => client.request('DELETE', `/api/v3/${user.ns}/${user.topic}`, { token: user.token, timeoutMs: short }))
      await stats.time('cleanup: delete user', () => client.request('DELETE', '/api/v3/user', { token: user.token, timeoutMs: short }))
    }
    let cycleProduced = 0
    let cycleLost = 0
    for (const user of users) {
      cycleProduced += user.produced.size
      for (const group of user.groups) {
        if (group.instances.length > 0) for (const n of user.produced) if (!group.seen.has(n)) cycleLost++
      }
    }
    return { produced: cycleProduced, lost: cycleLost, deliveries, duplicates, instances }
  }
}

const role = process.argv.find(a => a.startsWith('--role='))?.slice('--role='.length) ?? 'serve'
const opts = options(process.argv.slice(2))
if (role === 'load') {
  generate(opts).then(() => process.exit(0), (err: unknown) => { console.error('[soak load]', err); process.exit(1) })
} else {
  serve(opts).then(code => process.exit(code), (err: unknown) => { console.error('[soak]', err); process.exit(1) })
}
