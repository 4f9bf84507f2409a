/** Plain kafkajs pieces of the benchmarks: pre-filling topics and the native-consumer baselines. */
import { randomBytes } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Kafka } from 'kafkajs'
import type { LoopDelay } from './protocol.js'
import { loopDelayOf } from './measured.js'

/** A JSON document of exactly `size` bytes (so the same records serve the binary and the json format). */
export function jsonValue (i: number, size: number): Buffer {
  const head = `{"i":${i},"p":"`
  const tail = '"}'
  const pad = Math.max(0, size - head.length - tail.length)
  return Buffer.from(head + 'x'.repeat(pad) + tail)
}

/**
 * Write `count` records (key: the JSON number i, value: a JSON document of `size` bytes) round-robin over
 * partitions.
 */
export async function prefill (
  kafka: Kafka,
  topic: string,
  partitions: number,
  count: number,
  size: number
): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    const chunk = 1000
    const sends: Array<Promise<unknown>> = []
    for (let from = 0; from < count; from += chunk) {
      const messages = []
      for (let i = from; i < Math.min(count, from + chunk); i++) {
        messages.push({ key: String(i), value: jsonValue(i, size), partition: i % partitions })
      }
      sends.push(producer.send({ topic, messages, acks: 1 }))
      if (sends.length >= 8) await Promise.all(sends.splice(0))
    }
    await Promise.all(sends)
  } finally {
    await producer.disconnect()
  }
}

export interface DrainResult {
  records: number
  /** performance.now() of the first and the last delivery. */
  firstAt: number
  lastAt: number
  /** Records in the first delivery (excluded from the rate: they measure the join, not the drain). */
  firstCount: number
  eld: LoopDelay
}

/**
 * The throughput baseline: a plain kafkajs consumer (library defaults, eachBatch) draining the topic from the
 * start.
 */
export async function drainWithKafkajs (
  kafka: Kafka,
  topic: string,
  expected: number,
  timeoutMs = 180_000
): Promise<DrainResult> {
  const consumer = kafka.consumer({ groupId: `bench-baseline-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false })
  const eld = monitorEventLoopDelay({ resolution: 5 })
  let records = 0
  let firstAt = 0
  let lastAt = 0
  let firstCount = 0
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      // Counting only: the baseline does no per-message work the library does not do itself.
      eachBatch: async ({ batch }) => {
        const now = performance.now()
        if (records === 0) { firstAt = now; firstCount = batch.messages.length; eld.enable() }
        records += batch.messages.length
        lastAt = now
        if (records >= expected) done()
      }
    })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([finished, new Promise<void>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`kafkajs baseline: ${records}/${expected} records after ${timeoutMs} ms`)), timeoutMs) })])
    clearTimeout(timer)
  } finally {
    eld.disable()
    await consumer.disconnect().catch(() => {})
  }
  return {
    records,
    firstAt,
    lastAt,
    firstCount,
    eld: loopDelayOf(eld)
  }
}

/** Records/s of a drain, excluding the first delivery (it carries the join, not the drain). */
export function drainRates (r: Pick<DrainResult, 'records' | 'firstAt' | 'lastAt' | 'firstCount'>): { recordsPerSec: number, seconds: number } {
  const seconds = (r.lastAt - r.firstAt) / 1000
  if (!(seconds > 0)) return { recordsPerSec: NaN, seconds }
  return { recordsPerSec: (r.records - r.firstCount) / seconds, seconds }
}
