// `npm run fuzz`: schemathesis (PyPI) against the OpenAPI document of the real app.
//
// 1. Installs the pinned schemathesis of test/fuzz/requirements.txt into the git-ignored .venv-fuzz/ when it
//    is missing or outdated (scripts/venv.ts: python3 -m venv + pip).
// 2. Uses the local broker, starting one (and stopping it afterwards) only when none answers, as `npm test`
//    does; KAFKA_TEST_BROKERS points at a cluster of your own instead.
// 3. Starts the whole app in this process on a loopback port (test/helpers/app.ts: the Globus stand-in,
//    a temporary metadata store), creates a user with a valid token, an extra namespace and a topic holding
//    records (so DELETE /user and namespace releases meet their 409s instead of emptying the fixture), and a
//    consumer instance subscribed to that topic that has joined its group, so that path parameters reach
//    real things.
// 4. Runs `schemathesis run /docs/json` with test/fuzz/schemathesis.toml: the token, the namespace, group and
//    instance fixed; checks not_a_server_error, status_code_conformance, content_type_conformance and
//    response_schema_conformance; a per-request timeout (no hangs) and a cap on the whole run.
//
// Env: FUZZ_MAX_EXAMPLES (default 100 per operation), FUZZ_TIME_LIMIT_S (default 600: the run fails when
// schemathesis has not finished by then), FUZZ_SEED (reproduce a run), FUZZ_WORKERS (default 1),
// FUZZ_PHASES (default examples,coverage,fuzzing,stateful), FUZZ_REPORT_DIR (default .tap/fuzz: JUnit report),
// LOG_LEVEL (default error: the app logs every 5xx with its stack). Arguments after `--` go to schemathesis.
// Exit code: schemathesis' (0 when every check passed), 124 on the time cap, 1 when the set-up failed.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { brokerConfig, isBrokerUp, startBroker, stopBroker } from '../../scripts/broker.js'
import { ensureVenv } from '../../scripts/venv.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const HERE = path.join(ROOT, 'test', 'fuzz')
const VENV = path.join(ROOT, '.venv-fuzz')
const REQUIREMENTS = path.join(HERE, 'requirements.txt')

function log (line: string): void {
  console.log(`[fuzz] ${line}`)
}

function intEnv (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${raw}'`)
  return n
}

type Cleanup = () => unknown

async function main (): Promise<number> {
  const maxExamples = intEnv('FUZZ_MAX_EXAMPLES', 100)
  const timeLimitS = intEnv('FUZZ_TIME_LIMIT_S', 600)
  // One worker: CPython 3.11's ast.parse is not safe across threads, and hypothesis parses source when it names a
  // filter; with two workers a CI run died on "SystemError: AST constructor recursion depth mismatch" in
  // schemathesis itself, not in a request to the API.
  const workers = intEnv('FUZZ_WORKERS', 1)
  const phases = process.env.FUZZ_PHASES || 'examples,coverage,fuzzing,stateful'
  const reportDir = path.resolve(ROOT, process.env.FUZZ_REPORT_DIR || path.join('.tap', 'fuzz'))
  const schemathesis = ensureVenv({ dir: VENV, requirements: REQUIREMENTS, log }).bin('schemathesis')

  const cleanups: Cleanup[] = []
  const t = { teardown: (fn: Cleanup) => { cleanups.push(fn) } }
  let child: ChildProcess | undefined
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true
    if (child?.pid !== undefined && child.exitCode === null) child.kill(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    // ---- broker ----------------------------------------------------------------------------------------
    if (!process.env.KAFKA_TEST_BROKERS) {
      const cfg = brokerConfig()
      process.env.KAFKA_TEST_BROKERS = `${cfg.host}:${cfg.port}`
      if (!(await isBrokerUp(cfg.port, cfg.host))) {
        const { started } = await startBroker(cfg)
        if (started) cleanups.push(() => stopBroker())
      }
    }
    if (interrupted) return 130

    // ---- app and fixture -------------------------------------------------------------------------------
    // Imported only now: test/helpers/broker.ts reads KAFKA_TEST_BROKERS when called, but keep the order plain.
    const { build } = await import('../helpers/app.js')
    const { apiUser, shortName } = await import('../helpers/api.js')
    const { brokers } = await import('../helpers/broker.js')
    const { app, globus, url } = await build(t, {
      listen: true,
      env: {
        LOG_LEVEL: process.env.LOG_LEVEL || 'error',
        // Bounded long polls: the fuzzer may ask for any ?timeout.
        CONSUMER_REQUEST_TIMEOUT_MS: '500',
        CONSUMER_REQUEST_TIMEOUT_MAX_MS: '2000',
        CONSUMER_MAX_INSTANCES_PER_SUBJECT: '100000',
        CONSUMER_INSTANCE_TIMEOUT_MS: '600000'
      }
    })
    const user = await apiUser(app, globus)
    // scratch: target of topic deletes and recreates; held: keeps a topic all along, so it is never released
    // and DELETE /user always answers 409 (see schemathesis.toml).
    const scratchNs = shortName('fzs')
    const heldNs = shortName('fzh')
    const admin = new Kafka({ clientId: 'diaspora-fuzz', brokers: brokers(), logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    // Runs before app.close (cleanups run last-in first-out): every Kafka topic left in the user's namespaces.
    cleanups.push(async () => {
      try {
        const listed = await user.req('GET', 'namespace')
        const owned = listed.statusCode === 200 ? Object.keys(listed.json().namespaces as object) : []
        const prefixes = [...new Set([user.ns, scratchNs, heldNs, ...owned])].map(ns => `${ns}.`)
        const mine = (await admin.listTopics()).filter(name => prefixes.some(p => name.startsWith(p)))
        if (mine.length > 0) await admin.deleteTopics({ topics: mine })
      } finally {
        await admin.disconnect()
      }
    })
    const ok = async (method: 'POST', url: string, body?: unknown): Promise<void> => {
      const res = await user.req(method, url, body, body === undefined ? {} : { 'content-type': 'application/json' })
      if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
    }
    await ok('POST', `namespace/${scratchNs}`)
    await ok('POST', `namespace/${heldNs}`)
    await ok('POST', `${scratchNs}/events`, { num_partitions: 2 })
    await ok('POST', `${heldNs}/held`, { num_partitions: 1 })
    await ok('POST', `${user.ns}/${shortName('keep')}`, { num_partitions: 2 })
    const topic = (await user.req('GET', 'namespace')).json().namespaces[user.ns][0] as string
    const producer = new Kafka({ clientId: 'diaspora-fuzz', brokers: brokers(), logLevel: logLevel.NOTHING }).producer()
    await producer.connect()
    await producer.send({
      topic: `${user.ns}.${topic}`,
      messages: Array.from({ length: 50 }, (_, i) => ({ key: i % 3 === 0 ? null : `k${i}`, value: i % 5 === 0 ? null : `value-${i}`, partition: i % 2, headers: i % 4 === 0 ? { h: `x${i}` } : {} }))
    })
    await producer.disconnect()
    const group = shortName('g')
    const instance = 'fuzz-1'
    const path0 = await user.subscriber(group, [topic], { name: instance })
    // Join the group, so that reads, seeks and commits have partitions to work on.
    for (let i = 0; i < 30; i++) {
      const held = (await user.req('GET', `${path0}/assignments`)).json().partitions.length
      if (held === 2) break
      await user.req('GET', `${path0}/records?timeout=500`, undefined, { accept: 'application/vnd.kafka.binary.v2+json' })
    }
    const doomed = 'fuzz-doomed'
    await user.consumer(group, { name: doomed })
    log(`app on ${url}; namespace ${user.ns} (topic ${topic}, instance ${group}/${instance}), scratch namespace ${scratchNs}`)
    if (interrupted) return 130

    // ---- schemathesis ----------------------------------------------------------------------------------
    fs.mkdirSync(reportDir, { recursive: true })
    const args = [
      '--config-file', path.join(HERE, 'schemathesis.toml'),
      'run', `${url}/docs/json`,
      '--url', url,
      '--max-examples', String(maxExamples),
      '--workers', String(workers),
      '--phases', phases,
      '--report', 'junit',
      '--report-dir', reportDir,
      '--generation-database', 'none',
      '--no-color',
      ...(process.env.FUZZ_SEED ? ['--seed', process.env.FUZZ_SEED] : []),
      ...process.argv.slice(2)
    ]
    log(`schemathesis ${args.map(a => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`)
    const started = Date.now()
    const code = await new Promise<number>((resolve, reject) => {
      child = spawn(schemathesis, args, {
        cwd: ROOT,
        stdio: 'inherit',
        env: {
          ...process.env,
          FUZZ_TOKEN: user.token,
          FUZZ_NAMESPACE: user.ns,
          FUZZ_GROUP: group,
          FUZZ_INSTANCE: instance,
          FUZZ_DOOMED_INSTANCE: doomed,
          FUZZ_SCRATCH_NAMESPACE: scratchNs,
          FUZZ_TOPIC: topic
        }
      })
      const cap = setTimeout(() => {
        log(`time cap of ${timeLimitS} s reached: stopping schemathesis`)
        child?.kill('SIGTERM')
        setTimeout(() => child?.kill('SIGKILL'), 10_000).unref()
        resolve(124)
      }, timeLimitS * 1000)
      child.once('error', reject)
      child.once('exit', (exitCode, signal) => {
        clearTimeout(cap)
        resolve(exitCode ?? (signal === 'SIGINT' ? 130 : 1))
      })
    })
    log(`schemathesis exited with ${code} after ${Math.round((Date.now() - started) / 1000)} s; JUnit report in ${path.relative(ROOT, reportDir)}/`)
    return interrupted && code === 0 ? 130 : code
  } finally {
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch (err) {
        log(`cleanup: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }
}

main().then(
  (code) => { process.exit(code) },
  (err: unknown) => {
    console.error(`[fuzz] ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    process.exit(1)
  }
)
