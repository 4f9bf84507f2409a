// `npm test`: runs tap against a local Kafka broker, starting one first if none answers,
// and stopping it afterwards only if this script started it. Extra arguments go to tap.
//
// With KAFKA_TEST_BROKERS already set, the tests target that cluster and no broker is managed.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { brokerConfig, isBrokerUp, ROOT, startBroker, stopBroker } from './broker.js'

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 }

/** Pids of all live descendants of `root` (Linux /proc; empty elsewhere). */
function descendants (root: number): number[] {
  const children = new Map<number, number[]>()
  let entries: string[]
  try {
    entries = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return []
  }
  for (const entry of entries) {
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the command name before it may hold spaces.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
    } catch {}
  }
  const found: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

/**
 * Delivers a signal to tap and everything below it, as a terminal's Ctrl-C does. Signalling
 * tap alone is not enough: it passes the signal on, but its tsx-loaded test processes keep
 * running until their tests end.
 */
function signalTree (pid: number, signal: NodeJS.Signals): void {
  for (const target of [pid, ...descendants(pid)]) {
    try {
      process.kill(target, signal)
    } catch {}
  }
}

async function main (): Promise<number> {
  const tapArgs = process.argv.slice(2).flatMap(expandFolder)
  const external = process.env.KAFKA_TEST_BROKERS !== undefined && process.env.KAFKA_TEST_BROKERS !== ''
  const cfg = brokerConfig()
  let weStarted = false
  let weStartedOrStarting = false
  let interrupted: NodeJS.Signals | undefined
  let tap: ReturnType<typeof spawn> | undefined

  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted !== undefined) return
    interrupted = signal
    // A terminal's Ctrl-C reaches tap and its tests directly (same process group); a signal
    // sent to this process alone does not, so pass it on if tap is still running shortly
    // after. Cleanup happens once tap has exited.
    if (tap !== undefined) {
      const running = tap
      setTimeout(() => {
        if (running.pid !== undefined && running.exitCode === null && running.signalCode === null) signalTree(running.pid, signal)
      }, 2000).unref()
    }
    // The broker runs detached, out of reach of the terminal's signal: stop it ourselves.
    // If it is still starting, startBroker then fails and main() goes on to clean up.
    if (tap === undefined && weStartedOrStarting) stopBroker().catch(() => {})
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const env: NodeJS.ProcessEnv = { ...process.env }
  if (!external) {
    env.KAFKA_TEST_BROKERS = `${cfg.host}:${cfg.port}`
    env.KAFKA_TEST_SASL_BROKERS = `${cfg.host}:${cfg.saslPort}`
    if (!(await isBrokerUp(cfg.port, cfg.host))) {
      weStartedOrStarting = true
      try {
        weStarted = (await startBroker(cfg)).started
      } catch (err) {
        if (interrupted === undefined) throw err
      }
      if (interrupted !== undefined) {
        await stopBroker()
        return 128 + (SIGNAL_NUMBERS[interrupted] ?? 0)
      }
    }
  }

  const code = await new Promise<number>((resolve, reject) => {
    tap = spawn(path.join(ROOT, 'node_modules', '.bin', 'tap'), tapArgs, { stdio: 'inherit', env, cwd: ROOT })
    tap.once('error', reject)
    tap.once('exit', (exitCode, signal) => {
      resolve(exitCode ?? 128 + (signal ? SIGNAL_NUMBERS[signal] ?? 1 : 1))
    })
  })

  if (weStarted) await stopBroker()
  return interrupted !== undefined && code === 0 ? 128 + (SIGNAL_NUMBERS[interrupted] ?? 0) : code
}

main().then(
  (code) => { process.exit(code) },
  (err: unknown) => {
    console.error(`[test] ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  }
)

/**
 * tap only finds .ts tests in a folder through its TypeScript plugin, which .taprc swaps for tsx; so a folder
 * argument (`npm test -- test/integration`) is expanded to the test files inside it here.
 */
function expandFolder (arg: string): string[] {
  const full = path.resolve(ROOT, arg)
  if (arg.startsWith('-') || !fs.existsSync(full) || !fs.statSync(full).isDirectory()) return [arg]
  const files = (fs.readdirSync(full, { recursive: true }) as string[])
    .filter(f => f.endsWith('.test.ts'))
    .map(f => path.join(arg, f))
    .sort()
  return files.length > 0 ? files : [arg]
}
