/** Fork a measured child (tsx-loaded TypeScript) and talk to it over IPC (bench/lib/protocol.ts). */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import type { Command, Hello, Reply } from './protocol.js'

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = path.resolve(BENCH_DIR, '..')

export interface ChildOptions {
  /** Script below bench/, e.g. 'server.ts'. */
  script: string
  env?: Record<string, string>
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  nodeArgs?: string[]
  startTimeoutMs?: number
}

export class Child {
  readonly proc: ChildProcess
  readonly pid: number
  readonly url: string | undefined
  #next = 1
  #pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  #exited: Promise<number | null>
  /** Why the child is gone (exit code or signal), once it is. */
  #gone: string | undefined

  private constructor (proc: ChildProcess, hello: Hello) {
    this.proc = proc
    this.pid = hello.pid
    this.url = hello.url
    proc.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id)
      if (!p) return
      this.#pending.delete(m.id)
      if (m.ok) p.resolve(m.result)
      else p.reject(new Error(m.error))
    })
    // A send on a closed channel is reported by an 'error' event: the call already failed through #gone.
    proc.on('error', () => {})
    this.#exited = new Promise(resolve => proc.once('exit', (code, signal) => {
      this.#gone = `child ${hello.pid} exited (${signal ?? code})`
      for (const p of this.#pending.values()) p.reject(new Error(this.#gone))
      this.#pending.clear()
      resolve(code)
    }))
  }

  static async start (opts: ChildOptions): Promise<Child> {
    const proc = fork(path.join(BENCH_DIR, opts.script), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', '--expose-gc', ...(opts.nodeArgs ?? [])],
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    const hello = await new Promise<Hello>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${opts.script} did not start within ${opts.startTimeoutMs ?? 60000} ms`)), opts.startTimeoutMs ?? 60000)
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`${opts.script} exited during start (${code})`)) })
      proc.on('message', function onHello (m: Hello) {
        if (m && (m as { hello?: boolean }).hello) {
          clearTimeout(timer)
          proc.off('message', onHello)
          resolve(m)
        }
      })
    })
    proc.removeAllListeners('exit')
    return new Child(proc, hello)
  }

  call<T = unknown> (body: Command): Promise<T> {
    if (this.#gone || !this.proc.connected) return Promise.reject(new Error(this.#gone ?? `child ${this.pid}: IPC channel closed`))
    const id = this.#next++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.proc.send({ id, body })
    })
  }

  /** Ask the child to close cleanly (consumer instances leave their groups; --cpu-prof is written). */
  async stop (timeoutMs = 30_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    await this.call({ cmd: 'stop' }).catch(() => {})
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs)
    await this.#exited
    clearTimeout(timer)
  }
}
