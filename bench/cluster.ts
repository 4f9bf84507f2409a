/**
 * `npx tsx bench/cluster.ts [--quick]`: the several-node figures of issue 15 (BENCHMARKS.md, "Several nodes").
 *
 * Starts moto (local DynamoDB), the Globus stand-in and three real `server.ts` processes against the local broker
 * (started if none answers): nodes A and B in several-node mode over moto, node F a single node on the file
 * store. Measures, each direct to a node's port (no balancer, so the figure is the forwarding alone):
 * 1. fetch throughput (records/s) of an instance read through its owner A, and of another instance (its own
 *    group, the same records) read through B, which forwards every GET records to A;
 * 2. latency of a cheap instance request (GET …/assignments) through A and through B: the median difference is
 *    what a forwarded request adds; with it, each node's CPU time per request (A's own, and A's and B's for a
 *    forwarded one), which says where the added time goes and moves less with load;
 * 3. a management route (GET /api/v3/namespace, a metadata store read) on A (DynamoDB store) and on F (file
 *    store): the DynamoDB store's overhead per request.
 * Prints a table; not part of `npm run bench`'s report (copy the figures into BENCHMARKS.md). `--profile`: A and B
 * write V8 CPU profiles of the whole run to bench/out/profiles/ (git-ignored).
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { brokerConfig, isBrokerUp, startBroker } from '../scripts/broker.js'
import { startMoto } from '../scripts/moto.js'
import { startNode } from '../test/helpers/cluster.js'
import { freePorts } from '../scripts/ports.js'
import { startGlobus } from '../test/helpers/globus.js'
import { uniqueTables } from '../test/helpers/dynamo.js'
import { defaultNamespace } from '../plugins/namespaces/names.js'
import { prefill } from './lib/kafka.js'
import { percentile } from './lib/stats.js'

const quick = process.argv.includes('--quick')
// --profile: nodes A (owner) and B (forwarding) write V8 CPU profiles (bench/out/profiles/) of the whole run.
const profile = process.argv.includes('--profile')
const PROFILES = path.join('bench', 'out', 'profiles')
const RECORDS = quick ? 30_000 : 200_000
const RECORD_BYTES = 200
const LATENCY_SAMPLES = quick ? 400 : 3000
const MGMT_SAMPLES = quick ? 200 : 1000
const BINARY = 'application/vnd.kafka.binary.v2+json'
const V2 = 'application/vnd.kafka.v2+json'

const teardowns: Array<() => unknown> = []
const t = { teardown (fn: () => unknown) { teardowns.push(fn) } }
const log = (line: string): void => { process.stderr.write(`[bench:cluster] ${line}\n`) }

async function main (): Promise<void> {
  if (!(await isBrokerUp())) { log('starting the local broker'); await startBroker() }
  const brokers = [`127.0.0.1:${brokerConfig().port}`]
  const moto = await startMoto({ log })
  t.teardown(() => moto.stop())
  const globus = await startGlobus(t)
  const tables = uniqueTables()
  const dir = mkdtempSync(path.join(tmpdir(), 'diaspora-bench-cluster-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [pa, pb, pf] = await freePorts(3) as [number, number, number]
  const common = {
    HOST: '127.0.0.1',
    // The default level (each request logged once per node it passes, as in production); startNode waits for the
    // listening line.
    LOG_LEVEL: 'info',
    DEFAULT_SERVERS: brokers.join(','),
    SERVER_CLIENT_ID: globus.clientId,
    SERVER_SECRET: globus.clientSecret,
    GLOBUS_AUTH_URL: globus.url,
    TOPIC_DEFAULT_REPLICATION_FACTOR: '1'
  }
  const dynamo = {
    ...common,
    METADATA_STORE: 'dynamodb',
    METADATA_CREATE_TABLES: 'true',
    USERS_TABLE_NAME: tables.users,
    NAMESPACE_TABLE_NAME: tables.namespaces,
    KEYS_TABLE_NAME: tables.keys,
    NODES_TABLE_NAME: `nodes-${randomUUID().slice(0, 8)}`,
    INSTANCES_TABLE_NAME: `instances-${randomUUID().slice(0, 8)}`,
    AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    NODE_SECRET: randomUUID() + randomUUID(),
    PUBLIC_URL: 'http://127.0.0.1:1'
  }
  log('starting nodes')
  if (profile) mkdirSync(PROFILES, { recursive: true })
  const profiled = (name: string): string[] => profile
    // A directory per node: tsx's loader thread writes a profile of its own there too (the main thread's is the
    // larger).
    ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PROFILES, `cluster-${name}-${Date.now()}`)}`]
    : []
  const a = await startNode(t, 'A', { ...dynamo, PORT: String(pa), NODE_ID: 'a', NODE_URL: `http://127.0.0.1:${pa}` }, profiled('a'))
  const b = await startNode(t, 'B', { ...dynamo, PORT: String(pb), NODE_ID: 'b', NODE_URL: `http://127.0.0.1:${pb}` }, profiled('b'))
  const f = await startNode(t, 'F', { ...common, PORT: String(pf), METADATA_STORE: path.join(dir, 'metadata.json') })

  const subject = randomUUID()
  const token = globus.userToken(subject)
  const ns = defaultNamespace(subject)
  const call = async (base: string, method: string, p: string, body?: unknown, accept?: string): Promise<Response> => fetch(`${base}/api/v3/${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': V2 }), ...(accept ? { accept } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  for (const node of [a, f]) {
    const r = await call(node.url, 'POST', 'user')
    if (r.status !== 201) throw new Error(`create user on ${node.id}: ${r.status} ${await r.text()}`)
  }
  const topic = 'bench'
  const created = await call(a.url, 'POST', `${ns}/${topic}`, {})
  if (created.status !== 201) throw new Error(`create topic: ${created.status} ${await created.text()}`)
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING })
  t.teardown(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({ topics: [`${ns}.${topic}`] }).catch(() => {})
    await admin.disconnect()
  })
  log(`writing ${RECORDS} records of ${RECORD_BYTES} bytes`)
  await prefill(kafka, `${ns}.${topic}`, 1, RECORDS, RECORD_BYTES)

  const instance = async (group: string): Promise<string> => {
    const r = await call(a.url, 'POST', `${ns}/consumers/${group}`, { 'auto.offset.reset': 'earliest' })
    const { instance_id: id } = await r.json() as { instance_id: string }
    const p = `${ns}/consumers/${group}/instances/${id}`
    const s = await call(a.url, 'POST', `${p}/subscription`, { topics: [topic] })
    if (s.status !== 204) throw new Error(`subscribe: ${s.status}`)
    return p
  }
  const drain = async (base: string, p: string): Promise<number> => {
    let got = 0
    let first = 0
    let began = 0
    while (got < RECORDS) {
      const r = await call(base, 'GET', `${p}/records?timeout=2000&max_bytes=8388608`, undefined, BINARY)
      if (r.status !== 200) throw new Error(`fetch: ${r.status} ${await r.text()}`)
      const n = (await r.json() as unknown[]).length
      // The first non-empty answer starts the clock (the group join is not the path measured).
      if (began === 0 && n > 0) { began = performance.now(); first = n }
      got += n
    }
    return (got - first) / ((performance.now() - began) / 1000)
  }
  log('fetch through the owner and through a forwarding node (alternating, 3 rounds each)')
  const owner: number[] = []
  const forwarded: number[] = []
  for (let round = 0; round < (quick ? 1 : 3); round++) {
    owner.push(await drain(a.url, await instance(`own${round}`)))
    forwarded.push(await drain(b.url, await instance(`fwd${round}`)))
  }

  log('latency of GET …/assignments through the owner and through a forwarding node')
  const probe = await instance('probe')
  const timeIt = async (base: string, p: string, n: number): Promise<number[]> => {
    const out: number[] = []
    for (let i = 0; i < n; i++) {
      const began = performance.now()
      const r = await call(base, 'GET', p)
      await r.arrayBuffer()
      out.push(performance.now() - began)
    }
    return out
  }
  await timeIt(a.url, `${probe}/assignments`, 50)
  await timeIt(b.url, `${probe}/assignments`, 50)
  // Interleaved (one through A, one through B), so that drift on a shared machine falls on both alike. The CPU
  // time each node spends meanwhile (/proc, 10 ms ticks, summed over many requests) says where the added time
  // goes: B's work forwarding, A's extra work as the owner of a forwarded request. It moves less with load.
  const direct: number[] = []
  const hop: number[] = []
  const cpu = { directA: 0, directB: 0, hopA: 0, hopB: 0 }
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    let [ta, tb] = [cpuTicks(a.child.pid), cpuTicks(b.child.pid)]
    direct.push(...await timeIt(a.url, `${probe}/assignments`, 1))
    let [na, nb] = [cpuTicks(a.child.pid), cpuTicks(b.child.pid)]
    cpu.directA += na - ta
    cpu.directB += nb - tb
    ;[ta, tb] = [na, nb]
    hop.push(...await timeIt(b.url, `${probe}/assignments`, 1))
    ;[na, nb] = [cpuTicks(a.child.pid), cpuTicks(b.child.pid)]
    cpu.hopA += na - ta
    cpu.hopB += nb - tb
  }
  const perRequest = (ticks: number): string => `${Math.round(ticks * TICK_US / LATENCY_SAMPLES)}`

  log('management route GET /api/v3/namespace: DynamoDB store (A) and file store (F)')
  await timeIt(a.url, 'namespace', 50)
  await timeIt(f.url, 'namespace', 50)
  const mgmtDynamo: number[] = []
  const mgmtFile: number[] = []
  for (let i = 0; i < MGMT_SAMPLES; i++) {
    mgmtDynamo.push(...await timeIt(a.url, 'namespace', 1))
    mgmtFile.push(...await timeIt(f.url, 'namespace', 1))
  }

  const med = (v: number[]): number => percentile(v, 50)
  const rows: Array<[string, string]> = [
    ['records', `${RECORDS} × ${RECORD_BYTES} B, 1 partition`],
    ['fetch through the owner (records/s, median of rounds)', `${Math.round(med(owner))} (${owner.map(Math.round).join(', ')})`],
    ['fetch through a forwarding node (records/s)', `${Math.round(med(forwarded))} (${forwarded.map(Math.round).join(', ')})`],
    ['forwarded / owner', (med(forwarded) / med(owner)).toFixed(2)],
    ['GET assignments via owner p50 / p99 (ms)', `${med(direct).toFixed(3)} / ${percentile(direct, 99).toFixed(3)}`],
    ['GET assignments forwarded p50 / p99 (ms)', `${med(hop).toFixed(3)} / ${percentile(hop, 99).toFixed(3)}`],
    ['added by forwarding, p50 (ms)', (med(hop) - med(direct)).toFixed(3)],
    ['CPU per request via owner, A / B (µs)', `${perRequest(cpu.directA)} / ${perRequest(cpu.directB)}`],
    ['CPU per forwarded request, A (owner) / B (forwarding) (µs)', `${perRequest(cpu.hopA)} / ${perRequest(cpu.hopB)}`],
    ['GET namespace, file store p50 / p99 (ms)', `${med(mgmtFile).toFixed(3)} / ${percentile(mgmtFile, 99).toFixed(3)}`],
    ['GET namespace, DynamoDB store (moto) p50 / p99 (ms)', `${med(mgmtDynamo).toFixed(3)} / ${percentile(mgmtDynamo, 99).toFixed(3)}`],
    ['DynamoDB store overhead, p50 (ms)', (med(mgmtDynamo) - med(mgmtFile)).toFixed(3)]
  ]
  const width = Math.max(...rows.map(r => r[0].length))
  console.log(`\nSeveral nodes (${quick ? 'quick' : 'full'} run)`)
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`)
  if (profile) {
    // A profile is written when the process exits by itself: close A and B as SIGTERM does.
    for (const node of [b, a]) { node.child.kill('SIGTERM'); await node.exited }
    console.log(`\n  CPU profiles of A and B: ${PROFILES}/cluster-{a,b}-*/`)
  }
  console.log(`\n  targets: forwarded/owner >= 0.8: ${med(forwarded) / med(owner) >= 0.8 ? 'PASS' : 'MISS'}; added p50 <= 1 ms: ${med(hop) - med(direct) <= 1 ? 'PASS' : 'MISS'}`)
}

/** CPU time (user + system) of a process in clock ticks (10 ms on Linux), from /proc; 0 where there is none. */
const TICK_US = 10_000
function cpuTicks (pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}

main().then(async () => {
  for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {})
  process.exit(0)
}, async (err: unknown) => {
  console.error(err)
  for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {})
  process.exit(1)
})
