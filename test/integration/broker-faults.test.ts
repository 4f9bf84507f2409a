/**
 * Broker faults (issue 6 item 4), against a broker of this test's own (own ports, own run folder: the shared
 * broker of the other tests is never touched). While two consumer instances of one group long-poll and commit
 * and a producer writes sequence-numbered records, the broker is stopped (SIGTERM) and restarted with its data
 * kept, then frozen (SIGSTOP) and thawed (SIGCONT). Proven:
 * - every request answers, within a bound derived from its own timeout and the Kafka timeouts, with 200/204 or
 *   a Confluent 5xx (50302 broker unavailable, 50003 retriable): never a hang, never another error;
 * - reads report both outages (50302), the frozen one too, where no connection error ever comes;
 * - /ready answers 503 during the outage and 200 after it;
 * - the instances resume without being recreated (no 404 ever);
 * - every record the producer had acknowledged is delivered at least once, and every offset of every
 *   partition is delivered (nothing skipped);
 * - offsets committed before the stop are still committed after the restart.
 */
import t from 'tap'
import { rmSync } from 'node:fs'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import { privateBrokerConfig, startBroker, stopBroker } from '../../scripts/broker.js'
import { freePort } from '../../scripts/ports.js'
import { build } from '../helpers/app.js'
import { apiUser, shortName, BINARY, type ApiUser } from '../helpers/api.js'
import { sleep, waitFor } from '../helpers/wait.js'

t.setTimeout(240_000)

// Timeouts of the service under test; the bounds below derive from them.
const READ_TIMEOUT_MS = 1000
const KAFKA_CONNECTION_TIMEOUT_MS = 1000
const KAFKA_REQUEST_TIMEOUT_MS = 5000
const CONSUMER_FETCH_STALL_MS = 1000
type Kind = 'read' | 'commit' | 'ready' | 'probe commit' | 'probe committed' | 'probe seek'
const CONSUMER_JOIN_WAIT_MS = 5000
const SLACK_MS = 2000
/** How long each kind of request may take, from the service's timeouts (plus scheduling slack). */
const BOUND_MS: Record<Kind, number> = {
  // A read answers at its timeout at the latest.
  read: READ_TIMEOUT_MS + SLACK_MS,
  // A commit answers within CONSUMER_JOIN_WAIT_MS, join wait included.
  commit: CONSUMER_JOIN_WAIT_MS + SLACK_MS,
  // /ready pings Kafka for at most 2 s.
  ready: 2000 + SLACK_MS,
  // Explicit commits too (their partition check included).
  'probe commit': CONSUMER_JOIN_WAIT_MS + SLACK_MS,
  // One admin call (kafkajs gives up on a silent broker after one request timeout).
  'probe committed': KAFKA_REQUEST_TIMEOUT_MS + SLACK_MS,
  'probe seek': KAFKA_REQUEST_TIMEOUT_MS + SLACK_MS
}

type Phase = 'up' | 'stopped' | 'restarted' | 'frozen' | 'thawed'

interface Outcome { phase: Phase, kind: Kind, status: number, errorCode?: number, message?: string, ms: number }

t.test('broker stopped and frozen under load: bounded 5xx, resume in place, nothing lost or skipped', async t => {
  const cfg = await privateBrokerConfig('diaspora-faults-broker-')
  let pid = (await startBroker(cfg)).pid as number
  let frozen = false
  t.teardown(async () => {
    if (frozen) process.kill(pid, 'SIGCONT')
    await stopBroker(cfg)
    rmSync(cfg.runDir, { recursive: true, force: true })
  })
  const bootstrap = `127.0.0.1:${cfg.port}`

  const { app, globus } = await build(t, {
    env: {
      DEFAULT_SERVERS: bootstrap,
      KAFKA_CONNECTION_TIMEOUT_MS: String(KAFKA_CONNECTION_TIMEOUT_MS),
      KAFKA_REQUEST_TIMEOUT_MS: String(KAFKA_REQUEST_TIMEOUT_MS),
      CONSUMER_JOIN_WAIT_MS: String(CONSUMER_JOIN_WAIT_MS),
      // A frozen broker keeps its sockets open: reads see it as a fetch unanswered this long past max wait.
      CONSUMER_FETCH_STALL_MS: String(CONSUMER_FETCH_STALL_MS),
      CONSUMER_INSTANCE_TIMEOUT_MS: '600000'
    }
  })
  const user: ApiUser = await apiUser(app, globus)
  const topic = await user.topic(2)
  const kafkaTopic = `${user.ns}.${topic}`
  const group = shortName('g')
  const paths = [await user.subscriber(group, [topic]), await user.subscriber(group, [topic])]

  let phase: Phase = 'up'
  const outcomes: Outcome[] = []
  const delivered = new Map<number, Set<number>>() // partition -> offsets
  const seqs = new Set<number>()
  const run = { stopped: false, producing: true }

  const timed = async <R extends { statusCode: number, json (): unknown }>(
    kind: Kind,
    fn: () => Promise<R>
  ): Promise<R> => {
    const began = Date.now()
    const p = phase
    const res = await fn()
    const o: Outcome = { phase: p, kind, status: res.statusCode, ms: Date.now() - began }
    if (res.statusCode >= 400) {
      const body = res.json() as { error_code?: number, message?: string }
      if (body.error_code !== undefined) o.errorCode = body.error_code
      if (body.message !== undefined) o.message = body.message
    }
    outcomes.push(o)
    return res
  }

  const drive = async (inst: string): Promise<void> => {
    while (!run.stopped) {
      const res = await timed('read', () => user.req('GET', `${inst}/records?timeout=${READ_TIMEOUT_MS}`, undefined, { accept: BINARY }))
      if (res.statusCode === 200) {
        for (const r of res.json() as Array<{ partition: number, offset: number, value: string }>) {
          let set = delivered.get(r.partition)
          if (!set) delivered.set(r.partition, (set = new Set()))
          set.add(r.offset)
          seqs.add(Number(Buffer.from(r.value, 'base64').toString()))
        }
      }
      // Commit-all after every read, outage or not: it commits what was delivered so far.
      const commit = await timed('commit', () => user.req('POST', `${inst}/offsets`))
      if (res.statusCode !== 200 || commit.statusCode !== 200) await sleep(200)
    }
  }

  const kafka = new Kafka({ clientId: 'faults-producer', brokers: [bootstrap], logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 3000, retry: { retries: 1, initialRetryTime: 100 } })
  const prod: Producer = kafka.producer({ allowAutoTopicCreation: false })
  await prod.connect()
  t.teardown(() => prod.disconnect())
  const acked = new Set<number>()
  let seq = 0
  let lastProduceError = ''
  const produce = async (): Promise<void> => {
    while (run.producing) {
      const n = seq++
      try {
        await prod.send({ topic: kafkaTopic, acks: -1, messages: [{ key: String(n % 7), value: String(n) }] })
        acked.add(n)
      } catch (err) {
        lastProduceError = `${(err as Error).name}: ${(err as Error).message}`
        await sleep(200)
      }
      await sleep(20)
    }
  }

  const ready = async (): Promise<number> => (await timed('ready', () => app.inject({ method: 'GET', url: '/ready' }))).statusCode
  const allAckedDelivered = () => [...acked].every(n => seqs.has(n))
  const checkAdmin = new Kafka({ clientId: 'faults-check', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin()
  await checkAdmin.connect()
  t.teardown(() => checkAdmin.disconnect())
  /** Per partition, the log's offsets that were never delivered (records the producer gave up on included). */
  const undelivered = async (): Promise<Map<number, number[]>> => {
    const out = new Map<number, number[]>()
    for (const p of await checkAdmin.fetchTopicOffsets(kafkaTopic)) {
      const got = delivered.get(p.partition) ?? new Set()
      const skipped: number[] = []
      for (let o = Number(p.low); o < Number(p.high); o++) if (!got.has(o)) skipped.push(o)
      out.set(p.partition, skipped)
    }
    return out
  }

  const producing = produce()
  const drivers = [...paths.map(drive), producing]
  const mark = (label: string) => t.comment(`${label}: ${acked.size} acked, ${seqs.size} delivered, ${outcomes.length} requests; last producer error: ${lastProduceError}`)
  const progress = setInterval(() => mark(`  ${phase}`), 5000)
  try {
    await waitFor('records flowing to both instances', () => seqs.size > 50 && delivered.size === 2, 60_000)
    mark('up')

    // A third instance, in a group of its own, commits fixed offsets and is left alone: they must survive.
    const checker = await user.consumer(shortName('gc'))
    const pinned = [{ topic, partition: 0, offset: 5 }, { topic, partition: 1, offset: 3 }]
    t.equal((await user.req('POST', `${checker}/assignments`, { partitions: pinned.map(({ topic, partition }) => ({ topic, partition })) })).statusCode, 204)
    t.equal((await user.req('POST', `${checker}/offsets`, { offsets: pinned })).statusCode, 200)
    const expected = pinned.map(p => ({ ...p, offset: p.offset + 1, metadata: '' }))
    const checked = async () => user.req('GET', `${checker}/offsets`, { partitions: pinned.map(({ topic, partition }) => ({ topic, partition })) })
    t.same((await checked()).json(), { offsets: expected }, 'committed before the stop')

    // While the broker is away, the checker keeps calling what needs Kafka: explicit commit, committed offsets, seek.
    const probe = async (ms: number): Promise<void> => {
      const until = Date.now() + ms
      while (Date.now() < until) {
        await timed('probe commit', () => user.req('POST', `${checker}/offsets`, { offsets: pinned }))
        await timed('probe committed', checked)
        await timed('probe seek', () => user.req('POST', `${checker}/positions/end`, { partitions: [{ topic, partition: 0 }] }))
      }
    }

    // ---- stop (SIGTERM), then restart with the data kept
    phase = 'stopped'
    await stopBroker(cfg)
    await waitFor('/ready to report 503', async () => (await ready()) === 503, 15_000)
    await probe(8000)
    mark('stopped')
    phase = 'restarted'
    pid = (await startBroker({ ...cfg, keepData: true })).pid as number
    await waitFor('/ready to report 200', async () => (await ready()) === 200, 60_000)
    t.same((await checked()).json(), { offsets: expected }, 'the same committed offsets after the restart, read by the same instance')
    let sent = seq
    await waitFor('new records acknowledged after the restart', () => [...acked].some(n => n > sent), 60_000)
    await waitFor('every acknowledged record delivered after the restart', allAckedDelivered, 60_000)
    mark('restarted')

    // ---- freeze (SIGSTOP), then thaw (SIGCONT)
    phase = 'frozen'
    process.kill(pid, 'SIGSTOP')
    frozen = true
    await waitFor('/ready to report 503', async () => (await ready()) === 503, 15_000)
    await probe(8000)
    mark('frozen')
    phase = 'thawed'
    process.kill(pid, 'SIGCONT')
    frozen = false
    await waitFor('/ready to report 200', async () => (await ready()) === 200, 60_000)
    sent = seq
    await waitFor('new records acknowledged after the thaw', () => [...acked].some(n => n > sent), 60_000)
    await waitFor('every acknowledged record delivered after the thaw', allAckedDelivered, 60_000)
    mark('thawed')

    // ---- the end: stop producing, then let the instances catch up with everything in the log
    run.producing = false
    await producing
    await waitFor('every offset of the log delivered', async () => allAckedDelivered() && [...(await undelivered()).values()].every(l => l.length === 0), 60_000)
  } finally {
    clearInterval(progress)
    run.stopped = true
    run.producing = false
    await Promise.all(drivers)
  }

  // ---- verdicts
  const summary = new Map<string, { n: number, max: number, message: string | undefined }>()
  for (const o of outcomes) {
    const k = `${o.phase} ${o.kind} ${o.status}${o.errorCode ? `/${o.errorCode}` : ''}`
    const s = summary.get(k) ?? { n: 0, max: 0, message: o.message }
    s.n++
    s.max = Math.max(s.max, o.ms)
    summary.set(k, s)
  }
  for (const [k, s] of [...summary].sort()) t.comment(`${k}: ${s.n} requests, slowest ${s.max} ms${s.message ? ` (${s.message.slice(0, 120)})` : ''}`)
  const bad = outcomes.filter(o => !(o.status < 300 || (o.kind === 'ready' && o.status === 503) || (o.status >= 500 && (o.errorCode === 50302 || o.errorCode === 50003))))
  t.same(bad, [], 'every answer is a success or a Confluent 50302/50003')
  const slow = outcomes.filter(o => o.ms > BOUND_MS[o.kind])
  t.same(slow, [], 'every answer came within its bound')
  for (const kind of ['read', 'commit', 'probe commit', 'probe committed', 'probe seek'] as const) {
    t.ok(outcomes.some(o => o.phase === 'stopped' && o.kind === kind && o.status >= 500), `${kind}: the stopped broker was reported (5xx)`)
  }
  // kafkajs would notice the frozen broker only after its request timeout and retries (here 5 s × 6 attempts).
  t.ok(outcomes.some(o => o.phase === 'frozen' && o.kind === 'read' && o.errorCode === 50302), 'read: the frozen broker was reported (50302), not answered with []')
  const missing = [...acked].filter(n => !seqs.has(n))
  t.same(missing, [], `every acknowledged record delivered (${acked.size} acknowledged)`)
  for (const [partition, skipped] of await undelivered()) {
    t.same(skipped, [], `partition ${partition}: every offset of the log delivered (${delivered.get(partition)?.size ?? 0} distinct)`)
  }
})

t.test('no broker at all (nothing listens): Kafka-bound requests answer 503/50302, never a bare 500', async t => {
  const { app, globus } = await build(t, { env: { DEFAULT_SERVERS: `127.0.0.1:${await freePort()}`, KAFKA_CONNECTION_TIMEOUT_MS: '300' } })
  const user = await apiUser(app, globus)
  const inst = await user.consumer(shortName('g'))
  const calls: Array<[string, () => Promise<{ statusCode: number, json (): unknown }>]> = [
    ['subscribe', () => user.req('POST', `${inst}/subscription`, { topics: ['nosuch'] })],
    ['assign', () => user.req('POST', `${inst}/assignments`, { partitions: [{ topic: 'nosuch', partition: 0 }] })],
    ['committed offsets', () => user.req('GET', `${inst}/offsets`, { partitions: [{ topic: 'nosuch', partition: 0 }] })],
    ['explicit commit', () => user.req('POST', `${inst}/offsets`, { offsets: [{ topic: 'nosuch', partition: 0, offset: 1 }] })],
    ['create topic', () => user.req('POST', `${user.ns}/nosuch`, {}, { 'content-type': 'application/json' })]
  ]
  for (const [what, call] of calls) {
    const res = await call()
    t.equal(res.statusCode, 503, `${what}: ${JSON.stringify(res.json())}`)
    t.equal((res.json() as { error_code?: number, code?: string }).error_code ?? (res.json() as { code?: string }).code, what === 'create topic' ? 'BROKER_UNAVAILABLE' : 50302, what)
  }
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 503)
})
