/**
 * The baseline of the many-instances scenario: the same number of plain kafkajs consumers, in the same
 * group layout and with the same consumer settings as the service's sessions, in a process of their own, so
 * that memory, idle CPU and Kafka requests per consumer can be set next to the service's per instance.
 * Driven over IPC by the runner (bench/lib/protocol.ts).
 */
import { Kafka, logLevel, type Consumer } from 'kafkajs'
import { serveRunner, type Command, type PhaseCounts } from './lib/protocol.js'
import { answerCommon, LoopDelayMonitor } from './lib/measured.js'

export interface BaselineSpec {
  brokers: string[]
  /** One entry per consumer: its group and topic. */
  members: Array<{ groupId: string, topic: string }>
  sessionTimeout: number
  heartbeatInterval: number
  maxWaitTimeInMs: number
  maxBytes: number
  concurrency: number
}

const kafkaCounts: Record<string, number> = {}
const consumers: Consumer[] = []
const joined = new Set<Consumer>()
const partitions = new Map<Consumer, number>()
const eld = new LoopDelayMonitor()

async function start (spec: BaselineSpec): Promise<void> {
  const kafka = new Kafka({ clientId: 'bench-baseline', brokers: spec.brokers, logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 } })
  let next = 0
  const one = async (): Promise<void> => {
    while (next < spec.members.length) {
      const m = spec.members[next++] as { groupId: string, topic: string }
      const c = kafka.consumer({
        groupId: m.groupId,
        sessionTimeout: spec.sessionTimeout,
        heartbeatInterval: spec.heartbeatInterval,
        rebalanceTimeout: Math.max(spec.sessionTimeout, 10000),
        maxWaitTimeInMs: spec.maxWaitTimeInMs,
        maxBytes: spec.maxBytes,
        maxBytesPerPartition: Math.min(spec.maxBytes, 1048576),
        allowAutoTopicCreation: false
      })
      c.on(c.events.REQUEST, e => {
        const name = (e.payload as { apiName: string }).apiName
        kafkaCounts[name] = (kafkaCounts[name] ?? 0) + 1
      })
      c.on(c.events.GROUP_JOIN, e => {
        joined.add(c)
        partitions.set(c, Object.values(e.payload.memberAssignment).reduce((n, ps) => n + ps.length, 0))
      })
      c.on(c.events.REBALANCING, () => { joined.delete(c) })
      consumers.push(c)
      await c.connect()
      await c.subscribe({ topics: [m.topic], fromBeginning: false })
      await c.run({ autoCommit: false, eachBatch: async () => {} })
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, one))
}

async function handle (body: Command): Promise<unknown> {
  const common = await answerCommon(body, eld, kafkaCounts)
  if (common) return common.reply
  switch (body.cmd) {
    case 'start':
      await start(body.spec as BaselineSpec)
      return null
    case 'phases': {
      let held = 0
      for (const c of joined) held += partitions.get(c) ?? 0
      const counts: PhaseCounts = {
        instances: consumers.length,
        byPhase: { joined: joined.size },
        partitions: held,
        started: consumers.length,
        parked: 0
      }
      return counts
    }
    case 'stop':
      setImmediate(() => {
        const deadline = setTimeout(() => process.exit(0), 20_000)
        Promise.allSettled(consumers.map(c => c.disconnect())).finally(() => {
          clearTimeout(deadline)
          process.exit(0)
        })
      })
      return null
    default:
      throw new Error(`unsupported command ${body.cmd}`)
  }
}

serveRunner(handle, async () => await Promise.allSettled(consumers.map(c => c.disconnect())))
