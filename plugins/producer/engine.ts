/**
 * The produce engine: one shared kafkajs producer for the process (acks=-1), fed by every produce request.
 * Plain module: no Fastify.
 *
 * - Records of concurrent requests are queued and sent together: a flush takes what is queued at the next
 *   tick (or after PRODUCE_LINGER_MS) and sends it with one `sendBatch`. While a send waits for Kafka, new
 *   records accumulate until a send is answered or they fill a Kafka request (FILL_RECORDS, FILL_BYTES), and
 *   at most PRODUCE_MAX_IN_FLIGHT_SENDS flushes wait at once, so a busy gateway, or a stream whose records
 *   arrive a few per chunk, makes few, large Kafka requests; a lone record (nothing in flight) goes at once.
 * - Each record's partition is chosen here, before sending (partitioner.ts), so its offset is the base offset
 *   Kafka answers for its partition plus its index among that flush's records of the partition.
 * - With `encodedBatches`, each partition's records of a flush are encoded here (kafka/kafkajs/record-batch.ts) and go to
 *   kafkajs as one carrier message, which the patched Produce request writes as the partition's batch.
 * - Admission: metadata (topic, partition), the record size and the process-wide in-flight byte budget are
 *   checked before a request's records are queued; a refusal (404, 413, 429, 503) is answered with nothing
 *   sent, and a retry is safe.
 * - Duplicates: kafkajs retries a failed send (its `retry` option), and a retry after the broker received
 *   the first attempt writes the records twice (kafka-rest has the same hole: idempotence forced off, retries
 *   on). kafkajs' idempotent producer is no cure: after a failed send it reuses sequence numbers without an
 *   epoch bump, and a later batch can then be acknowledged as a duplicate without being written. So the
 *   producer never retries a send (`retries: 0`); a failed send is answered as 503/50302 when no Produce
 *   request left the process (wire.ts counts them: nothing can have been written, the client retries
 *   safely), and as 500/50003 "outcome unknown" otherwise (the SDK does not retry it).
 * - Drain (shutdown): new requests get 503 before anything is sent; queued records are flushed and the
 *   engine resolves once every send has been answered, so no acknowledged record is lost and none is left
 *   half-sent.
 */
import type { CompressionTypes, Message, RecordMetadata } from 'kafkajs'
import { ApiError, Errors } from '../errors/errors.js'
import { kafkaErrorType, rootMessage } from '../kafka/errors.js'
import { ByteBudget, notAdmitted } from './admission.js'
import type { TopicMetadataCache } from './metadata.js'
import { partitionForKey, Spreader } from './partitioner.js'
import { carrier, encodeRecords, type BatchRecord } from '../kafka/kafkajs/record-batch.js'
import { ProduceErrors, recordSize, type EncodedRecord } from './records.js'

/** What the engine needs of a kafkajs producer. */
export interface ProducerPort {
  connect (): Promise<void>
  disconnect (): Promise<void>
  sendBatch (batch: { topicMessages: Array<{ topic: string, messages: Message[] }>, acks: number, timeout: number, compression: CompressionTypes }): Promise<RecordMetadata[]>
}

export interface ProduceObserver {
  /** Records written and acknowledged, with their key + value + header bytes. */
  written (records: number, bytes: number): void
  /** A record not written, by error code. */
  failed (errorCode: number): void
  /** One Kafka send (flush): its duration and record count. */
  sent (seconds: number, records: number): void
}

export interface ProduceEngineOptions {
  /**
   * Makes the kafkajs producer; called again to replace one that a deleted topic has broken (kafkajs keeps
   * every topic it ever sent to in its metadata requests, and one unknown topic fails them all).
   */
  createProducer: () => ProducerPort
  metadata: TopicMetadataCache
  /** Produce requests written to the wire so far (wire.ts); unchanged across a failed send = nothing sent. */
  produceWrites: () => number
  maxInFlightBytes: number
  maxRecordBytes: number
  lingerMs: number
  requestTimeoutMs: number
  compression: CompressionTypes
  maxInFlightSends?: number
  /** kafka/kafkajs/patches.ts is in place: headers go as an ordered list and may have null values. */
  orderedHeaders?: boolean
  /**
   * kafka/kafkajs/patches.ts `patchKafkajsProduceRequest` is in place: each partition's records go to kafkajs already
   * encoded (kafka/kafkajs/record-batch.ts), as one carrier message, instead of as one kafkajs message per record.
   */
  encodedBatches?: boolean
  /** Seconds a 429 asks the client to wait. */
  retryAfterSeconds?: number
  log?: { warn (obj: object, msg: string): void, error (obj: object, msg: string): void }
}

export interface Delivery {
  partition: number
  offset: number
  /** ms since the epoch: the broker's LogAppendTime, else the record's CreateTime. */
  timestamp: number
}

export type Outcome = { ok: true, delivery: Delivery } | { ok: false, error: ApiError }

/** The records of one `enqueue` call: their outcomes, answered when the last one is settled. */
interface Group {
  outcomes: Array<Outcome | undefined>
  remaining: number
  resolve: () => void
}

/** A queued record (a BatchRecord as record-batch.ts encodes it). */
interface Pending extends BatchRecord {
  topic: string
  userTopic: string
  partition: number
  /** kafkajs' headers, when records go as kafkajs messages (no `encodedBatches`). */
  kafkaHeaders: Message['headers']
  size: number
  group: Group
  /** The record's place in its group. */
  index: number
  answered: boolean
}

// kafkajs' own path (no `encodedBatches`) groups a flush's messages per partition by copying the list for
// every message (quadratic), so a flush holds at most this many records of one partition.
const MAX_PARTITION_RECORDS = 1000
const MAX_FLUSH_RECORDS = 10_000
// Resends of a send that wrote nothing, within a short window (see #send).
const SAFE_RETRIES = 4
const SAFE_RETRY_WINDOW_MS = 2000
// Batch header and per-record framing, on top of key, value and headers.
const RECORD_OVERHEAD = 32
// While a send is in flight, queued records wait for its answer unless they are this many (a records:batch
// request of 500, as the kafkajs baseline sends) or this many bytes.
const FILL_RECORDS = 500
const FILL_BYTES = 512 * 1024

export class ProduceEngine {
  readonly budget: ByteBudget
  readonly #o: ProduceEngineOptions
  readonly #spread = new Spreader()
  readonly #maxSends: number
  #producer: ProducerPort
  #retired: ProducerPort[] = []
  #queue: Pending[] = []
  /** Bytes of the queued records, with RECORD_OVERHEAD each. */
  #queuedBytes = 0
  #scheduled = false
  #inFlight = 0
  #connected: Promise<void> | undefined
  #draining = false
  #idle: Array<() => void> = []
  #observers: ProduceObserver[] = []

  constructor (opts: ProduceEngineOptions) {
    this.#o = opts
    this.budget = new ByteBudget(opts.maxInFlightBytes)
    this.#maxSends = opts.maxInFlightSends ?? 4
    this.#producer = opts.createProducer()
  }

  observe (observer: ProduceObserver): void {
    this.#observers.push(observer)
  }

  get draining (): boolean { return this.#draining }
  /** Records queued and not yet handed to kafkajs. */
  get queued (): number { return this.#queue.length }

  /**
   * Produce `records` to Kafka topic `topic` (`userTopic` is the name the caller knows). Request-level
   * refusals throw, with nothing sent: 503 (draining, Kafka unreachable), 404/40401 (no such topic), 429
   * (budget). Otherwise one outcome per record, in order: per-record validation failures (40402, 41302) and
   * the result of the send.
   */
  async produce (topic: string, userTopic: string, records: EncodedRecord[]): Promise<Outcome[]> {
    return (await this.enqueue(topic, userTopic, records)).done
  }

  /**
   * `produce` in two steps: resolves once the records are admitted and queued (in call order, so records of
   * one stream keep their order), with `done` resolving to the outcomes; rejects with the request-level
   * refusals, nothing sent.
   */
  async enqueue (topic: string, userTopic: string, records: EncodedRecord[]): Promise<{ done: Promise<Outcome[]> }> {
    this.#refuseWhileDraining()
    const count = await this.#o.metadata.partitionCount(topic, userTopic)
    this.#refuseWhileDraining()
    const outcomes: Array<Outcome | undefined> = new Array(records.length)
    const accepted: Array<{ index: number, partition: number, size: number, record: EncodedRecord, headers: Message['headers'] }> = []
    const encoded = this.#o.encodedBatches === true
    let bytes = 0
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as EncodedRecord
      const size = recordSize(record)
      if (size > this.#o.maxRecordBytes) {
        outcomes[index] = this.#fail(ProduceErrors.tooLarge(size, this.#o.maxRecordBytes))
        continue
      }
      let partition: number
      if (record.partition !== undefined) {
        if (record.partition >= count) {
          outcomes[index] = this.#fail(ProduceErrors.partitionNotFound(record.partition))
          continue
        }
        partition = record.partition
      } else if (record.key !== null) {
        partition = partitionForKey(record.key, count)
      } else {
        partition = this.#spread.next(topic, count)
      }
      let headers: Message['headers']
      if (!encoded) {
        try {
          headers = headersOf(record, this.#o.orderedHeaders === true)
        } catch (err) {
          outcomes[index] = this.#fail(err as ApiError)
          continue
        }
      }
      accepted.push({ index, partition, size, record, headers })
      bytes += size
    }
    if (accepted.length === 0) return { done: Promise.resolve(outcomes as Outcome[]) }
    if (!this.budget.tryAcquire(bytes)) {
      this.#observers.forEach(o => o.failed(42901))
      throw notAdmitted(this.#o.retryAfterSeconds ?? 1)
    }
    try {
      await this.#connect()
      this.#refuseWhileDraining()
    } catch (err) {
      this.budget.release(bytes)
      throw err
    }
    const now = Date.now()
    // One promise per call, not per record: the group resolves when its last record is settled.
    let answer!: () => void
    const done = new Promise<void>(resolve => { answer = resolve })
    const group: Group = { outcomes, remaining: accepted.length, resolve: answer }
    for (const { index, partition, size, record, headers } of accepted) {
      this.#queue.push({
        topic,
        userTopic,
        partition,
        key: record.key,
        value: record.value,
        headers: record.headers,
        kafkaHeaders: headers,
        timestamp: record.timestamp ?? now,
        size,
        group,
        index,
        answered: false
      })
      this.#queuedBytes += size + RECORD_OVERHEAD
    }
    this.#schedule()
    return { done: done.then(() => outcomes as Outcome[]) }
  }

  /** Once only: the outcome given first stands, and the budget is given back exactly once. */
  #settle (p: Pending, o: Outcome): void {
    if (p.answered) return
    p.answered = true
    p.group.outcomes[p.index] = o
    this.budget.release(p.size)
    if (--p.group.remaining === 0) p.group.resolve()
  }

  /**
   * Stop admitting (new requests get 503 before anything is sent), send what is queued, and resolve once
   * every send has been answered.
   */
  async drain (): Promise<void> {
    this.#draining = true
    if (this.#queue.length > 0) this.#schedule(true)
    if (this.#queue.length === 0 && this.#inFlight === 0) return
    await new Promise<void>(resolve => this.#idle.push(resolve))
  }

  /** Drain, then close the Kafka producer. */
  async close (): Promise<void> {
    await this.drain()
    const connected = this.#connected
    this.#connected = undefined
    if (connected) await connected.then(() => this.#producer.disconnect(), () => {})
    await Promise.all(this.#retired.splice(0).map(p => p.disconnect().catch(() => {})))
  }

  /** The topic's partition count (404/40401 when it does not exist; 503 when draining or unreachable). */
  async partitionCount (topic: string, userTopic: string): Promise<number> {
    this.#refuseWhileDraining()
    return this.#o.metadata.partitionCount(topic, userTopic)
  }

  #refuseWhileDraining (): void {
    if (this.#draining) throw Errors.brokerUnavailable('the gateway is shutting down; retry on another node or later')
  }

  #fail (error: ApiError): Outcome {
    this.#observers.forEach(o => o.failed(error.errorCode))
    return { ok: false, error }
  }

  async #connect (): Promise<void> {
    if (!this.#connected) {
      const p = this.#producer.connect()
      this.#connected = p
      p.catch(() => { if (this.#connected === p) this.#connected = undefined })
    }
    try {
      await this.#connected
    } catch (err) {
      throw Errors.brokerUnavailable(`cannot connect to Kafka (${rootMessage(err, 300)}); nothing was sent`)
    }
  }

  /** A new kafkajs producer for the next sends; the old one is disconnected once its sends are over. */
  #replaceProducer (): void {
    this.#retired.push(this.#producer)
    this.#producer = this.#o.createProducer()
    this.#connected = undefined
    this.#o.log?.warn({}, 'produce: kafkajs producer replaced (its metadata named a topic Kafka no longer has)')
  }

  /** `answered`: a send has just been answered, so what is queued goes even when it fills no request. */
  #schedule (now = false, answered = false): void {
    if (this.#scheduled || this.#queue.length === 0) return
    if (this.#inFlight >= this.#maxSends && !this.#draining) return
    if (this.#inFlight > 0 && !now && !answered && !this.#draining &&
      this.#queue.length < FILL_RECORDS && this.#queuedBytes < FILL_BYTES) return
    this.#scheduled = true
    const run = (): void => { this.#scheduled = false; this.#flush() }
    if (now || this.#o.lingerMs === 0) setImmediate(run)
    else setTimeout(run, this.#o.lingerMs)
  }

  /** Take what fits into one Kafka request (order kept) and send it. */
  #flush (): void {
    if (this.#queue.length === 0) return
    const perPartition = new Map<string, { bytes: number, records: number }>()
    let take = 0
    for (const p of this.#queue) {
      if (take >= MAX_FLUSH_RECORDS) break
      const k = `${p.topic}\0${p.partition}`
      const cur = perPartition.get(k) ?? { bytes: 0, records: 0 }
      const size = p.size + RECORD_OVERHEAD
      // A partition's records form one record batch, which the broker refuses beyond its message size limit.
      if (cur.records > 0 && (cur.bytes + size > this.#o.maxRecordBytes || cur.records >= MAX_PARTITION_RECORDS)) break
      cur.bytes += size
      cur.records++
      perPartition.set(k, cur)
      take++
    }
    const batch = this.#queue.splice(0, take)
    for (const p of batch) this.#queuedBytes -= p.size + RECORD_OVERHEAD
    this.#inFlight++
    this.#send(batch).catch((err: unknown) => {
      // A bug or a kafkajs surprise after the send began: whatever was written, every record is answered
      // (outcome unknown) and its budget given back; records already answered keep their outcome.
      this.#o.log?.error({ err, records: batch.length }, 'produce: send failed unexpectedly')
      const error = new ApiError(500, 50003, 'Kafka error, outcome unknown (the records may or may not have been written)', { code: 'KAFKA_OUTCOME_UNKNOWN' })
      for (const p of batch) this.#settle(p, { ok: false, error })
    }).finally(() => {
      this.#inFlight--
      // A replaced producer goes once no send of it can be in flight.
      if (this.#inFlight === 0 && this.#retired.length > 0) this.#retired.splice(0).forEach(p => { p.disconnect().catch(() => {}) })
      if (this.#queue.length > 0) this.#schedule(false, true)
      else if (this.#inFlight === 0) this.#idle.splice(0).forEach(r => r())
    })
    if (this.#queue.length > 0) this.#schedule()
  }

  async #send (batch: Pending[]): Promise<void> {
    const { byTopic, index } = this.#o.encodedBatches === true ? encodedMessages(batch) : kafkajsMessages(batch)
    const started = process.hrtime.bigint()
    const firstTry = Date.now()
    let results: RecordMetadata[] | undefined
    let err: unknown
    let nothingSent = false
    for (let attempt = 0; ; attempt++) {
      const writesBefore = this.#o.produceWrites()
      try {
        await this.#connect()
        results = await this.#producer.sendBatch({
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
          acks: -1,
          timeout: this.#o.requestTimeoutMs,
          compression: this.#o.compression
        })
        break
      } catch (e) {
        err = e
        nothingSent = this.#o.produceWrites() === writesBefore
        // Retrying is safe only when no Produce request left (a topic just created whose metadata has not
        // reached the producer, a leader moving): bounded, and never after a request may have been written.
        if (!nothingSent || attempt >= SAFE_RETRIES || Date.now() - firstTry > SAFE_RETRY_WINDOW_MS) break
        for (const t of byTopic.keys()) this.#o.metadata.invalidate(t)
        if (kafkaErrorType(e) === 'UNKNOWN_TOPIC_OR_PARTITION') this.#replaceProducer()
        await new Promise(resolve => setTimeout(resolve, 50 * 2 ** attempt))
      }
    }
    if (!results) {
      const error = nothingSent
        ? Errors.brokerUnavailable(`${rootMessage(err, 300)}; nothing was sent`)
        : new ApiError(500, 50003, `Kafka error, outcome unknown (the records may or may not have been written): ${rootMessage(err, 300)}`, { code: 'KAFKA_OUTCOME_UNKNOWN' })
      this.#o.log?.warn({ err, records: batch.length, nothingSent }, 'produce: send failed')
      for (const t of byTopic.keys()) this.#o.metadata.invalidate(t)
      // Kafka called a topic unknown: the records of a topic deleted since it was looked up get the 404 it
      // would get now (nothing can be in a topic that is gone, and a retry cannot write to it either), and the
      // kafkajs producer, which would keep asking for the deleted topic, is replaced.
      const gone = new Map<string, ApiError>()
      if (kafkaErrorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION') {
        for (const p of batch) {
          if (gone.has(p.topic)) continue
          await this.#o.metadata.partitionCount(p.topic, p.userTopic).then(() => {}, (e: unknown) => {
            if (ApiError.is(e) && e.errorCode === 40401) gone.set(p.topic, e)
          })
        }
      }
      if (gone.size > 0 && this.#retired.length === 0) this.#replaceProducer()
      for (const p of batch) this.#settle(p, this.#fail(gone.get(p.topic) ?? error))
      return
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    this.#observers.forEach(o => o.sent(seconds, batch.length))
    const base = new Map<string, RecordMetadata>()
    for (const r of results) base.set(`${r.topicName}\0${r.partition}`, r)
    let written = 0
    let bytes = 0
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i] as Pending
      const r = base.get(`${p.topic}\0${p.partition}`)
      if (!r || r.errorCode !== 0 || r.baseOffset === undefined) {
        this.#settle(p, this.#fail(new ApiError(500, 50003, `Kafka error, outcome unknown: no acknowledgement for partition ${p.partition}`, { code: 'KAFKA_OUTCOME_UNKNOWN' })))
        continue
      }
      const offset = Number(BigInt(r.baseOffset) + BigInt(index[i] ?? 0))
      const logAppend = r.logAppendTime === undefined ? -1 : Number(r.logAppendTime)
      written++
      bytes += p.size
      this.#settle(p, { ok: true, delivery: { partition: p.partition, offset, timestamp: logAppend > 0 ? logAppend : p.timestamp } })
    }
    if (written > 0) this.#observers.forEach(o => o.written(written, bytes))
  }
}

interface Messages {
  byTopic: Map<string, Message[]>
  /** Each record's index among the flush's records of its partition (batch order). */
  index: number[]
}

/** One kafkajs message per record (kafkajs encodes them). */
function kafkajsMessages (batch: Pending[]): Messages {
  const byTopic = new Map<string, Message[]>()
  const index: number[] = new Array(batch.length)
  const counters = new Map<string, number>()
  batch.forEach((p, n) => {
    let messages = byTopic.get(p.topic)
    if (!messages) byTopic.set(p.topic, messages = [])
    messages.push({ key: p.key, value: p.value, partition: p.partition, timestamp: String(p.timestamp), headers: p.kafkaHeaders })
    const k = `${p.topic}\0${p.partition}`
    const i = counters.get(k) ?? 0
    counters.set(k, i + 1)
    index[n] = i
  })
  return { byTopic, index }
}

/** One carrier message per partition, its records encoded here (kafka/kafkajs/record-batch.ts). */
function encodedMessages (batch: Pending[]): Messages {
  const perPartition = new Map<string, Pending[]>()
  const index: number[] = new Array(batch.length)
  batch.forEach((p, n) => {
    const k = `${p.topic}\0${p.partition}`
    let list = perPartition.get(k)
    if (!list) perPartition.set(k, list = [])
    index[n] = list.length
    list.push(p)
  })
  const byTopic = new Map<string, Message[]>()
  for (const list of perPartition.values()) {
    const { topic, partition } = list[0] as Pending
    let messages = byTopic.get(topic)
    if (!messages) byTopic.set(topic, messages = [])
    messages.push(carrier(partition, encodeRecords(list)) as unknown as Message)
  }
  return { byTopic, index }
}

function headersOf (record: EncodedRecord, ordered: boolean): Message['headers'] {
  if (record.headers.length === 0) return undefined
  // The patched encoder takes the list as it is (kafka/kafkajs/patches.ts).
  if (ordered) return record.headers.map(h => ({ key: h.name, value: h.value })) as unknown as Message['headers']
  // kafkajs' own form: repeated names as an array value, in order; the order across names follows the first
  // appearance of each name.
  const out: Record<string, Buffer[]> = Object.create(null) as Record<string, Buffer[]>
  for (const h of record.headers) {
    const list = out[h.name] ?? (out[h.name] = [])
    if (h.value === null) throw ProduceErrors.malformed('headers with a null value are not supported by this gateway\'s Kafka client')
    list.push(h.value)
  }
  return out as unknown as Message['headers']
}
