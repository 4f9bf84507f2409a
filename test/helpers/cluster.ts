/**
 * Several real nodes on one machine (issue 15): `server.ts` processes over one DynamoDB endpoint (moto, tables of
 * their own per test) and the local broker, authenticated by the Globus stand-in, behind a real round-robin load
 * balancer: HAProxy from Debian's packages (`.ci/run` installs it), started with a generated configuration on a
 * free port and stopped at teardown. Each request to the balancer may land on any node.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { NODE_FLAGS } from '../../node-flags.js'
import { SECRET_VARIABLES } from '../../plugins/config/config.js'
import { recordSecret, testLogSink } from '../../scripts/log-leaks.js'
import { freePort, freePorts } from '../../scripts/ports.js'
import { brokers, type Teardownable } from './broker.js'
import { dynamoEndpoint, TEST_REGION, uniqueTables } from './dynamo.js'
import { startGlobus, type GlobusStandIn } from './globus.js'
import { waitFor } from './wait.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface NodeProcess {
  id: string
  url: string
  child: ChildProcess
  lines: string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * Starts `server.ts` (one process, so a signal reaches the server itself) and waits until it listens. `nodeArgs`
 * go to node before the script (benchmarks: --cpu-prof, which NODE_OPTIONS may not carry).
 */
export async function startNode (
  t: Teardownable, id: string, env: Record<string, string>, nodeArgs: readonly string[] = []
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...nodeArgs, '--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  for (const name of SECRET_VARIABLES) recordSecret(env[name])
  const sink = testLogSink(`node-${id}`)
  const lines: string[] = []
  let stderr = ''
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  let buffered = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id} did not start within 60 s:\n${stderr}\n${lines.join('\n')}`)), 60_000)
    child.stdout?.on('data', (c: Buffer) => {
      buffered += c.toString()
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        lines.push(line)
        sink?.write(line)
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
        if (m) { clearTimeout(timer); resolve(m[1] as string) }
      }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node ${id} exited (${code}) before listening:\n${stderr}\n${lines.join('\n')}`)) })
  })
  return { id, url, child, lines, exited }
}

/** The HAProxy configuration of a round-robin balancer over `backends` (no stickiness, streaming, health checks). */
export function haproxyConfig (port: number, backends: string[]): string {
  return [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  retries 2',
    '  option redispatch',
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    '  option httpchk GET /health',
    ...backends.map((b, i) => `  server n${i} ${new URL(b).host} check inter 500 fall 2 rise 1`),
    ''
  ].join('\n')
}

/** HAProxy (Debian's `haproxy` package) in the foreground with a generated configuration; stopped at teardown. */
export async function startHaproxy (t: Teardownable, backends: string[]): Promise<string> {
  return startHaproxyOn(t, await freePort(), backends)
}

export interface Cluster {
  globus: GlobusStandIn
  nodes: NodeProcess[]
  /** The load balancer's URL (PUBLIC_URL of every node). */
  url: string
  secret: string
  /** Environment every node got (tests start more nodes with it). */
  env: Record<string, string>
}

/** `count` nodes over fresh DynamoDB tables, the broker and one Globus stand-in, behind HAProxy. */
export async function startCluster (
  t: Teardownable, count: number, extraEnv: Record<string, string> = {}
): Promise<Cluster> {
  const globus = await startGlobus(t)
  const tables = uniqueTables()
  const nodesTable = `nodes-${tables.users.slice('users-'.length)}`
  const instancesTable = `instances-${tables.users.slice('users-'.length)}`
  t.teardown(async () => {
    const client = new DynamoDBClient({ region: TEST_REGION, endpoint: dynamoEndpoint() })
    for (const name of [tables.users, tables.namespaces, tables.keys, nodesTable, instancesTable]) {
      await client.send(new DeleteTableCommand({ TableName: name })).catch(() => {})
    }
    client.destroy()
  })
  // One call: ports taken together are distinct.
  const [lbPort, ...ports] = await freePorts(count + 1) as [number, ...number[]]
  const secret = randomBytes(32).toString('base64url')
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DEFAULT_SERVERS: brokers().join(','),
    SERVER_CLIENT_ID: globus.clientId,
    SERVER_SECRET: globus.clientSecret,
    GLOBUS_AUTH_URL: globus.url,
    METADATA_STORE: 'dynamodb',
    METADATA_CREATE_TABLES: 'true',
    USERS_TABLE_NAME: tables.users,
    NAMESPACE_TABLE_NAME: tables.namespaces,
    KEYS_TABLE_NAME: tables.keys,
    NODES_TABLE_NAME: nodesTable,
    INSTANCES_TABLE_NAME: instancesTable,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint(),
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'testing',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'testing',
    TOPIC_DEFAULT_REPLICATION_FACTOR: '1',
    CONSUMER_FETCH_MAX_WAIT_MS: '100',
    NODE_SECRET: secret,
    NODE_HEARTBEAT_INTERVAL_MS: '500',
    NODE_EXPIRY_MS: '3000',
    PUBLIC_URL: `http://127.0.0.1:${lbPort}`,
    ...extraEnv
  }
  // The first node creates the tables; the others then find them.
  const nodes: NodeProcess[] = []
  const start = (i: number): Promise<NodeProcess> => startNode(t, `n${i + 1}`, {
    ...env, PORT: String(ports[i]), NODE_ID: `n${i + 1}`, NODE_URL: `http://127.0.0.1:${ports[i]}`
  })
  nodes.push(await start(0))
  nodes.push(...await Promise.all(Array.from({ length: count - 1 }, (_, i) => start(i + 1))))
  const url = await startHaproxyOn(t, lbPort, nodes.map(n => n.url))
  return { globus, nodes, url, secret, env }
}

async function startHaproxyOn (t: Teardownable, port: number, backends: string[]): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'diaspora-haproxy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'haproxy.cfg')
  writeFileSync(file, haproxyConfig(port, backends))
  return runHaproxy(t, file, `http://127.0.0.1:${port}`)
}

async function runHaproxy (t: Teardownable, file: string, url: string): Promise<string> {
  // Debian installs it in /usr/sbin, which a non-root PATH may lack.
  const bin = process.env.HAPROXY_BIN ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy')
  const child = spawn(bin, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  let failed: Error | undefined
  child.once('error', (err) => { failed = err })
  const exited = new Promise<void>(resolve => child.once('close', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null && failed === undefined) {
      child.kill('SIGTERM')
      await exited
    }
  })
  await waitFor(`haproxy to answer on ${url}`, async () => {
    if (failed !== undefined) throw new Error(`cannot run haproxy (Debian's haproxy package; .ci/run installs it): ${failed.message}`)
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`)
    try {
      return (await fetch(`${url}/health`)).status === 200
    } catch {
      return false
    }
  }, 20_000)
  return url
}
