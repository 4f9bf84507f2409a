// `npm run start:local`: the service on a local Kafka broker, with the local dev login.
//
// 1. Starts the local broker (`npm run broker -- start`; idempotent, so a running one is reused).
//    Skipped when DEFAULT_SERVERS / KAFKA_BOOTSTRAP_SERVERS point somewhere else.
// 2. Runs `server.ts` under tsx with these defaults, each only when not already set:
//      AUTH_MODE=dev  DEFAULT_SERVERS=127.0.0.1:9092  TOPIC_DEFAULT_REPLICATION_FACTOR=1
//      METADATA_STORE=./data/metadata.json
//    The server listens on 127.0.0.1 in dev mode unless HOST is set (plugins/config: a HOST other than loopback
//    also needs DEV_ALLOW_REMOTE=true), and prints the dev token on stderr, never in its log.
// 3. Forwards SIGINT / SIGTERM to the server and exits with its exit code.
//
// The broker keeps running afterwards (the next start is then instant): `npm run broker -- stop`.
import { spawn } from 'node:child_process'
import { NODE_FLAGS } from '../node-flags.js'
import { parseMetadataStore } from '../plugins/config/config.js'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SIGNALS = ['SIGINT', 'SIGTERM'] as const
const SIGNAL_NUMBERS: Record<(typeof SIGNALS)[number], number> = { SIGINT: 2, SIGTERM: 15 }

function log (line: string): void {
  console.log(`[dev] ${line}`)
}

function isSet (name: string): boolean {
  const value = process.env[name]
  return value !== undefined && value !== ''
}

/** The address the local broker listens on (scripts/broker.ts: 127.0.0.1, KAFKA_PORT or 9092). */
function localBroker (): string {
  return `127.0.0.1:${isSet('KAFKA_PORT') ? String(process.env.KAFKA_PORT) : '9092'}`
}

/** True when the configured bootstrap servers are the local broker (or unset). */
function usesLocalBroker (): boolean {
  const configured = process.env.DEFAULT_SERVERS || process.env.KAFKA_BOOTSTRAP_SERVERS
  if (!configured) return true
  const port = localBroker().split(':')[1]
  return configured.split(',').map(s => s.trim()).every(s => s === `127.0.0.1:${port}` || s === `localhost:${port}`)
}

function serverEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  const defaults: Record<string, string> = {
    AUTH_MODE: 'dev',
    TOPIC_DEFAULT_REPLICATION_FACTOR: '1',
    METADATA_STORE: './data/metadata.json'
  }
  // KAFKA_BOOTSTRAP_SERVERS is an alias of DEFAULT_SERVERS: setting DEFAULT_SERVERS would shadow it.
  if (!isSet('DEFAULT_SERVERS') && !isSet('KAFKA_BOOTSTRAP_SERVERS')) defaults.DEFAULT_SERVERS = localBroker()
  for (const [name, value] of Object.entries(defaults)) {
    if (!isSet(name)) env[name] = value
  }
  return env
}

/** Runs a command to completion with inherited stdio; resolves with its exit code. */
function runToEnd (command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit' })
    child.once('error', reject)
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGTERM' ? 15 : 2)))
  })
}

let server: ReturnType<typeof spawn> | undefined

function serverRunning (): boolean {
  return server !== undefined && server.exitCode === null && server.signalCode === null
}

async function main (): Promise<number> {
  let interrupted: (typeof SIGNALS)[number] | undefined

  for (const signal of SIGNALS) {
    process.on(signal, () => {
      interrupted ??= signal
      // The server runs in its own process group (see below), so a terminal's Ctrl-C reaches only this
      // process: pass every signal on once. A second Ctrl-C makes the server skip its grace period.
      if (serverRunning()) server?.kill(signal)
    })
  }

  if (usesLocalBroker()) {
    log('starting the local Kafka broker (npm run broker -- start)')
    const code = await runToEnd('npm', ['run', '--silent', 'broker', '--', 'start'])
    if (interrupted !== undefined) return 128 + SIGNAL_NUMBERS[interrupted]
    if (code !== 0) {
      log(`the local broker did not start (exit ${code}); see the messages above`)
      return code
    }
  } else {
    log('DEFAULT_SERVERS / KAFKA_BOOTSTRAP_SERVERS name another cluster: not starting the local broker')
  }

  const env = serverEnv()
  const store = env.METADATA_STORE as string
  // Read as the service reads it (a file: URL is a path too); a value it refuses fails the start, saying why.
  const configured = parseMetadataStore(store)
  if ('store' in configured && configured.store !== 'dynamodb') fs.mkdirSync(path.dirname(path.resolve(ROOT, configured.store)), { recursive: true })
  const host = isSet('HOST') ? String(env.HOST) : env.AUTH_MODE === 'dev' ? '127.0.0.1' : '0.0.0.0'
  log(`starting the service: AUTH_MODE=${env.AUTH_MODE} HOST=${host} DEFAULT_SERVERS=${env.DEFAULT_SERVERS ?? env.KAFKA_BOOTSTRAP_SERVERS} ` +
    `METADATA_STORE=${store}`)

  const code = await new Promise<number>((resolve, reject) => {
    // `tsx server.ts`, as `node --import tsx` so that this process is the server's direct parent.
    // Its own process group: otherwise a terminal's Ctrl-C would reach it twice (directly and forwarded),
    // and close-with-grace treats a second signal as "exit now".
    server = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', 'server.ts'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true
    })
    server.once('error', reject)
    server.once('exit', (exitCode, signal) => {
      resolve(exitCode ?? 128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 9))
    })
  })
  if (usesLocalBroker()) log('the local broker is still running; stop it with: npm run broker -- stop')
  return code
}

// The server has its own process group: never leave it behind if this process ends on an unexpected error.
process.on('exit', () => {
  if (serverRunning()) server?.kill('SIGTERM')
})

main().then(
  (code) => { process.exit(code) },
  (err: unknown) => {
    console.error(`[dev] ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  }
)
