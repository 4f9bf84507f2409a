/**
 * Runs the Diaspora SDK's pytest suite (test/sdk/, diaspora-event-sdk unmodified, in the git-ignored .venv-sdk/
 * made or updated on demand by scripts/venv.ts) against a service URL with two users of the Globus stand-in,
 * and checks its JUnit report: pytest exits 0, every test of the suite ran (a module that no longer imports
 * cannot pass for green), none failed, errored or was skipped. Used by sdk.test.ts (one app) and
 * cluster-sdk.test.ts (three nodes behind a load balancer).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { ROOT } from '../../scripts/broker.js'
import { defaultNamespace } from '../../plugins/namespaces/names.js'
import { testKafka } from './broker.js'
import { ensureVenv, type Venv } from '../../scripts/venv.js'

/** The number of tests in test/sdk/ (parametrized cases count one each). Update it with the suite. */
export const EXPECTED_TESTS = 57
export const PYTEST_TIMEOUT_MS = 15 * 60_000
const SUITE = path.join(ROOT, 'test', 'sdk')
const PER_TEST_TIMEOUT_S = 90

interface Outcome { code: number | null, signal: NodeJS.Signals | null }
export interface SuiteUser { subject: string, token: string }

function runPytest (venv: Venv, args: string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(venv.bin('pytest'), args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    // Streamed as it runs; to stderr, since this process's stdout is the TAP stream.
    child.stdout.pipe(process.stderr, { end: false })
    child.stderr.pipe(process.stderr, { end: false })
    const timer = setTimeout(() => {
      process.stderr.write(`\n[sdk] pytest ran past ${PYTEST_TIMEOUT_MS / 60_000} min: stopping it\n`)
      child.kill('SIGTERM')
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref()
    }, PYTEST_TIMEOUT_MS)
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal }) })
  })
}

/** The totals of pytest's JUnit XML report (one <testsuite>). */
function junitTotals (file: string): Record<'tests' | 'failures' | 'errors' | 'skipped', number> {
  const xml = readFileSync(file, 'utf8')
  const suite = /<testsuite\b([^>]*)>/.exec(xml)?.[1]
  if (suite === undefined) throw new Error(`no <testsuite> in ${file}`)
  const attr = (name: string): number => {
    const m = new RegExp(`\\b${name}="(\\d+)"`).exec(suite)
    if (!m) throw new Error(`no ${name}= in the <testsuite> of ${file}`)
    return Number(m[1])
  }
  return { tests: attr('tests'), failures: attr('failures'), errors: attr('errors'), skipped: attr('skipped') }
}

/**
 * The venv of the suite, made before the service starts (pip's output streams while it installs); undefined
 * after a failure.
 */
export function suiteVenv (t: Test): Venv | undefined {
  try {
    return ensureVenv({ dir: path.join(ROOT, '.venv-sdk'), requirements: path.join(SUITE, 'requirements.txt'), log: (line) => t.comment(line) })
  } catch (err) {
    t.fail(`the SDK suite needs its Python venv: ${err instanceof Error ? err.message : String(err)}`)
    return undefined
  }
}

/** Run the suite against `url` as `main` (and `other` for the isolation checks), with the assertions above. */
export async function runSdkSuite (
  t: Test,
  venv: Venv,
  url: string,
  main: SuiteUser,
  other: SuiteUser,
  extraEnv: Record<string, string> = {}
): Promise<void> {
  const reports = mkdtempSync(path.join(tmpdir(), 'diaspora-sdk-'))
  t.teardown(() => rmSync(reports, { recursive: true, force: true }))
  const junit = path.join(reports, 'pytest.xml')
  const noProxy = [process.env.NO_PROXY ?? process.env.no_proxy, '127.0.0.1', 'localhost'].filter(Boolean).join(',')

  const outcome = await runPytest(venv, [
    SUITE,
    '-p', 'no:cacheprovider',
    '-rA',
    '--color=no',
    `--junitxml=${junit}`,
    ...(process.env.SDK_PYTEST_ARGS ? process.env.SDK_PYTEST_ARGS.split(' ').filter(Boolean) : [])
  ], {
    ...process.env,
    PYTHONDONTWRITEBYTECODE: '1',
    // The SDK talks to the service on 127.0.0.1: never through a proxy the environment may name for PyPI.
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    PYTHONUNBUFFERED: '1',
    DIASPORA_TEST_BASE_URL: url,
    DIASPORA_TEST_TOKEN: main.token,
    DIASPORA_TEST_SUBJECT: main.subject,
    DIASPORA_TEST_OTHER_TOKEN: other.token,
    DIASPORA_TEST_OTHER_SUBJECT: other.subject,
    DIASPORA_TEST_TIMEOUT_S: String(PER_TEST_TIMEOUT_S),
    ...extraEnv
  })
  t.equal(outcome.code, 0, `pytest exits with 0 (got ${outcome.code ?? outcome.signal}; its output is above)`)
  if (!existsSync(junit)) {
    t.fail('pytest wrote no JUnit report: it did not get as far as running tests')
    return
  }
  const totals = junitTotals(junit)
  // SDK_PYTEST_ARGS (say `-k consumer`) narrows a run by hand; otherwise every test of the suite must run.
  if (process.env.SDK_PYTEST_ARGS) t.ok(totals.tests > 0, `pytest ran ${totals.tests} selected tests`)
  else t.equal(totals.tests, EXPECTED_TESTS, `pytest ran the ${EXPECTED_TESTS} tests of test/sdk/`)
  t.equal(totals.failures + totals.errors, 0, 'no test failed or errored')
  t.equal(totals.skipped, 0, 'no test was skipped')
}

/** The suite deletes its users (and so their topics); this drops whatever a failed run left in Kafka. */
export function dropTopicsAtEnd (t: Test, users: SuiteUser[]): void {
  t.teardown(async () => {
    const admin = testKafka().admin()
    await admin.connect()
    try {
      const prefixes = users.map(u => `${defaultNamespace(u.subject)}.`)
      const left = (await admin.listTopics()).filter(name => prefixes.some(p => name.startsWith(p)))
      if (left.length > 0) await admin.deleteTopics({ topics: left })
    } finally {
      await admin.disconnect()
    }
  })
}
