/**
 * Every change this service makes to kafkajs 2.2.4 (pinned exactly in package.json), in one place, applied by
 * `applyKafkajsPatches()` when the kafka plugin starts (and by tests and benchmarks that drive the adapter
 * without it), never as a side effect of an import. Each patch is idempotent and checks that kafkajs' internals
 * are the ones it was written for; applyKafkajsPatches fails with a clear message when one does not apply, so a
 * different kafkajs stops the service at boot instead of running it on a path nobody tests.
 *
 * Consumer side (the sessions, session.ts):
 * - the request-queue timer loop (tulios/kafkajs#1556);
 * - the fetch gate (ConsumerGroup#fetch): parking and back-pressure without kafkajs' pause();
 * - our Fetch v11 decoder (fetch-decoder.ts) for our sessions' brokers (Broker#fetch).
 * Producer side (plugins/producer):
 * - the record encoder (headers in order, null header values), CRC-32C, and the Produce request that writes
 *   record batches encoded by record-batch.ts.
 */
import { createRequire } from 'node:module'
import { crc32c } from './crc32c.js'
import { Waiters } from '../waits.js'
import { FetchDecoder, type Codec as DecodeCodec, type DecodeHelpers } from './fetch-decoder.js'
import { carrier, encodedRecordsOf, encodeProduceBody, encodeRecords, type BatchRecord, type ProduceBody } from './record-batch.js'

/** kafkajs' internal modules, which the patches reach (kafkajs is CommonJS and has no exports map). */
const require = createRequire(import.meta.url)

// ---- consumer side --------------------------------------------------------------------------------------

interface RequestQueueLike { pending: unknown[], scheduleCheckPendingRequests (): void }

/**
 * kafkajs 2.2.4 bug (tulios/kafkajs#1556, #1704): after every response, a connection's RequestQueue re-arms
 * its "check pending requests" timer even when nothing is pending and nothing is throttled, with a negative
 * delay, so every connection spins a 1 ms setTimeout loop for ever. A consumer instance holds two
 * connections, and idle instances spent most of their CPU there (BENCHMARKS.md, many instances). With no
 * pending request there is nothing to check: a request queued later (throttled or over the in-flight limit)
 * schedules its own check in push(). Process-wide and idempotent; returns whether the patch is in place.
 */
export function patchKafkajsRequestQueue (): boolean {
  let proto: RequestQueueLike & { diasporaPatched?: boolean }
  try {
    proto = (require('kafkajs/src/network/requestQueue/index.js') as { prototype: typeof proto }).prototype
  } catch {
    return false // another kafkajs layout: leave it alone
  }
  if (proto.diasporaPatched) return true
  const original = proto.scheduleCheckPendingRequests
  if (typeof original !== 'function') return false
  proto.scheduleCheckPendingRequests = function (this: RequestQueueLike) {
    if (this.pending.length > 0) original.call(this)
  }
  proto.diasporaPatched = true
  return true
}

interface ConsumerGroupLike { cluster: object, fetch (nodeId: number): Promise<unknown[]> }

/**
 * When a session's fetch loop may fetch (session.ts keeps one per session). Closed while parked (nobody reads)
 * or held (the instance's buffer is full): the loop then waits here, up to one heartbeat interval (its runner
 * heartbeats when the wait returns no batches, so the membership holds) or until opened or stopped, and fetches
 * nothing.
 */
export class FetchGate {
  parked = false
  held = false
  #waiters = new Waiters()
  constructor (readonly ms: number) {}
  get closed (): boolean { return this.parked || this.held }
  async wait (): Promise<void> { await this.#waiters.wait(this.ms) }

  /** End every wait now (opened, or stopping: kafkajs' disconnect waits for the fetch loop). */
  release (): void { this.#waiters.wake() }
}

/** The gate of each session, by the kafkajs Cluster its consumer owns (the handle its ConsumerGroup carries). */
const gates = new WeakMap<object, FetchGate>()
/** Marks the kafkajs Brokers of our sessions' clusters, whose fetches patchKafkajsFetchDecoder decodes. */
const OURS = Symbol('diaspora.session')

/**
 * Fetches under way (their start times), by the Cluster of the consumer that sent them. A broker that stops
 * answering without closing its sockets (frozen, partitioned away) shows as a fetch outstanding far beyond
 * maxWaitTimeInMs, long before kafkajs gives up on it at its request timeout.
 */
const fetchesInFlight = new WeakMap<object, Set<{ since: number }>>()

/**
 * Parking and back-pressure at the fetch, through ConsumerGroup#fetch (process-wide and idempotent; returns
 * whether the patch is in place):
 * - not kafkajs' pause(): with every partition paused, kafkajs 2.2.4 still runs its fetch loop every
 *   maxWaitTimeInMs (metadata check, offsets, a sleep it cannot cut short), 2 turns a second per consumer, and a
 *   resume waits for the sleep to end;
 * - not holding the batch being delivered in eachBatch either: kafkajs' fetcher keeps the whole fetch response
 *   (its buffer and a decoded message object per record) until every batch of it is handled, so a held batch
 *   kept megabytes alive long enough to be promoted to V8's old space, and a consumer whose reader fell behind
 *   made the garbage collector run mark-compacts back to back (BENCHMARKS.md, fetch throughput). Waiting before
 *   the next fetch instead lets each response die young, right after its records are copied out.
 */
export function patchKafkajsFetchGate (): boolean {
  let proto: ConsumerGroupLike & { diasporaGate?: boolean }
  try {
    proto = (require('kafkajs/src/consumer/consumerGroup.js') as { prototype: typeof proto }).prototype
  } catch {
    return false
  }
  if (proto.diasporaGate) return true
  const original = proto.fetch
  if (typeof original !== 'function') return false
  proto.fetch = async function (this: ConsumerGroupLike, nodeId: number) {
    const gate = gates.get(this.cluster)
    if (gate?.closed) {
      await gate.wait()
      return []
    }
    let fetches = fetchesInFlight.get(this.cluster)
    if (!fetches) fetchesInFlight.set(this.cluster, (fetches = new Set()))
    const fetch = { since: Date.now() }
    fetches.add(fetch)
    try {
      return await original.call(this, nodeId)
    } finally {
      fetches.delete(fetch)
    }
  }
  proto.diasporaGate = true
  return true
}

interface BrokerLike {
  [OURS]?: boolean
  lookupRequest: (apiKey: number, definition: unknown) => (...args: unknown[]) => { response: unknown }
  fetch (args: unknown): Promise<unknown>
}

/**
 * Our decoder of Fetch v11 responses (fetch-decoder.ts) for the fetches of our sessions' consumers: kafkajs'
 * Broker#fetch looks up the request's encoder and decoder first thing; for a broker of ours, that one lookup
 * hands back our decoder in place of kafkajs' v11 response decoder (the only version we replace: another
 * negotiated version keeps kafkajs' own, and the session converts its messages as before). Other kafkajs users in
 * the process are left alone. Process-wide and idempotent; returns whether the patch is in place.
 */
export function patchKafkajsFetchDecoder (): boolean {
  let proto: BrokerLike & { diasporaDecoder?: boolean }
  let v11: { parse: unknown }
  let helpers: DecodeHelpers
  try {
    proto = (require('kafkajs/src/broker/index.js') as { prototype: typeof proto }).prototype
    v11 = require('kafkajs/src/protocol/requests/fetch/v11/response.js') as typeof v11
    helpers = kafkajsDecodeHelpers()
  } catch {
    return false
  }
  if (proto.diasporaDecoder) return true
  const original = proto.fetch
  if (typeof original !== 'function' || typeof v11.parse !== 'function') return false
  const decoder = new FetchDecoder(helpers)
  const response = { decode: (raw: Buffer) => decoder.decode(raw), parse: v11.parse }
  proto.fetch = function (this: BrokerLike, args: unknown) {
    if (this[OURS] !== true) return original.call(this, args)
    const lookup = this.lookupRequest
    this.lookupRequest = (apiKey, definition) => {
      const make = lookup(apiKey, definition)
      return (...a) => {
        const request = make(...a)
        return request.response === v11 ? { ...request, response } : request
      }
    }
    try {
      return original.call(this, args) // looks the request up before its first await
    } finally {
      this.lookupRequest = lookup
    }
  }
  proto.diasporaDecoder = true
  return true
}

/**
 * What the fetch decoder takes from kafkajs: its codec registry (codecs registered by the kafka plugin) and its
 * own decoding.
 */
export function kafkajsDecodeHelpers (): DecodeHelpers {
  const codecs = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodecByAttributes (attributes: number): DecodeCodec | null }
  const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (decoder: unknown) => Promise<unknown[]>
  const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown
  return {
    codec: (attributes) => codecs.lookupCodecByAttributes(attributes),
    kafkajsMessages: async (recordSet) => decodeMessages(new Decoder(recordSet))
  }
}
/**
 * Tie a session's kafkajs consumer to the patches, through the Cluster kafkajs hands its assigner factories
 * (kafkajs makes a Cluster per consumer): its fetches wait at `gate`, are timed (fetchingSince), and the
 * brokers its cluster hands out answer through our decoder.
 */
export function attachSession (cluster: object, gate: FetchGate): void {
  gates.set(cluster, gate)
  markBrokers(cluster)
}

/** When the oldest fetch of the session's consumer still waiting for the broker began; undefined when none. */
export function fetchingSince (cluster: object): number | undefined {
  const fetches = fetchesInFlight.get(cluster)
  if (!fetches) return undefined
  let oldest: number | undefined
  for (const { since } of fetches) if (oldest === undefined || since < oldest) oldest = since
  return oldest
}

/** Mark the brokers a session's cluster hands out (its consumer's own). */
function markBrokers (cluster: object): void {
  const c = cluster as { findBroker?: (...args: unknown[]) => Promise<BrokerLike | undefined>, [OURS]?: boolean }
  const find = c.findBroker
  if (c[OURS] === true) return
  if (typeof find !== 'function') throw new Error('kafkajs\' Cluster has no findBroker: not the kafkajs 2.2.4 the fetch decoder patch was written for')
  c[OURS] = true
  c.findBroker = async function (this: unknown, ...args: unknown[]) {
    const broker = await find.apply(this, args)
    if (broker) broker[OURS] = true
    return broker
  }
}

let consumerPatched = false

/** Whether the consumer patches are in place (the session refuses to run without them). */
export function consumerPatchesApplied (): boolean { return consumerPatched }

// ---- producer side --------------------------------------------------------------------------------------

interface EncoderLike {
  buf: Buffer
  writeVarInt (n: number): EncoderLike
  writeInt8 (n: number): EncoderLike
  writeVarLong (n: unknown): EncoderLike
  writeVarIntBytes (b: unknown): EncoderLike
  writeVarIntArray (a: unknown[]): EncoderLike
}
interface EncoderClass {
  new (initialSize?: number): EncoderLike
  sizeOfVarInt (n: number): number
  sizeOfVarLong (n: unknown): number
  sizeOfVarIntBytes (b: unknown): number
}

export interface OrderedHeader { key: string, value: Buffer | null }
type HeaderInput = OrderedHeader[] | Record<string, Buffer | string | null | Array<Buffer | string | null>>
interface RecordInput {
  offsetDelta?: number
  timestampDelta?: unknown
  key: unknown
  value: unknown
  headers?: HeaderInput
}

/** The produce request modules (v3 to v7), which capture the record batch encoders when they load. */
const PRODUCE_REQUESTS = [3, 4, 5, 6, 7].map(v => `kafkajs/src/protocol/requests/produce/v${v}/request.js`)

/**
 * Replaces the exports of kafkajs' module `id` with `make()`'s result, and drops `dependents` from require's
 * cache so that they load again with it at their next use. True when done; false when kafkajs' layout does
 * not match (the caller keeps kafkajs' own module).
 */
function swapModule (id: string, make: () => unknown, dependents: string[]): boolean {
  try {
    const resolved = require.resolve(id)
    require(resolved)
    const mod = require.cache[resolved]
    if (!mod) return false
    mod.exports = make()
    for (const dependent of dependents) delete require.cache[require.resolve(dependent)]
    return true
  } catch {
    return false
  }
}

let patched: boolean | undefined

/**
 * One fix to kafkajs 2.2.4's record encoder (src/protocol/recordBatch/record/v0): it measures every header
 * value with Buffer.byteLength before checking for null, so a header with a null value (Confluent's
 * `{"name": "h", "value": null}`) throws. The replacement below encodes the same bytes, allows null values,
 * and also takes the headers as an ordered list of `{key, value}` so that interleaved repeated names keep
 * their order (kafkajs' object form cannot say `a, b, a`). Object headers still work as before, for every
 * other kafkajs producer in the process.
 *
 * The produce request modules (v3 to v7) capture the record encoder when they load, so they are dropped
 * from require's cache after the swap and load again, with the fixed encoder, at the next produce.
 */
export function patchKafkajsRecordHeaders (): boolean {
  patched ??= swapModule('kafkajs/src/protocol/recordBatch/record/v0/index.js', () => {
    const Encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass
    const Header = require('kafkajs/src/protocol/recordBatch/header/v0/index.js') as (h: { key: string, value: unknown }) => unknown
    const listOf = (headers: HeaderInput): Array<{ key: string, value: unknown }> => Array.isArray(headers)
      ? headers
      : Object.keys(headers).flatMap(key => {
        const v = headers[key]
        return Array.isArray(v) ? v.map(value => ({ key, value })) : [{ key, value: v }]
      })
    return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordInput) => {
      const list = listOf(headers)
      let headerSize = Encoder.sizeOfVarInt(list.length)
      for (const h of list) {
        const keySize = Buffer.byteLength(h.key)
        headerSize += Encoder.sizeOfVarInt(keySize) + keySize
        headerSize += h.value === null || h.value === undefined
          ? Encoder.sizeOfVarInt(-1)
          : Encoder.sizeOfVarInt(Buffer.byteLength(h.value as Buffer)) + Buffer.byteLength(h.value as Buffer)
      }
      const sizeOfBody = 1 + Encoder.sizeOfVarLong(timestampDelta) + Encoder.sizeOfVarInt(offsetDelta) +
        Encoder.sizeOfVarIntBytes(key) + Encoder.sizeOfVarIntBytes(value) + headerSize
      // The record's exact size, from the pool and not zero-filled, where kafkajs' Encoder starts at 512 zeroed
      // bytes and doubles (another zeroed buffer and a copy for a 1 KiB value). A wrong size costs a regrowth.
      const encoder = new Encoder(1)
      encoder.buf = Buffer.allocUnsafe(Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody)
      return encoder
        .writeVarInt(sizeOfBody)
        .writeInt8(0)
        .writeVarLong(timestampDelta)
        .writeVarInt(offsetDelta)
        .writeVarIntBytes(key)
        .writeVarIntBytes(value)
        .writeVarIntArray(list.map(Header))
    }
  }, PRODUCE_REQUESTS)
  return patched
}

let crcPatched: boolean | undefined

/**
 * A second swap, of kafkajs' CRC-32C (a byte at a time) for crc32c.ts (eight bytes at a time, the same
 * values): the record batch encoder captures it when it loads, so it and the produce request modules are
 * dropped from require's cache to load again with it. Process-wide and idempotent.
 */
export function patchKafkajsCrc32C (): boolean {
  crcPatched ??= swapModule('kafkajs/src/protocol/recordBatch/crc32C/index.js', () => (buffer: Buffer): number => crc32c(buffer),
    ['kafkajs/src/protocol/recordBatch/v0/index.js', ...PRODUCE_REQUESTS])
  return crcPatched
}

interface ProduceRequestArgs {
  acks: number
  timeout: number
  transactionalId?: string | null
  producerId?: unknown
  producerEpoch?: number
  compression?: number
  topicData: Array<{
    topic: string
    partitions: Array<{ partition: number, firstSequence?: number, messages: unknown[] }>
  }>
}
interface ProduceRequest { apiKey: number, apiVersion: number, encode: () => Promise<EncoderLike> }
type ProduceRequestModule = (args: ProduceRequestArgs) => ProduceRequest
interface LongLike { toString (): string }
interface LongClass { fromValue (v: unknown): LongLike }
interface Codec { compress (encoder: { buffer: Buffer }): Promise<Buffer> }

/** The body of `args` when every partition is one carrier of encoded records (record-batch.ts), else undefined. */
function encodedBody (args: ProduceRequestArgs, Long: LongClass): ProduceBody | undefined {
  const topics: ProduceBody['topics'] = []
  for (const t of args.topicData) {
    const partitions: ProduceBody['topics'][number]['partitions'] = []
    for (const p of t.partitions) {
      const records = p.messages.length === 1 ? encodedRecordsOf(p.messages[0]) : undefined
      if (!records) return undefined
      partitions.push({ partition: p.partition, firstSequence: p.firstSequence ?? 0, records })
    }
    topics.push({ topic: t.topic, partitions })
  }
  return {
    transactionalId: args.transactionalId ?? null,
    acks: args.acks,
    timeout: args.timeout,
    compression: args.compression ?? 0,
    producerId: BigInt(Long.fromValue(args.producerId ?? -1).toString()),
    producerEpoch: args.producerEpoch ?? 0,
    topics
  }
}

/**
 * A check message set: null key, null value, empty value, headers (a repeated name, a null value), spread
 * timestamps.
 */
function sampleRecords (): BatchRecord[] {
  return [
    { key: Buffer.from('k1'), value: Buffer.from('v1'), headers: [], timestamp: 1_700_000_000_123 },
    { key: null, value: Buffer.alloc(300, 7), headers: [{ name: 'a', value: Buffer.from('x') }, { name: 'b', value: null }, { name: 'a', value: Buffer.alloc(0) }], timestamp: 1_700_000_000_100 },
    { key: Buffer.from('k3'), value: null, headers: [], timestamp: 1_700_000_900_000 },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [{ name: 'é', value: Buffer.from('y') }], timestamp: 1_700_000_000_101 }
  ]
}

function makeReplacement (original: ProduceRequestModule): ProduceRequestModule {
  const Encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass
  const Long = require('kafkajs/src/utils/long.js') as LongClass
  const { lookupCodec } = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodec: (type: number) => Codec | null }
  if (typeof original !== 'function' || typeof Encoder !== 'function' || typeof Long.fromValue !== 'function' || typeof lookupCodec !== 'function') {
    throw new Error('kafkajs layout changed')
  }
  const asEncoder = (buf: Buffer): EncoderLike => {
    const e = new Encoder(1) as EncoderLike & { offset: number }
    e.buf = buf
    e.offset = buf.length
    return e
  }
  return (args) => {
    const request = original(args)
    const body = encodedBody(args, Long)
    if (!body) return request
    const codec = body.compression === 0 ? null : lookupCodec(body.compression)
    const compress = codec ? async (records: Buffer): Promise<Buffer> => codec.compress({ buffer: records }) : undefined
    return { ...request, encode: async () => asEncoder(await encodeProduceBody(body, compress)) }
  }
}

/** Do kafkajs' request and the replacement write the same bytes for the sample (plain and gzip)? */
async function sameBytes (original: ProduceRequestModule, replacement: ProduceRequestModule): Promise<boolean> {
  const records = sampleRecords()
  const encoded = encodeRecords(records)
  for (const compression of [0, 1]) {
    const common = { acks: -1, timeout: 30000, transactionalId: null, producerEpoch: 0, compression }
    const theirs = await original({
      ...common,
      topicData: [{ topic: 't', partitions: [{ partition: 3, firstSequence: 0, messages: records.map(r => ({ key: r.key, value: r.value, timestamp: String(r.timestamp), headers: r.headers.map(h => ({ key: h.name, value: h.value })) })) }] }]
    }).encode()
    const ours = await replacement({ ...common, topicData: [{ topic: 't', partitions: [{ partition: 3, firstSequence: 0, messages: [carrier(3, encoded)] }] }] }).encode()
    if (!theirs.buf.subarray(0, (theirs as EncoderLike & { offset: number }).offset).equals(ours.buf)) return false
  }
  return true
}

/** A Produce request module (v0–v2) that throws for a request carrying encoded records. */
function refuseCarriers (original: ProduceRequestModule): ProduceRequestModule {
  if (typeof original !== 'function') throw new Error('kafkajs layout changed')
  return (args) => {
    if (args.topicData.some(t => t.partitions.some(p => p.messages.some(m => encodedRecordsOf(m) !== undefined)))) {
      throw new Error('the Kafka broker only speaks Produce v0–v2 (Kafka before 0.11), which cannot carry record batches; nothing was sent')
    }
    return original(args)
  }
}

let producePatched: Promise<boolean> | undefined

/**
 * A third swap, of kafkajs' Produce request (v3, which v4 to v7 extend): a request whose partitions each
 * carry one message of encoded records (record-batch.ts `carrier`) is written by `encodeProduceBody` in one
 * buffer; any other request is kafkajs' own. Needs the record encoder and CRC-32C patches (applied first:
 * they reload the produce modules). Before swapping, both write a sample request and the bytes must be the
 * same; false (kafkajs' own request kept, the engine builds kafkajs messages) when kafkajs' layout or bytes
 * are not the expected ones. Process-wide and idempotent.
 */
export async function patchKafkajsProduceRequest (): Promise<boolean> {
  producePatched ??= (async () => {
    if (!patchKafkajsRecordHeaders() || !patchKafkajsCrc32C()) return false
    const v3 = 'kafkajs/src/protocol/requests/produce/v3/request.js'
    let replacement: ProduceRequestModule
    try {
      const original = require(v3) as ProduceRequestModule
      replacement = makeReplacement(original)
      if (!await sameBytes(original, replacement)) return false
    } catch {
      return false
    }
    // Produce v0–v2 (brokers before Kafka 0.11) write message sets, which cannot hold a record batch: a carrier
    // there would be written as one message holding the batch's bytes. They refuse carriers instead (before
    // anything is written, so the engine answers 503), and the encoder is used only once both guards are in.
    const guards = [0, 2].map(v => `kafkajs/src/protocol/requests/produce/v${v}/request.js`)
    for (const id of guards) {
      if (!swapModule(id, () => refuseCarriers(require(id) as ProduceRequestModule), ['kafkajs/src/protocol/requests/produce/v1/request.js'])) return false
    }
    return swapModule(v3, () => replacement, PRODUCE_REQUESTS.filter(id => id !== v3))
  })()
  return producePatched
}

// ---- applying them --------------------------------------------------------------------------------------

/**
 * Apply every patch, once per process (idempotent); throws, naming what did not apply, when the installed
 * kafkajs is not the one they were written for. The kafka plugin calls it at start, before any client exists.
 */
export async function applyKafkajsPatches (): Promise<void> {
  const failed: string[] = []
  const check = (ok: boolean, name: string): void => { if (!ok) failed.push(name) }
  check(patchKafkajsRequestQueue(), 'request queue (network/requestQueue)')
  check(patchKafkajsFetchGate(), 'fetch gate (consumer/consumerGroup)')
  check(patchKafkajsFetchDecoder(), 'fetch decoder (broker, fetch v11 response)')
  consumerPatched = failed.length === 0
  check(patchKafkajsRecordHeaders(), 'record encoder (recordBatch/record/v0)')
  check(patchKafkajsCrc32C(), 'CRC-32C (recordBatch/crc32C)')
  check(await patchKafkajsProduceRequest(), 'produce request (requests/produce/v0-v7)')
  if (failed.length > 0) {
    throw new Error(`The installed kafkajs is not the one this service patches (kafkajs 2.2.4, pinned in package.json): ${failed.join(', ')} did not apply. Reinstall with npm ci.`)
  }
}
