/**
 * `npm run bench [-- [fetch|latency|instances|overhead|auth|produce …] [--quick] [--profile|--no-profile] [--reps N]
 *   [--env KEY=VALUE …] [--instances N] [--idle S] [--no-write] [--out FILE]]`
 *
 * Runs the scenarios of issue 5 (and the produce scenario of issue 12) against the local broker (started if
 * none answers) and the real service (bench/server.ts, a child process listening on loopback, real Globus auth
 * through the stand-in), prints a table, and writes bench/results.json (the current figures) and the generated
 * part of BENCHMARKS.md.
 * With no scenario named, all run. A run of some scenarios keeps the other scenarios' last results.
 */
import { brokerConfig, isBrokerUp, startBroker } from '../scripts/broker.js'
import { BenchContext, log, type BenchOptions } from './lib/context.js'
import { SCENARIOS, type ProfileSummary, type ScenarioId, type ScenarioResult } from './lib/result.js'
import { textTable } from './lib/table.js'
import { runFetch } from './scenarios/fetch.js'
import { runLatency } from './scenarios/latency.js'
import { runInstances } from './scenarios/instances.js'
import { runOverhead } from './scenarios/overhead.js'
import { runAuth } from './scenarios/auth.js'
import { runProduce } from './scenarios/produce.js'
import { runProfiles } from './scenarios/profile.js'
import { machineFacts, writeReports } from './report/write.js'

interface Args extends BenchOptions {
  scenarios: ScenarioId[]
  write: boolean
  out?: string
}

function parseArgs (argv: string[]): Args {
  const scenarios: ScenarioId[] = []
  const env: Record<string, string> = {}
  let quick = false
  let profile: boolean | undefined
  let reps: number | undefined
  let write = true
  let instances: number | undefined
  let idleSeconds: number | undefined
  let out: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if ((SCENARIOS as string[]).includes(a)) scenarios.push(a as ScenarioId)
    else if (a === '--quick') quick = true
    else if (a === '--profile') profile = true
    else if (a === '--no-profile') profile = false
    else if (a === '--reps') reps = Number(value())
    else if (a === '--env') {
      const [k, ...v] = value().split('=')
      env[k as string] = v.join('=')
    } else if (a === '--instances') instances = Number(value())
    else if (a === '--idle') idleSeconds = Number(value())
    else if (a === '--no-write') write = false
    else if (a === '--out') out = value()
    else throw new Error(`unknown argument ${a}; scenarios: ${SCENARIOS.join(', ')}`)
  }
  const brokers = (process.env.KAFKA_BENCH_BROKERS ?? `127.0.0.1:${brokerConfig().port}`).split(',').map(s => s.trim()).filter(Boolean)
  const opts: Args = {
    scenarios: scenarios.length > 0 ? scenarios : [...SCENARIOS],
    quick,
    reps: reps ?? (quick ? 2 : 3),
    fetchReps: reps ?? (quick ? 2 : 5),
    // Profiling runs after the measured passes (it perturbs timings); on by default in full runs of scenarios 1 and 4.
    profile: profile ?? (!quick && scenarios.length === 0),
    env,
    brokers,
    write
  }
  if (instances !== undefined) opts.instances = instances
  if (idleSeconds !== undefined) opts.idleSeconds = idleSeconds
  if (out !== undefined) opts.out = out
  return opts
}

const RUNNERS: Record<ScenarioId, (ctx: BenchContext) => Promise<ScenarioResult>> = {
  fetch: runFetch,
  latency: runLatency,
  instances: runInstances,
  overhead: runOverhead,
  auth: runAuth,
  produce: runProduce
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const began = performance.now()
  if (!process.env.KAFKA_BENCH_BROKERS && !(await isBrokerUp())) {
    log('no broker answers; starting the local one (npm run broker -- start)')
    await startBroker()
  }
  const machine = await machineFacts()
  log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}, Kafka ${machine.kafka}, load ${machine.loadAvg.join(' ')}`)
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  const ctx = await BenchContext.create(args)
  const results: ScenarioResult[] = []
  let profiles: ProfileSummary[] | undefined
  let failure: unknown
  const onSignal = (): void => { log('interrupted; cleaning up'); ctx.cleanup.run().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    for (const id of args.scenarios) {
      log(`== ${id} ==`)
      const r = await RUNNERS[id](ctx)
      results.push(r)
      // Written as each scenario ends, so a later failure keeps what was measured.
      if (args.write) {
        await writeReports({
          results: [r], profiles: undefined, machine, command, seconds: r.seconds, quick: args.quick, out: args.out
        })
      }
      console.log(`\n${r.title} (${r.seconds.toFixed(0)} s)`)
      for (const t of r.tables) console.log(textTable(t) + '\n')
      for (const t of r.targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.measured} (target ${t.goal})`)
    }
    if (args.profile) {
      log('== profiles (node --cpu-prof) ==')
      profiles = await runProfiles(ctx, args.scenarios)
    }
  } catch (err) {
    failure = err
  } finally {
    await ctx.cleanup.run()
  }
  if (failure) throw failure
  const seconds = (performance.now() - began) / 1000
  if (args.write) {
    const written = await writeReports({
      results: [], profiles, machine, command, seconds, quick: args.quick, out: args.out
    })
    log(`wrote ${written.join(', ')}`)
  }
  console.log(`\nTargets: ${results.flatMap(r => r.targets).filter(t => t.pass).length} met, ${results.flatMap(r => r.targets).filter(t => !t.pass).length} missed. Total ${seconds.toFixed(0)} s.`)
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})
