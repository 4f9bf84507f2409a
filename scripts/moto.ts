// moto in server mode: a local DynamoDB endpoint for the tests of the DynamoDB metadata store.
//
// ensureMotoVenv() installs the pinned moto[server] of test/moto/requirements.txt into the git-ignored
// .venv-moto/ through the shared venv helper (scripts/venv.ts, as for the fuzzer and the SDK suite).
// startMoto() runs moto_server (through test/moto/serve.py, which makes it handle one request at a time, as
// atomic as DynamoDB's) on a free loopback port and waits until it answers; stop() ends it (and only it).
// `npm test` (scripts/test.ts) does both and hands the endpoint to the tests as DYNAMODB_TEST_ENDPOINT.
//
// Standalone: `npx tsx scripts/moto.ts` starts one in the foreground and prints its endpoint (Ctrl-C stops it).
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ROOT } from './broker.js'
import { freePort } from './ports.js'
import { ensureVenv, type Venv } from './venv.js'

export const MOTO_VENV = path.join(ROOT, '.venv-moto')
export const MOTO_REQUIREMENTS = path.join(ROOT, 'test', 'moto', 'requirements.txt')
const MOTO_SERVE = path.join(ROOT, 'test', 'moto', 'serve.py')

/** .venv-moto/ with the pinned moto[server], made or brought up to date only when needed. */
export function ensureMotoVenv (log?: (line: string) => void): Venv {
  return ensureVenv({ dir: MOTO_VENV, requirements: MOTO_REQUIREMENTS, ...(log ? { log } : {}) })
}

export interface MotoServer {
  endpoint: string
  pid: number
  stop (): Promise<void>
}

/** Start moto_server on a free loopback port; resolves once it answers HTTP. */
export async function startMoto (opts: { log?: (line: string) => void, timeoutMs?: number } = {}): Promise<MotoServer> {
  const log = opts.log ?? (() => {})
  const venv = ensureMotoVenv(log)
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  let output = ''
  // moto_server's own arguments, through test/moto/serve.py, which serializes requests (see there why).
  const child: ChildProcess = spawn(venv.python, [MOTO_SERVE, '-H', '127.0.0.1', '-p', String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' }
  })
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString('utf8')).slice(-4096) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${output.trim().slice(-1000)}`)
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status < 500) break
    } catch {}
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`moto_server did not answer on ${endpoint} within ${opts.timeoutMs ?? 30_000} ms: ${output.trim().slice(-1000)}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  log(`moto (DynamoDB) on ${endpoint}, pid ${child.pid ?? '?'}`)
  return { endpoint, pid: child.pid ?? 0, stop }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const moto = await startMoto({ log: line => console.error(`[moto] ${line}`) })
  console.log(moto.endpoint)
  const stop = (): void => { moto.stop().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
