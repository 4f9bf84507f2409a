/**
 * The baseline of the produce scenario: one plain kafkajs 2.2.4 producer (library defaults, acks=-1 on every
 * send) in a process of its own, as the service's shared producer is, so that its CPU and event-loop delay are
 * its own and it does not take the runner's time. It writes the same records as the HTTP side (values of
 * exactly `size` bytes from bench/lib/kafka.ts jsonValue, no key, the default partitioner spreads them).
 * Driven over IPC by the runner (bench/lib/protocol.ts): `start` connects, `run` sends.
 */
import { Kafka, logLevel, type Message, type Producer } from 'kafkajs'
import { jsonValue } from './lib/kafka.js'
import { serveRunner, type Command, type LoopDelay } from './lib/protocol.js'
import { answerCommon, LoopDelayMonitor } from './lib/measured.js'

export interface BaselineProducerStart { brokers: string[] }

export type BaselineProducerRun =
  /** `records` records in sends of `perSend`, `inFlight` sends outstanding at any time (the batch request pattern). */
  | { kind: 'throughput', topic: string, records: number, size: number, perSend: number, inFlight: number }
  /** `n` sends of one record each, one at a time; each timed from before send() to its acknowledgement. */
  | { kind: 'latency', topic: string, n: number, size: number }

export interface BaselineThroughput {
  records: number
  /** From the first send to the last acknowledgement. */
  ms: number
  /** This process's CPU (user + system) over the same time, µs. */
  cpuUs: number
  eld: LoopDelay
}

const eld = new LoopDelayMonitor()
let producer: Producer | undefined
/** Distinct values, reused round-robin (made once: their making is not part of what is measured). */
let values: Buffer[] = []

function valuesOf (size: number): Buffer[] {
  if (values[0]?.length !== size) values = Array.from({ length: 1000 }, (_, i) => jsonValue(i, size))
  return values
}

async function throughput (spec: Extract<BaselineProducerRun, { kind: 'throughput' }>): Promise<BaselineThroughput> {
  const p = producer as Producer
  const vs = valuesOf(spec.size)
  // The messages of each send are built before the clock starts, as the HTTP side's bodies are.
  const sends: Message[][] = []
  for (let from = 0; from < spec.records; from += spec.perSend) {
    const ms: Message[] = []
    for (let i = from; i < Math.min(spec.records, from + spec.perSend); i++) {
      ms.push({ value: vs[i % vs.length] as Buffer })
    }
    sends.push(ms)
  }
  let next = 0
  let acked = 0
  eld.reset()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    while (next < sends.length) {
      const messages = sends[next++] as Message[]
      await p.send({ topic: spec.topic, messages, acks: -1 })
      acked += messages.length
    }
  }
  await Promise.all(Array.from({ length: spec.inFlight }, worker))
  const ms = performance.now() - t0
  const c = process.cpuUsage(c0)
  return { records: acked, ms, cpuUs: c.user + c.system, eld: eld.read() }
}

async function latency (spec: Extract<BaselineProducerRun, { kind: 'latency' }>): Promise<number[]> {
  const p = producer as Producer
  const vs = valuesOf(spec.size)
  const out: number[] = []
  for (let i = 0; i < spec.n; i++) {
    const value = vs[i % vs.length] as Buffer
    const t0 = performance.now()
    await p.send({ topic: spec.topic, messages: [{ value }], acks: -1 })
    out.push(performance.now() - t0)
  }
  return out
}

async function handle (body: Command): Promise<unknown> {
  const common = await answerCommon(body, eld, {})
  if (common) return common.reply
  switch (body.cmd) {
    case 'start': {
      const spec = body.spec as BaselineProducerStart
      const kafka = new Kafka({ clientId: 'bench-baseline-producer', brokers: spec.brokers, logLevel: logLevel.NOTHING })
      producer = kafka.producer({ allowAutoTopicCreation: false })
      await producer.connect()
      return null
    }
    case 'run': {
      if (!producer) throw new Error('start first')
      const spec = body.spec as BaselineProducerRun
      return spec.kind === 'throughput' ? throughput(spec) : latency(spec)
    }
    case 'stop':
      setImmediate(() => {
        const deadline = setTimeout(() => process.exit(0), 10_000)
        Promise.resolve(producer?.disconnect()).catch(() => {}).finally(() => {
          clearTimeout(deadline)
          process.exit(0)
        })
      })
      return null
    default:
      throw new Error(`unsupported command ${body.cmd}`)
  }
}

serveRunner(handle, async () => await producer?.disconnect())
