/**
 * Micro-benchmark of the server's per-record fetch path, in one process and without Kafka or HTTP: Fetch v11
 * responses (one record batch of about 1 MiB each, as the broker sends them) are decoded by the session's decoder
 * (fetch-decoder.ts; `--kafkajs`: kafkajs' own decoder, whose messages the session converts, as before it), made
 * into kafkajs Batches as its fetch loop does, and go through the real Session adapter, ConsumerInstance,
 * RecordBuffer and render, as `GET …/records` does. Prints µs per record for each stage.
 * `npx tsx bench/micro/fetch-path.ts [binary|json] [valueBytes] [records] [--kafkajs] [--fresh]`
 */
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import type { Admin, ConsumerConfig, Kafka, EachBatchPayload } from 'kafkajs'
import { applyKafkajsPatches, kafkajsDecodeHelpers } from '../../plugins/kafka/kafkajs/patches.js'
import { kafkajsDriver } from '../../plugins/kafka/kafkajs/driver.js'
import { FetchDecoder, type FetchResponse } from '../../plugins/kafka/kafkajs/fetch-decoder.js'
import { batch as recordBatch, response as fetchResponse } from '../../test/helpers/fetch-wire.js'
import { ConsumerInstance, type InstanceDeps } from '../../plugins/consumers/instance.js'
import { BufferBudget } from '../../plugins/consumers/record-buffer.js'
import { BufferPool } from '../../plugins/consumers/buffer-pool.js'
import type { ConsumerFormat } from '../../plugins/consumers/format.js'
import { kafkaGroup, kafkaTopic, userTopic } from '../../plugins/namespaces/names.js'
import { scopePattern } from '../../plugins/namespaces/pattern.js'

const format = (process.argv[2] ?? 'binary') as ConsumerFormat
const size = Number(process.argv[3] ?? 1024)
const total = Number(process.argv[4] ?? 200_000)
const perBatch = Math.max(1, Math.floor(1048576 / (size + 70)))
// `--fresh`: a fresh output buffer per answer instead of the server's pool (the before of buffer-pool.ts).
const pool = process.argv.includes('--fresh') ? undefined : new BufferPool()
// `--kafkajs`: kafkajs' decoder of the responses (the before of fetch-decoder.ts).
const require = createRequire(import.meta.url)
const decode: (raw: Buffer) => Promise<FetchResponse> = process.argv.includes('--kafkajs')
  ? (require('kafkajs/src/protocol/requests/fetch/v11/response.js') as { decode: (raw: Buffer) => Promise<FetchResponse> }).decode
  : (raw) => decoder.decode(raw)
const decoder = new FetchDecoder(kafkajsDecodeHelpers())
const Batch = require('kafkajs/src/consumer/batch.js') as new (topic: string, fetchedOffset: string, partitionData: unknown) => EachBatchPayload['batch']

/** A stand-in for kafkajs' Kafka: the consumer records the eachBatch callback and the join listener. */
function stubKafka (): {
  kafka: Kafka, batch: () => ((p: EachBatchPayload) => Promise<void>), join: (a: Record<string, number[]>) => void
} {
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined
  const events = new EventEmitter()
  const consumer = {
    events: { GROUP_JOIN: 'join', REBALANCING: 'rebalancing', CRASH: 'crash' },
    on: (e: string, fn: (x: unknown) => void) => events.on(e, fn),
    connect: async () => {},
    subscribe: async () => {},
    run: async (o: { eachBatch: (p: EachBatchPayload) => Promise<void> }) => { eachBatch = o.eachBatch },
    seek: () => {},
    pause: () => {},
    resume: () => {},
    disconnect: async () => {}
  }
  // kafkajs hands its assigner factories the consumer's Cluster inside consumer(); the session needs it.
  const cluster = { findBroker: async () => undefined }
  const kafka = {
    consumer: (cfg: ConsumerConfig) => {
      for (const factory of cfg.partitionAssigners ?? []) {
        factory({ cluster, groupId: cfg.groupId, logger: console } as never)
      }
      return consumer
    }
  } as unknown as Kafka
  return {
    kafka,
    batch: () => { if (!eachBatch) throw new Error('not running'); return eachBatch },
    join: (a) => events.emit('join', { payload: { memberAssignment: a } })
  }
}

/** A Fetch v11 response of one partition holding one record batch of `n` records from offset `first`. */
function makeResponse (topic: string, first: number, n: number): Buffer {
  // A JSON document of exactly `size` bytes, so the same responses serve both formats.
  const value = Buffer.from('{"pad":"' + 'x'.repeat(Math.max(0, size - 10)) + '"}')
  const records = Array.from({ length: n }, (_, i) => ({
    tsDelta: i, offDelta: i, key: Buffer.from(String(first + i)), value
  }))
  return fetchResponse([{
    name: topic,
    partitions: [{ partition: 0, set: recordBatch({ baseOffset: first, baseTimestamp: 1700000000000, records }) }]
  }])
}

/** What kafkajs' fetch loop hands eachBatch for a response: its partition as a Batch. */
async function payload (raw: Buffer, first: number): Promise<EachBatchPayload> {
  const res = await decode(raw)
  const { topicName, partitions } = res.responses[0] as FetchResponse['responses'][number]
  return {
    batch: new Batch(topicName, String(first), partitions[0]), isStale: () => false, heartbeat: async () => {}
  } as unknown as EachBatchPayload
}

async function main (): Promise<void> {
  await applyKafkajsPatches()
  const stub = stubKafka()
  const ns = 'ns-bench'
  const topic = kafkaTopic(ns, 'fetch')
  const admin = { listTopics: async () => [topic], fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: String(total), offset: String(total) }] }
  const deps: InstanceDeps = {
    kafka: kafkajsDriver({ createClient: () => stub.kafka, admin: async () => admin as unknown as Admin }),
    names: { kafkaTopic, kafkaGroup, userTopic, scopePattern },
    budget: new BufferBudget(1 << 30),
    settings: {
      sessionTimeout: 30000,
      heartbeatInterval: 3000,
      fetchMaxWaitMs: 500,
      fetchMaxBytes: 2097152,
      bufferBytes: 1 << 30,
      bufferRecords: 1e9,
      autoCommitIntervalMs: 5000,
      refreshIntervalMs: 600000,
      joinWaitMs: 15000,
      parkAfterMs: 0,
      fetchStallMs: 5000
    }
  }
  const inst = new ConsumerInstance({ namespace: ns, group: 'g', name: 'i', subject: 's', format, autoOffsetReset: 'earliest', autoCommit: false, fetchMinBytes: 1, requestTimeoutMs: 1000 }, deps)
  await inst.subscribe({ topics: ['fetch'] })
  await inst.read(0, 1, format).catch(() => {}) // starts the session where it is lazy
  stub.join({ [topic]: [0] })
  const responses: Array<{ raw: Buffer, first: number }> = []
  for (let o = 0; o < total; o += perBatch) {
    responses.push({ raw: makeResponse(topic, o, Math.min(perBatch, total - o)), first: o })
  }
  const eachBatch = stub.batch()

  for (let round = 0; round < 3; round++) {
    let tBatch = 0; let tRead = 0; let tRender = 0; let n = 0
    for (const r of responses) {
      let t = performance.now()
      await eachBatch(await payload(r.raw, r.first))
      tBatch += performance.now() - t
      t = performance.now()
      const records = await inst.read(0, 64 * 1048576, format)
      tRead += performance.now() - t
      t = performance.now()
      const body = records.render(pool)
      tRender += performance.now() - t
      records.release() // as the route does once the answer is written out
      n += records.length
      if (body.length === 0) throw new Error('empty')
    }
    // Back to the start, so the same responses are accepted again.
    await inst.seek([{ topic: 'fetch', partition: 0, offset: 0 }])
    if (round === 0) continue // warm-up
    const us = (ms: number): string => (ms * 1000 / n).toFixed(2)
    console.log(`${format} ${size} B, ${n} records${process.argv.includes('--kafkajs') ? ' (kafkajs decoder)' : ''}${pool ? '' : ' (fresh output buffers)'}: response→buffer ${us(tBatch)} µs, read (take+wire) ${us(tRead)} µs, render ${us(tRender)} µs, total ${us(tBatch + tRead + tRender)} µs per record`)
  }
  await inst.close()
}

main().catch(err => { console.error(err); process.exit(1) })
