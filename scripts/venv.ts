// A Python virtual environment holding the pinned packages of one requirements.txt, for the tools and suites
// that run Python (the API fuzzer in .venv-fuzz/, the SDK suite in .venv-sdk/; both git-ignored).
//
// ensureVenv() creates the venv when it is missing (python3 -m venv) and runs `pip install -r` only when the
// venv is new or was last installed from other requirements (a stamp in the venv holds a hash of the
// requirements file and of the interpreter's version): an up-to-date venv costs two short process runs.
// Without python3, or without its venv module, it throws an error that says what to install; callers fail on
// it rather than skip.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT } from './broker.js'

/** The oldest Python the pinned packages support (diaspora-event-sdk 0.5.1 needs 3.10). */
const MIN_PYTHON: [number, number] = [3, 10]
const STAMP = '.diaspora-requirements.sha256'

export interface VenvOptions {
  /** The venv folder, e.g. <root>/.venv-sdk. */
  dir: string
  /** The requirements file whose pins the venv must hold. */
  requirements: string
  /** Progress lines (default: none). */
  log?: (line: string) => void
}

export interface Venv {
  dir: string
  /** The venv's interpreter. */
  python: string
  /** A console script of the venv, e.g. bin('pytest'). */
  bin (name: string): string
}

function run (command: string, args: string[]): void {
  // pip's and venv's output goes to stderr: stdout may be a TAP stream (the SDK suite's tap test).
  const r = spawnSync(command, args, { cwd: ROOT, stdio: ['ignore', 2, 2] })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
}

/** `python -c code`'s stdout, or undefined when it cannot run or fails. */
function pythonSays (python: string, code: string): string | undefined {
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8' })
  return r.error || r.status !== 0 ? undefined : r.stdout.trim()
}

/** Throws a clear error unless python3 runs, is recent enough and can create venvs (with pip). */
function checkSystemPython (): void {
  const probe = 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2])'
  const r = spawnSync('python3', ['-c', probe], { encoding: 'utf8' })
  const hint = 'install Python 3 with its venv module (Debian: apt-get install python3 python3-venv)'
  if (r.error) throw new Error(`python3 was not found (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}): ${hint}`)
  if (r.status !== 0) throw new Error(`python3 cannot create virtual environments (${r.stderr.trim().split('\n').pop() ?? ''}): ${hint}`)
  const [major, minor] = r.stdout.trim().split('.').map(Number) as [number, number]
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new Error(`python3 is ${major}.${minor}; ${MIN_PYTHON.join('.')} or newer is needed: ${hint}`)
  }
}

export function ensureVenv (opts: VenvOptions): Venv {
  const log = opts.log ?? (() => {})
  const python = path.join(opts.dir, 'bin', 'python')
  const venv: Venv = { dir: opts.dir, python, bin: (name) => path.join(opts.dir, 'bin', name) }
  const rel = path.relative(ROOT, opts.dir) || opts.dir
  if (!fs.existsSync(opts.requirements)) throw new Error(`${opts.requirements} is missing`)

  // A venv whose interpreter no longer runs (say, the system Python was upgraded) is made again.
  let version = fs.existsSync(python) ? pythonSays(python, 'import sys; print(sys.version)') : undefined
  if (version === undefined) {
    checkSystemPython()
    log(`creating ${rel}/`)
    run('python3', ['-m', 'venv', '--clear', opts.dir])
    version = pythonSays(python, 'import sys; print(sys.version)')
    if (version === undefined) throw new Error(`${python} does not run after python3 -m venv`)
  }
  const stamp = createHash('sha256').update(version).update('\0').update(fs.readFileSync(opts.requirements)).digest('hex')
  const stampFile = path.join(opts.dir, STAMP)
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim() === stamp) {
    log(`${rel}/ is up to date with ${path.relative(ROOT, opts.requirements)}`)
    return venv
  }
  log(`installing ${path.relative(ROOT, opts.requirements)} into ${rel}/`)
  fs.rmSync(stampFile, { force: true })
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', opts.requirements])
  fs.writeFileSync(stampFile, `${stamp}\n`)
  return venv
}
