// Local single-node Apache Kafka (KRaft, combined broker + controller) run from Maven jars.
//
//   npm run broker -- start | stop | status
//
// Env: KAFKA_VERSION (default 3.9.1), KAFKA_PORT (9092), KAFKA_SASL_PORT (9094),
// KAFKA_CONTROLLER_PORT (9093), KAFKA_KEEP_DATA=1 (reuse the data of the previous run),
// KAFKA_RUN_DIR (.kafka/run: pid file, log, data; give a second broker its own).
// State lives in .kafka/ (git-ignored): jars/<version>/ and run/.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { freePorts } from './ports.js'

export const DEFAULT_KAFKA_VERSION = '3.9.1'
const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 90_000
const STOP_GRACE_MS = 10_000

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BROKER_DIR = path.join(ROOT, 'broker')
const KAFKA_DIR = path.join(ROOT, '.kafka')
/** The default run folder; KAFKA_RUN_DIR (BrokerConfig.runDir) names another, e.g. for a second broker. */
export const RUN_DIR = path.join(KAFKA_DIR, 'run')

/** The files of one broker's run folder. */
function runFiles (runDir: string) {
  return {
    pid: path.join(runDir, 'broker.pid'),
    info: path.join(runDir, 'broker.json'),
    log: path.join(runDir, 'broker.log'),
    data: path.join(runDir, 'data'),
    dataVersion: path.join(runDir, 'data.version')
  }
}

export interface BrokerConfig {
  version: string
  host: string
  port: number
  saslPort: number
  controllerPort: number
  keepData: boolean
  /** Folder of the pid file, log and data (default .kafka/run). */
  runDir: string
}

interface BrokerInfo {
  pid: number
  version: string
  port: number
  saslPort: number
  controllerPort: number
  startedAt: string
}

export function brokerConfig (env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const version = env.KAFKA_VERSION || DEFAULT_KAFKA_VERSION
  // The version becomes part of paths and Maven arguments.
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`KAFKA_VERSION must look like 3.9.1, got '${version}'`)
  return {
    version,
    host: HOST,
    port: portFromEnv(env, 'KAFKA_PORT', 9092),
    saslPort: portFromEnv(env, 'KAFKA_SASL_PORT', 9094),
    controllerPort: portFromEnv(env, 'KAFKA_CONTROLLER_PORT', 9093),
    keepData: env.KAFKA_KEEP_DATA === '1',
    runDir: env.KAFKA_RUN_DIR ? path.resolve(ROOT, env.KAFKA_RUN_DIR) : RUN_DIR
  }
}

function portFromEnv (env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a TCP port, got '${raw}'`)
  return port
}

function log (line: string): void {
  console.log(`[broker] ${line}`)
}

function seconds (ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

export function kafkaMajor (version: string): number {
  return Number(version.split('.')[0])
}

/** Folder holding every runtime jar of that Kafka version (the tarball's libs/ equivalent). */
export function kafkaJarDir (version: string = brokerConfig().version): string {
  return path.join(KAFKA_DIR, 'jars', version)
}

const COMPLETE_MARKER = '.complete'

/** Downloads the jars with Maven unless a complete copy is already there; returns the folder. */
export async function ensureJars (version: string = brokerConfig().version): Promise<string> {
  const dir = kafkaJarDir(version)
  if (fs.existsSync(path.join(dir, COMPLETE_MARKER))) return dir

  log(`fetching Kafka ${version} jars with Maven into ${path.relative(ROOT, dir)}/`)
  const began = performance.now()
  // Copy into a private side folder and rename, so an interrupted fetch never looks
  // complete and concurrent fetches (parallel test files) do not mix their files.
  const partial = `${dir}.partial-${process.pid}`
  fs.rmSync(partial, { recursive: true, force: true })
  const major = kafkaMajor(version)
  const result = await run('mvn', [
    '-q', '-B',
    '-f', path.join(BROKER_DIR, 'pom.xml'),
    `-Dkafka.version=${version}`,
    `-Dkafka.major=${major >= 4 ? 4 : 3}`,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    // Maven resolves a relative output folder against the pom's folder, so pass it absolute.
    `-DoutputDirectory=${partial}`
  ])
  const serverJar = path.join(partial, `kafka_2.13-${version}.jar`)
  if (result.code !== 0 || !fs.existsSync(serverJar)) {
    fs.rmSync(partial, { recursive: true, force: true })
    throw new Error(`Maven could not fetch Kafka ${version} (exit ${result.code}):\n${result.output.trim()}`)
  }
  const jars = fs.readdirSync(partial).filter((name) => name.endsWith('.jar')).sort()
  fs.writeFileSync(path.join(partial, COMPLETE_MARKER), jars.join('\n') + '\n')
  if (fs.existsSync(path.join(dir, COMPLETE_MARKER))) {
    fs.rmSync(partial, { recursive: true, force: true }) // another process finished first
  } else {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.renameSync(partial, dir)
  }
  log(`fetched ${jars.length} jars in ${seconds(performance.now() - began)}`)
  return dir
}

export function javaBin (): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java'
}

/**
 * JVM arguments that put a Kafka version's jars on the classpath with its logging config
 * (log4j 1 for 3.x, log4j2 for 4.x). Used for the broker and for the command-line tools.
 */
export function kafkaJvmArgs (version: string): string[] {
  const logging = kafkaMajor(version) >= 4
    ? `-Dlog4j2.configurationFile=${path.join(BROKER_DIR, 'log4j2.properties')}`
    : `-Dlog4j.configuration=file:${path.join(BROKER_DIR, 'log4j.properties')}`
  return [
    // Serial GC and C1 only: less CPU contention and faster start on a 2-core machine.
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    logging,
    '-cp', path.join(kafkaJarDir(version), '*')
  ]
}

/** Runs a short-lived command (Java tool, Maven) and collects its combined output. */
export function run (command: string, args: string[], input?: string): Promise<{ code: number, output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }))
    child.stdin.end(input)
  })
}

/** A KRaft cluster id: 16 random bytes, base64url without padding, as Uuid.toString() makes. */
function clusterId (): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    // Kafka's own generator avoids a leading '-', which option parsers take for a flag.
    if (!id.startsWith('-')) return id
  }
}

function renderServerProperties (cfg: BrokerConfig): string {
  const template = fs.readFileSync(path.join(BROKER_DIR, 'server.properties'), 'utf8')
  const values: Record<string, string> = {
    PLAINTEXT_PORT: String(cfg.port),
    SASL_PORT: String(cfg.saslPort),
    CONTROLLER_PORT: String(cfg.controllerPort),
    DATA_DIR: runFiles(cfg.runDir).data
  }
  return template.replace(/@([A-Z_]+)@/g, (match, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`unknown placeholder ${match} in broker/server.properties`)
    return value
  })
}

async function formatStorage (cfg: BrokerConfig, propsFile: string): Promise<void> {
  const began = performance.now()
  const result = await run(javaBin(), [
    '-Xmx256m',
    ...kafkaJvmArgs(cfg.version),
    'kafka.tools.StorageTool', 'format',
    '--cluster-id', clusterId(),
    '--config', propsFile,
    // SCRAM credentials must exist before start-up: kafkajs cannot create them.
    '--add-scram', 'SCRAM-SHA-512=[name=alice,password=alice-secret]'
  ])
  // 4.x echoes the bootstrap records (SCRAM keys included): keep that out of the console.
  fs.writeFileSync(path.join(cfg.runDir, 'format.log'), result.output)
  if (result.code !== 0) throw new Error(`formatting storage failed (exit ${result.code}):\n${result.output.trim()}`)
  fs.writeFileSync(runFiles(cfg.runDir).dataVersion, cfg.version + '\n')
  log(`formatted fresh storage in ${seconds(performance.now() - began)}`)
}

/** Whether the process is alive and is a Kafka broker (guards against a reused pid). */
function isKafkaProcess (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // A zombie has an empty command line, and another program would not name kafka.Kafka.
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka')
  } catch {
    return true // no /proc: trust the signal check
  }
}

/** The broker this checkout started from that run folder, if it is still alive. */
function ourBroker (runDir: string = brokerConfig().runDir): BrokerInfo | undefined {
  const files = runFiles(runDir)
  let pid: number
  try {
    pid = Number(fs.readFileSync(files.pid, 'utf8').trim())
  } catch {
    return undefined
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isKafkaProcess(pid)) return undefined
  try {
    return { ...(JSON.parse(fs.readFileSync(files.info, 'utf8')) as Omit<BrokerInfo, 'pid'>), pid }
  } catch {
    // Written right after the pid file; a start may be between the two.
    const { port, saslPort, controllerPort } = brokerConfig()
    return { pid, version: '?', port, saslPort, controllerPort, startedAt: '?' }
  }
}

function tcpReachable (host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ host, port })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

function probeClient (brokers: string[], timeoutMs: number): Kafka {
  return new Kafka({
    clientId: 'broker-script',
    brokers,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs * 2,
    retry: { retries: 0 },
    // kafkajs logs every refused connection at ERROR; failures are expected while polling.
    logLevel: logLevel.NOTHING
  })
}

/** A throwaway broker (tests, soak): its own run folder under the OS temp dir and three distinct free ports. */
export async function privateBrokerConfig (prefix: string): Promise<BrokerConfig> {
  const [port, saslPort, controllerPort] = await freePorts(3) as [number, number, number]
  return {
    ...brokerConfig(),
    port,
    saslPort,
    controllerPort,
    runDir: fs.mkdtempSync(path.join(os.tmpdir(), prefix)),
    keepData: false
  }
}

/** True when a Kafka broker answers a metadata request on host:port. */
export async function isBrokerUp (port: number = brokerConfig().port, host: string = HOST): Promise<boolean> {
  if (!(await tcpReachable(host, port, 1000))) return false
  const admin = probeClient([`${host}:${port}`], 1000).admin()
  try {
    await admin.connect()
    await admin.describeCluster()
    return true
  } catch {
    return false
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

/** The end of the broker log without Java stack frames, which would crowd out the cause. */
function logTail (logFile: string, lines = 25): string {
  try {
    return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n')
      .filter((line) => !/^\s+(at |\.\.\. \d+ more)/.test(line))
      .slice(-lines).join('\n')
  } catch {
    return '(no broker log)'
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function waitUntilReady (cfg: BrokerConfig, child: ChildProcess | undefined, pid: number): Promise<void> {
  const logFile = runFiles(cfg.runDir).log
  let exited: string | undefined
  child?.once('exit', (code, signal) => { exited = signal ? `signal ${signal}` : `exit code ${code}` })
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (exited !== undefined || (child === undefined && !isKafkaProcess(pid))) {
      throw new Error(`the broker JVM died (${exited ?? 'gone'}) before it was ready; last lines of ${path.relative(ROOT, logFile)}:\n${logTail(logFile)}`)
    }
    if (await isBrokerUp(cfg.port, cfg.host)) return
    if (Date.now() > deadline) {
      throw new Error(`the broker did not answer on ${cfg.host}:${cfg.port} within ${seconds(READY_TIMEOUT_MS)}; last lines of ${path.relative(ROOT, logFile)}:\n${logTail(logFile)}`)
    }
    await sleep(200)
  }
}

/**
 * Creates __consumer_offsets now (first FindCoordinator) and waits until its coordinator has
 * loaded, so the first test does not pay for that.
 */
async function warmUp (cfg: BrokerConfig, deadline: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'broker-script',
    brokers: [`${cfg.host}:${cfg.port}`],
    retry: { retries: 5, initialRetryTime: 100 },
    logLevel: logLevel.NOTHING
  })
  const admin = kafka.admin()
  await admin.connect()
  try {
    for (;;) {
      try {
        await admin.fetchOffsets({ groupId: 'broker-script-warmup' })
        return
      } catch (err) {
        // kafkajs' admin does not retry COORDINATOR_LOAD_IN_PROGRESS, which 4.x answers
        // for a moment after creating the offsets topic.
        const retriable = (err as { retriable?: boolean }).retriable === true
        if (!retriable || Date.now() > deadline) throw err
        await sleep(100)
      }
    }
  } finally {
    await admin.disconnect()
  }
}

export interface StartResult {
  /** False when a broker was already answering (or starting) and this call left it alone. */
  started: boolean
  pid?: number
}

export async function startBroker (cfg: BrokerConfig = brokerConfig()): Promise<StartResult> {
  const began = performance.now()
  const files = runFiles(cfg.runDir)
  const ours = ourBroker(cfg.runDir)
  if (ours !== undefined && ours.port !== cfg.port) {
    throw new Error(`this checkout's broker (Kafka ${ours.version}, pid ${ours.pid}) already runs on port ${ours.port}; stop it first`)
  }
  if (await isBrokerUp(cfg.port, cfg.host)) {
    if (ours === undefined) {
      log(`a broker already answers on ${cfg.host}:${cfg.port} (not started by this script); leaving it alone`)
    } else {
      log(`Kafka ${ours.version} (pid ${ours.pid}) already answers on ${cfg.host}:${cfg.port}`)
      if (ours.version !== cfg.version) log(`note: it is not Kafka ${cfg.version}; stop it first to switch versions`)
    }
    return { started: false, pid: ours?.pid }
  }
  if (ours !== undefined) {
    // Another start is still booting this broker: wait for it rather than racing it.
    log(`broker pid ${ours.pid} is starting; waiting for it`)
    await waitUntilReady(cfg, undefined, ours.pid)
    log(`broker ready on ${cfg.host}:${cfg.port}`)
    return { started: false, pid: ours.pid }
  }

  await ensureJars(cfg.version)
  fs.mkdirSync(path.join(cfg.runDir, 'logs'), { recursive: true })
  const propsFile = path.join(cfg.runDir, 'server.properties')
  fs.writeFileSync(propsFile, renderServerProperties(cfg))

  let dataVersion: string | undefined
  try {
    dataVersion = fs.readFileSync(files.dataVersion, 'utf8').trim()
  } catch {}
  const reuse = cfg.keepData && dataVersion === cfg.version && fs.existsSync(path.join(files.data, 'meta.properties'))
  if (reuse) {
    log('KAFKA_KEEP_DATA=1: reusing existing data')
  } else {
    if (cfg.keepData) log(`KAFKA_KEEP_DATA=1 but no data from Kafka ${cfg.version} to reuse; formatting`)
    fs.rmSync(files.data, { recursive: true, force: true })
    await formatStorage(cfg, propsFile)
  }

  const spawnedAt = performance.now()
  const out = fs.openSync(files.log, 'w')
  const child = spawn(javaBin(), [
    '-Xms256m', '-Xmx768m',
    '-XX:+ExitOnOutOfMemoryError',
    `-Dkafka.logs.dir=${path.join(cfg.runDir, 'logs')}`,
    ...kafkaJvmArgs(cfg.version),
    'kafka.Kafka', propsFile
  ], { detached: true, stdio: ['ignore', out, out] })
  fs.closeSync(out)
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number))
    child.once('error', reject)
  })
  fs.writeFileSync(files.pid, `${pid}\n`)
  const info: Omit<BrokerInfo, 'pid'> = {
    version: cfg.version,
    port: cfg.port,
    saslPort: cfg.saslPort,
    controllerPort: cfg.controllerPort,
    startedAt: new Date().toISOString()
  }
  fs.writeFileSync(files.info, JSON.stringify(info, null, 2) + '\n')
  log(`started Kafka ${cfg.version} (pid ${pid}), waiting for ${cfg.host}:${cfg.port}`)

  try {
    await waitUntilReady(cfg, child, pid)
    const readyAt = performance.now()
    await warmUp(cfg, Date.now() + READY_TIMEOUT_MS)
    log(`ready in ${seconds(readyAt - spawnedAt)} + warm-up ${seconds(performance.now() - readyAt)} ` +
      `(total ${seconds(performance.now() - began)}): PLAINTEXT ${cfg.host}:${cfg.port}, ` +
      `SASL_PLAINTEXT ${cfg.host}:${cfg.saslPort}, log ${path.relative(ROOT, files.log)}`)
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    fs.rmSync(files.pid, { force: true })
    throw err
  } finally {
    // Let this Node process exit while the broker keeps running.
    child.unref()
  }
  return { started: true, pid }
}

/** Stops the broker recorded in the run folder's pid file; false when none was running. */
export async function stopBroker (cfg: Pick<BrokerConfig, 'runDir'> = brokerConfig()): Promise<boolean> {
  const pidFile = runFiles(cfg.runDir).pid
  const pid = ourBroker(cfg.runDir)?.pid
  if (pid === undefined) {
    fs.rmSync(pidFile, { force: true })
    log('no broker started by this script is running')
    return false
  }
  const began = performance.now()
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + STOP_GRACE_MS
  while (isKafkaProcess(pid) && Date.now() < deadline) await sleep(100)
  if (isKafkaProcess(pid)) {
    log(`pid ${pid} still running after ${seconds(STOP_GRACE_MS)}; sending SIGKILL`)
    process.kill(pid, 'SIGKILL')
    while (isKafkaProcess(pid)) await sleep(50)
  }
  fs.rmSync(pidFile, { force: true })
  log(`stopped broker pid ${pid} in ${seconds(performance.now() - began)}`)
  return true
}

export interface BrokerStatus {
  running: boolean
  /** Pid of a broker started by this script, if alive. */
  pid?: number
  version?: string
  message: string
}

export async function brokerStatus (cfg: BrokerConfig = brokerConfig()): Promise<BrokerStatus> {
  const ours = ourBroker(cfg.runDir)
  if (ours !== undefined) {
    // Check the ports it was started with, whatever this shell's KAFKA_PORT says.
    const where = `PLAINTEXT ${cfg.host}:${ours.port}, SASL_PLAINTEXT ${cfg.host}:${ours.saslPort}`
    if (await isBrokerUp(ours.port, cfg.host)) {
      return { running: true, pid: ours.pid, version: ours.version, message: `running: Kafka ${ours.version}, pid ${ours.pid}, ${where}` }
    }
    return {
      running: false,
      pid: ours.pid,
      version: ours.version,
      message: `not running: pid ${ours.pid} (Kafka ${ours.version}) is alive but does not answer on ${cfg.host}:${ours.port} (starting? see ${path.relative(ROOT, runFiles(cfg.runDir).log)})`
    }
  }
  if (await isBrokerUp(cfg.port, cfg.host)) {
    return { running: true, message: `running: a broker answers on ${cfg.host}:${cfg.port} (not started by this script)` }
  }
  return { running: false, message: `not running: nothing answers on ${cfg.host}:${cfg.port}` }
}

async function main (argv: string[]): Promise<number> {
  const command = argv[0]
  switch (command) {
    case 'start':
      await startBroker()
      return 0
    case 'stop':
      await stopBroker()
      return 0
    case 'status': {
      const status = await brokerStatus()
      console.log(status.message)
      return status.running ? 0 : 1
    }
    default:
      console.error('usage: npm run broker -- start|stop|status')
      return 2
  }
}

function invokedDirectly (): boolean {
  const script = process.argv[1]
  if (!script) return false
  try {
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code },
    (err: unknown) => {
      console.error(`[broker] ${err instanceof Error ? err.message : String(err)}`)
      process.exitCode = 1
    }
  )
}
