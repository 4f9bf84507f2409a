/**
 * The measured service: the real app (every plugin, real Globus auth against the stand-in the runner
 * started, the local broker) listening on a loopback port, in its own process so that its CPU, memory,
 * event-loop delay and (with --cpu-prof) profile are its own. Built like test/helpers/app.ts, but with the
 * production defaults of every consumer setting unless the runner overrides them.
 *
 * The runner talks to it over the fork IPC channel (bench/lib/protocol.ts). The only bench-specific hook is
 * a counter of the Kafka requests made by consumer instances: kafkajs' instrumentation event
 * consumer.network.request, attached by wrapping the kafkajs adapter's createClient (KafkaService.clients;
 * the engine is not modified).
 */
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import type { Consumer, ConsumerConfig, Kafka } from 'kafkajs'
import diaspora, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/config/config.js'
import { tokenHash } from '../plugins/auth/token-cache.js'
import { serveRunner, type Command } from './lib/protocol.js'
import { answerCommon, LoopDelayMonitor } from './lib/measured.js'

const env = JSON.parse(process.env.BENCH_APP_ENV ?? '{}') as Record<string, string>
const config = loadConfig(env)
const app = Fastify({ ...serverOptions(config), logger: env.LOG_LEVEL === 'silent' ? false : { level: env.LOG_LEVEL ?? 'warn' } })
await app.register(fp(diaspora), { env })

// ---- Kafka request counting (consumer instances only; the shared admin client is not counted) ----------
const kafkaCounts: Record<string, number> = {}
const clients = app.kafka.clients
const createClient = clients.createClient.bind(clients)
clients.createClient = (clientId?: string): Kafka => {
  const kafka = createClient(clientId)
  const consumer = kafka.consumer.bind(kafka)
  kafka.consumer = (cfg: ConsumerConfig): Consumer => {
    const c = consumer(cfg)
    c.on(c.events.REQUEST, e => {
      const name = (e.payload as { apiName: string }).apiName
      kafkaCounts[name] = (kafkaCounts[name] ?? 0) + 1
    })
    return c
  }
  return kafka
}

const url = await app.listen({ port: 0, host: '127.0.0.1' })

const eld = new LoopDelayMonitor()

async function authMicro (token: string, iterations: number): Promise<unknown> {
  const request = { headers: { authorization: `Bearer ${token}` }, principal: null } as unknown as Parameters<typeof app.authenticate>[0]
  const noop = async (_r: unknown): Promise<void> => {}
  await app.authenticate(request) // the token must be cached already; this also warms up
  const time = async (fn: () => Promise<void> | void): Promise<number> => {
    for (let i = 0; i < 2000; i++) await fn()
    const t0 = performance.now()
    for (let i = 0; i < iterations; i++) await fn()
    return ((performance.now() - t0) * 1000) / iterations
  }
  const authenticateUs = await time(() => app.authenticate(request))
  const noopUs = await time(() => noop(request))
  const hashUs = await time(() => { tokenHash(token) })
  return { iterations, authenticateUs, noopUs, hashUs }
}

async function handle (body: Command): Promise<unknown> {
  const common = await answerCommon(body, eld, kafkaCounts)
  if (common) return common.reply
  switch (body.cmd) {
    case 'phases': {
      const byPhase: Record<string, number> = {}
      let partitions = 0
      let instances = 0
      let started = 0
      let parked = 0
      for (const inst of app.consumers.all()) {
        instances++
        byPhase[inst.phase] = (byPhase[inst.phase] ?? 0) + 1
        partitions += inst.assignment().length
        if (inst.started) started++
        if (inst.parked) parked++
      }
      return { instances, byPhase, partitions, started, parked }
    }
    case 'auth.stats':
      return app.auth.stats()
    case 'auth.micro':
      return authMicro(body.token, body.iterations)
    case 'profile.mark':
      // The V8 profiler's timestamps are CLOCK_MONOTONIC µs, as process.hrtime is.
      return Number(process.hrtime.bigint() / 1000n)
    case 'stop':
      setImmediate(() => {
        app.close().catch(() => {}).finally(() => process.exit(0))
        setTimeout(() => process.exit(0), 15_000).unref()
      })
      return null
    default:
      throw new Error(`unknown command ${(body as { cmd: string }).cmd}`)
  }
}

serveRunner(handle, async () => await app.close(), url)
