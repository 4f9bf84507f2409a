// moto in server mode: a local DynamoDB endpoint for the tests of the DynamoDB metadata store.
//
// ensurePythonEnv() installs the pinned moto[server] of test/moto/requirements.txt into the git-ignored
// .venv-moto/ (python3 -m venv + pip), again only when the requirements or the interpreter changed (a stamp
// file in the venv). Its options and result have the shape of a shared venv helper, so one helper can serve
// the fuzzer, the SDK suite and this. startMoto() runs moto_server (through test/moto/serve.py, which makes
// it handle one request at a time, as atomic as DynamoDB's) on a free loopback port and waits until it
// answers; stop() ends it (and only it). `npm test` (scripts/test.ts) does both and hands the endpoint to
// the tests as DYNAMODB_TEST_ENDPOINT.
//
// Standalone: `npx tsx scripts/moto.ts` starts one in the foreground and prints its endpoint (Ctrl-C stops it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ROOT } from './broker.js'

export const MOTO_VENV = path.join(ROOT, '.venv-moto')
export const MOTO_REQUIREMENTS = path.join(ROOT, 'test', 'moto', 'requirements.txt')
const MOTO_SERVE = path.join(ROOT, 'test', 'moto', 'serve.py')
const STAMP = '.diaspora-requirements.sha256'

export interface PythonEnvOptions {
  /** The venv folder. */
  dir: string
  /** The requirements file whose pins it must hold. */
  requirements: string
  log?: (line: string) => void
}

export interface PythonEnv {
  dir: string
  python: string
  bin (name: string): string
}

function runQuiet (command: string, args: string[]): void {
  // To stderr: this process's stdout may carry a TAP stream.
  const r = spawnSync(command, args, { cwd: ROOT, stdio: ['ignore', 2, 2] })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
}

function interpreterVersion (python: string): string | undefined {
  const r = spawnSync(python, ['-c', 'import sys; print(sys.version)'], { encoding: 'utf8' })
  return r.error !== undefined || r.status !== 0 ? undefined : r.stdout.trim()
}

/** A venv holding `requirements`, made or brought up to date only when needed. */
export function ensurePythonEnv (opts: PythonEnvOptions): PythonEnv {
  const log = opts.log ?? (() => {})
  const python = path.join(opts.dir, 'bin', 'python')
  const env: PythonEnv = { dir: opts.dir, python, bin: name => path.join(opts.dir, 'bin', name) }
  const rel = path.relative(ROOT, opts.dir)
  let version = fs.existsSync(python) ? interpreterVersion(python) : undefined
  if (version === undefined) {
    const probe = spawnSync('python3', ['-c', 'import venv, ensurepip'], { encoding: 'utf8' })
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error('python3 with its venv module is needed for moto (Debian: apt-get install python3 python3-venv)')
    }
    log(`creating ${rel}/`)
    runQuiet('python3', ['-m', 'venv', '--clear', opts.dir])
    version = interpreterVersion(python)
    if (version === undefined) throw new Error(`${python} does not run after python3 -m venv`)
  }
  const stamp = createHash('sha256').update(version).update('\0').update(fs.readFileSync(opts.requirements)).digest('hex')
  const stampFile = path.join(opts.dir, STAMP)
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim() === stamp) return env
  log(`installing ${path.relative(ROOT, opts.requirements)} into ${rel}/`)
  fs.rmSync(stampFile, { force: true })
  runQuiet(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', opts.requirements])
  fs.writeFileSync(stampFile, `${stamp}\n`)
  return env
}

/** A loopback port nobody listens on right now. */
export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export interface MotoServer {
  endpoint: string
  pid: number
  stop (): Promise<void>
}

/** Start moto_server on a free loopback port; resolves once it answers HTTP. */
export async function startMoto (opts: { log?: (line: string) => void, timeoutMs?: number } = {}): Promise<MotoServer> {
  const log = opts.log ?? (() => {})
  const venv = ensurePythonEnv({ dir: MOTO_VENV, requirements: MOTO_REQUIREMENTS, log })
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
