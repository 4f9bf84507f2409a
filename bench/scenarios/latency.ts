/**
 * Scenario 2, delivery latency. A GET records long poll is waiting; a kafkajs producer (in the runner) sends
 * one record; the latency is from just before send() to the HTTP response having fully arrived. Baseline:
 * the same producer and a plain kafkajs consumer (eachMessage), from send() to eachMessage being called.
 * Proxy and baseline alternate in blocks so both see the same noise; percentiles are over all samples, and the
 * per-block figures give the min–max.
 */
import { randomBytes } from 'node:crypto'
import type { Producer } from 'kafkajs'
import { BenchUser, BINARY, shortName, sleep } from '../lib/http.js'
import { log, type BenchContext } from '../lib/context.js'
import { fmt, percentile, spread, type Spread } from '../lib/stats.js'
import type { ScenarioResult, Target } from '../lib/result.js'
import { pickKnobs } from './fetch.js'
import { countRecords } from '../lib/records.js'

/** Pause between a response and the next send, so the next long poll (and kafkajs' fetch) is waiting. */
const GAP_MS = 8

async function proxyBlock (
  user: BenchUser,
  path: string,
  producer: Producer,
  kafkaTopic: string,
  n: number
): Promise<number[]> {
  const out: number[] = []
  let misses = 0
  const missed: string[] = []
  // Take what the instance buffered meanwhile (the baseline's records, or a record that arrived after its read
  // answered), until a short read finds nothing, so that every timed read waits. Without it after a miss, a
  // record arriving late left each later read answering at once with the previous send's record.
  const catchUp = async (): Promise<void> => {
    for (let i = 0; i < 50; i++) {
      const res = await user.req('GET', `${path}/records?timeout=50`, undefined, { accept: BINARY })
      if (countRecords(res.body) === 0) return
    }
  }
  await catchUp()
  while (out.length < n) {
    const poll = user.req('GET', `${path}/records?timeout=5000`, undefined, { accept: BINARY })
    await sleep(GAP_MS + Math.random() * 4)
    const t0 = performance.now()
    await producer.send({ topic: kafkaTopic, messages: [{ value: 'x' }], acks: 1 })
    const res = await poll
    if (res.status !== 200) throw new Error(`GET records: ${res.status} ${res.text().slice(0, 200)}`)
    const got = countRecords(res.body)
    if (got === 1 && res.at > t0) out.push(res.at - t0)
    else {
      missed.push(`${got} after ${(res.at - t0).toFixed(1)} ms`)
      if (++misses > 20) throw new Error(`proxy latency: ${misses} reads without exactly one record answered after the send (records, answer time from the send: ${missed.slice(-8).join('; ')})`)
      await catchUp()
    }
  }
  if (misses > 0) log(`latency: ${misses} proxy read(s) left out of the samples (records, answer time from the send: ${missed.join('; ')})`)
  return out
}

export async function runLatency (ctx: BenchContext): Promise<ScenarioResult> {
  const started = new Date()
  const t0 = performance.now()
  const blocks = ctx.opts.quick ? 2 : 5
  const perBlock = ctx.opts.quick ? 150 : 200
  const user = await BenchUser.create(() => ctx.client, ctx.globus)
  const topic = await user.topic(1)
  ctx.cleanup.teardown(() => user.deleteTopic(topic))
  const kafkaTopic = user.kafkaTopic(topic)
  const kafka = ctx.kafka('diaspora-bench-latency')
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  ctx.cleanup.teardown(() => producer.disconnect())

  // The proxy side: one instance at the latest offset, warmed up until a record round-trips.
  const path = await user.consumer(shortName('g'), { 'auto.offset.reset': 'latest' })
  await user.subscribe(path, [topic])
  for (let i = 0; ; i++) {
    if (i > 60) throw new Error('proxy instance never delivered the warm-up record')
    const poll = user.req('GET', `${path}/records?timeout=1000`, undefined, { accept: BINARY })
    await sleep(50)
    await producer.send({ topic: kafkaTopic, messages: [{ value: 'warm-up' }], acks: 1 })
    if (countRecords((await poll).body) > 0) break
  }
  await user.req('GET', `${path}/records?timeout=200`, undefined, { accept: BINARY })

  // The baseline: a plain kafkajs consumer (eachMessage) on the same topic, own group, from the latest offset.
  const consumer = kafka.consumer({ groupId: `bench-latency-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false })
  await consumer.connect()
  ctx.cleanup.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topics: [kafkaTopic], fromBeginning: false })
  let onMessage: (() => void) | undefined
  await consumer.run({ eachMessage: async () => { onMessage?.() } })
  for (let i = 0; ; i++) {
    if (i > 60) throw new Error('baseline consumer never delivered the warm-up record')
    const got = new Promise<boolean>(resolve => {
      onMessage = () => resolve(true)
      setTimeout(() => resolve(false), 1000)
    })
    await producer.send({ topic: kafkaTopic, messages: [{ value: 'warm-up' }], acks: 1 })
    if (await got) break
  }
  await sleep(300)
  onMessage = undefined

  const baselineBlock = async (n: number): Promise<number[]> => {
    const out: number[] = []
    while (out.length < n) {
      await sleep(GAP_MS + Math.random() * 4)
      let at = 0
      const got = new Promise<void>(resolve => { onMessage = () => { at = performance.now(); resolve() } })
      const t = performance.now()
      await producer.send({ topic: kafkaTopic, messages: [{ value: 'x' }], acks: 1 })
      await got
      out.push(at - t)
    }
    return out
  }

  const all: Record<'proxy' | 'kafkajs', number[]> = { proxy: [], kafkajs: [] }
  const per: Record<'proxy' | 'kafkajs', { p50: number[], p99: number[] }> = { proxy: { p50: [], p99: [] }, kafkajs: { p50: [], p99: [] } }
  for (let b = 0; b < blocks; b++) {
    const order: Array<'proxy' | 'kafkajs'> = b % 2 === 0 ? ['kafkajs', 'proxy'] : ['proxy', 'kafkajs']
    for (const which of order) {
      // Both consumers are subscribed all along; each block only times one of them.
      const xs = which === 'proxy'
        ? await proxyBlock(user, path, producer, kafkaTopic, perBlock)
        : await baselineBlock(perBlock)
      all[which].push(...xs)
      per[which].p50.push(percentile(xs, 50))
      per[which].p99.push(percentile(xs, 99))
      log(`latency: block ${b + 1}/${blocks} ${which}: p50 ${fmt(percentile(xs, 50))} ms, p99 ${fmt(percentile(xs, 99))} ms`)
    }
  }
  await user.deleteConsumer(path)

  const fig = (w: 'proxy' | 'kafkajs'): { p50: number, p99: number, max: number, n: number, blockP50: Spread, blockP99: Spread } => ({
    p50: percentile(all[w], 50),
    p99: percentile(all[w], 99),
    max: Math.max(...all[w]),
    n: all[w].length,
    blockP50: spread(per[w].p50),
    blockP99: spread(per[w].p99)
  })
  const proxy = fig('proxy')
  const base = fig('kafkajs')
  const withBlocks = (v: number, s: Spread): string => `${fmt(v)} (blocks ${fmt(s.min)}–${fmt(s.max)})`
  const targets: Target[] = [
    { name: 'latency: proxy p50, send → HTTP response', goal: '≤ 5 ms', measured: `${withBlocks(proxy.p50, proxy.blockP50)} ms`, pass: proxy.p50 <= 5 },
    { name: 'latency: proxy p99, send → HTTP response', goal: '≤ 25 ms', measured: `${withBlocks(proxy.p99, proxy.blockP99)} ms`, pass: proxy.p99 <= 25 }
  ]
  return {
    id: 'latency',
    title: 'Delivery latency',
    startedAt: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    settings: { records: proxy.n, blocks, perBlock, gapMs: `${GAP_MS}–${GAP_MS + 4}`, readTimeoutMs: 5000, producer: 'kafkajs, acks=1, one record per send', baseline: 'kafkajs 2.2.4 consumer, library defaults, eachMessage', knobs: pickKnobs(ctx.env) },
    tables: [{
      title: `Delivery latency, send → delivered (${proxy.n} records per side, ${blocks} alternating blocks; ms)`,
      headers: ['consumer', 'p50', 'p99', 'max', 'p50 × baseline', 'p99 × baseline'],
      rows: [
        ['kafkajs eachMessage (baseline)', withBlocks(base.p50, base.blockP50), withBlocks(base.p99, base.blockP99), fmt(base.max), '1', '1'],
        ['proxy GET records long poll', withBlocks(proxy.p50, proxy.blockP50), withBlocks(proxy.p99, proxy.blockP99), fmt(proxy.max), fmt(proxy.p50 / base.p50, 2), fmt(proxy.p99 / base.p99, 2)]
      ]
    }],
    targets,
    data: { proxy, kafkajs: base, ratioP50: proxy.p50 / base.p50, ratioP99: proxy.p99 / base.p99 },
    notes: []
  }
}
