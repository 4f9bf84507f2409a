// `npm test`: runs tap against a local Kafka broker, starting one first if none answers,
// and stopping it afterwards only if this script started it. Extra arguments go to tap.
//
// With KAFKA_TEST_BROKERS already set, the tests target that cluster and no broker is managed.
//
// It also starts moto in server mode (scripts/moto.ts: a local DynamoDB endpoint on a free loopback port, for
// the DynamoDB metadata store's tests) and stops it at the end; the tests find it in DYNAMODB_TEST_ENDPOINT,
// with dummy AWS credentials set for them only. With DYNAMODB_TEST_ENDPOINT already set, that endpoint is used.
//
// The app logs of the run go to .test-logs/run-<pid>/ (git-ignored; the latest runs are kept, older ones
// removed), with every secret the tests used; at the end the log check (scripts/log-leaks.ts) fails the run
// if any secret appears in any log line. The output then ends with the log check's line and one plain
// summary line, `tests: N passed, N failed, N skipped` (tap's counts, plus the log check as one test),
// which .ci/run adds up.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { brokerConfig, isBrokerUp, ROOT, startBroker, stopBroker } from './broker.js'
import { describeScan, LOG_DIR_ENV, scanLogs } from './log-leaks.js'
import { startMoto, type MotoServer } from './moto.js'
import { parseTapSummary, summaryLine } from './tap-summary.js'

const LOG_ROOT = path.join(ROOT, '.test-logs')
/** Runs whose logs are kept besides this one (for a look after a failure). */
const KEEP_RUNS = 2

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

/** A fresh run folder for the logs, after removing old runs (never one whose process is still alive). */
function prepareLogDir (): string {
  fs.mkdirSync(LOG_ROOT, { recursive: true })
  const runs = fs.readdirSync(LOG_ROOT)
    .filter(name => /^run-\d+$/.test(name))
    .map(name => ({ name, pid: Number(name.slice(4)), mtime: fs.statSync(path.join(LOG_ROOT, name)).mtimeMs }))
    .filter(run => !isAlive(run.pid))
    .sort((a, b) => b.mtime - a.mtime)
  for (const run of runs.slice(KEEP_RUNS)) fs.rmSync(path.join(LOG_ROOT, run.name), { recursive: true, force: true })
  const dir = path.join(LOG_ROOT, `run-${process.pid}`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir)
  return dir
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function main (): Promise<number> {
  const tapArgs = process.argv.slice(2).flatMap(expandFolder)
  // tap picks its pretty reporter only when it writes to a terminal; its output is piped through here (to read
  // its summary), so ask for colours when this process writes to one.
  if (process.stdout.isTTY && !tapArgs.some(a => /^(-R|--reporter|--(no-)?color|-[cC])/.test(a))) tapArgs.unshift('--color')
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
        if (running.pid !== undefined && running.exitCode === null && running.signalCode === null) {
          signalTree(running.pid, signal)
        }
      }, 2000).unref()
    }
    // The broker runs detached, out of reach of the terminal's signal: stop it ourselves.
    // If it is still starting, startBroker then fails and main() goes on to clean up.
    if (tap === undefined && weStartedOrStarting) stopBroker().catch(() => {})
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const logDir = prepareLogDir()
  const env: NodeJS.ProcessEnv = { ...process.env, [LOG_DIR_ENV]: logDir }
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

  let moto: MotoServer | undefined
  if (process.env.DYNAMODB_TEST_ENDPOINT === undefined || process.env.DYNAMODB_TEST_ENDPOINT === '') {
    try {
      moto = await startMoto({ log: line => console.error(`[test] ${line}`) })
    } catch (err) {
      if (weStarted) await stopBroker()
      throw err
    }
    env.DYNAMODB_TEST_ENDPOINT = moto.endpoint
  }
  // Dummy credentials for moto (it accepts any), for the tests only: never real ones from this environment.
  env.AWS_ACCESS_KEY_ID = 'testing'
  env.AWS_SECRET_ACCESS_KEY = 'testing'
  delete env.AWS_SESSION_TOKEN
  delete env.AWS_PROFILE

  // The last 64 KiB of tap's output, enough for its closing summary.
  let tail = ''
  const ran = new Promise<number>((resolve, reject) => {
    tap = spawn(path.join(ROOT, 'node_modules', '.bin', 'tap'), tapArgs, { stdio: ['inherit', 'pipe', 'inherit'], env, cwd: ROOT })
    tap.once('error', reject)
    tap.stdout?.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk)
      tail = (tail + chunk.toString('utf8')).slice(-65536)
    })
    // Wait for the end of its output too ('close'), which normally follows 'exit' at once; a stray grandchild
    // holding the pipe open must not hang the run, so give up waiting for it after a while.
    tap.once('exit', (exitCode, signal) => {
      const result = exitCode ?? 128 + (signal ? SIGNAL_NUMBERS[signal] ?? 1 : 1)
      const timer = setTimeout(() => resolve(result), 10_000)
      tap?.once('close', () => { clearTimeout(timer); resolve(result) })
      if (tap?.stdout === null || tap?.stdout.readableEnded === true) { clearTimeout(timer); resolve(result) }
    })
  })
  let code: number
  try {
    code = await ran
  } finally {
    // Also when tap could not be started at all: moto is a child of this process and would outlive it.
    await moto?.stop()
  }
  if (weStarted) await stopBroker()

  const scan = scanLogs(logDir)
  const leaked = scan.findings.length > 0
  const summary = parseTapSummary(tail)
  const lines = ['', ...describeScan(scan, ROOT)]
  if (summary === undefined) {
    lines.push(`tests: tap printed no summary (exit code ${code})`)
  } else {
    lines.push(summaryLine({
      passed: summary.pass + (leaked ? 0 : 1),
      failed: summary.fail + (leaked ? 1 : 0),
      skipped: summary.skip + summary.todo
    }))
  }
  process.stdout.write(`${lines.join('\n')}\n`)

  const result = code === 0 && leaked ? 1 : code
  return interrupted !== undefined && result === 0 ? 128 + (SIGNAL_NUMBERS[interrupted] ?? 0) : result
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
