/**
 * The produce engine: the process's one Kafka producer (acks=-1, the port's `ProducerClient`,
 * kafka/driver.ts), fed by every produce request. Plain module: no Fastify, no kafkajs.
 *
 * - Records of concurrent requests are queued and sent together: a flush takes what is queued at the next
 *   tick (or after PRODUCE_LINGER_MS) and sends it as one `send`. While a send waits for Kafka, new
 *   records accumulate until a send is answered or they fill a Kafka request (FILL_RECORDS, FILL_BYTES), and
 *   at most PRODUCE_MAX_IN_FLIGHT_SENDS flushes wait at once, so a busy gateway, or a stream whose records
 *   arrive a few per chunk, makes few, large Kafka requests; a lone record (nothing in flight) goes at once.
 * - Each record's partition is chosen here, before sending (partitioner.ts), so its offset is the base offset
 *   Kafka answers for its partition plus its index among that flush's records of the partition. A flush's
 *   records of one partition go to the port as one list (the adapter encodes them as one record batch).
 * - Admission: metadata (topic, partition), the record size and the process-wide in-flight byte budget are
 *   checked before a request's records are queued; a refusal (404, 413, 429, 503) is answered with nothing
 *   sent, and a retry is safe.
 * - Duplicates: a resend after the broker received the first attempt writes the records twice (kafka-rest has
 *   the same hole: idempotence forced off, retries on). kafkajs' idempotent producer is no cure: after a failed
 *   send it reuses sequence numbers without an epoch bump, and a later batch can then be acknowledged as a
 *   duplicate without being written. So the port never resends; a failed send is answered as 503/50302 when no
 *   Produce request left the process (`requestsWritten` unchanged: nothing can have been written, the client
 *   retries safely), and as 500/50003 "outcome unknown" otherwise (the SDK does not retry it).
 * - Drain (shutdown): new requests get 503 before anything is sent; queued records are flushed and the
 *   engine resolves once every send has been answered, so no acknowledged record is lost and none is left
 *   half-sent.
 */
import { ApiError, Errors } from '../errors/errors.js'
import { isKafkaError } from '../kafka/driver.js'
import type { Compression, PartitionAck, PartitionRecords, ProduceRecord, ProducerClient } from '../kafka/driver.js'
import { ByteBudget, notAdmitted } from './admission.js'
import type { TopicMetadataCache } from './metadata.js'
import { partitionForKey, Spreader } from './partitioner.js'
import { ProduceErrors, recordSize, type EncodedRecord } from './records.js'

export interface ProduceObserver {
  /** Records written and acknowledged, with their key + value + header bytes. */
  written (records: number, bytes: number): void
  /** A record not written, by error code. */
  failed (errorCode: number): void
  /** One Kafka send (flush): its duration and record count. */
  sent (seconds: number, records: number): void
}

export interface ProduceEngineOptions {
  /** The Kafka producer (kafka/kafkajs/producer.ts); it replaces a kafkajs producer a deleted topic broke. */
  client: ProducerClient
  metadata: TopicMetadataCache
  maxInFlightBytes: number
  maxRecordBytes: number
  lingerMs: number
  requestTimeoutMs: number
  compression: Compression
  maxInFlightSends?: number
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

/** A queued record (handed to the port as it is). */
interface Pending extends ProduceRecord {
  topic: string
  userTopic: string
  partition: number
  size: number
  group: Group
  /** The record's place in its group. */
  index: number
  answered: boolean
}

// A flush holds at most this many records of one partition (one record batch).
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
  readonly #client: ProducerClient
  #queue: Pending[] = []
  /** Bytes of the queued records, with RECORD_OVERHEAD each. */
  #queuedBytes = 0
  #scheduled = false
  #inFlight = 0
  #draining = false
  #idle: Array<() => void> = []
  #observers: ProduceObserver[] = []

  constructor (opts: ProduceEngineOptions) {
    this.#o = opts
    this.budget = new ByteBudget(opts.maxInFlightBytes)
    this.#maxSends = opts.maxInFlightSends ?? 4
    this.#client = opts.client
  }

  observe (observer: ProduceObserver): void {
    this.#observers.push(observer)
  }

  get draining (): boolean { return this.#draining }
  /** Records queued and not yet handed to Kafka. */
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
    const accepted: Array<{ index: number, partition: number, size: number, record: EncodedRecord }> = []
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
      accepted.push({ index, partition, size, record })
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
    for (const { index, partition, size, record } of accepted) {
      this.#queue.push({
        topic,
        userTopic,
        partition,
        key: record.key,
        value: record.value,
        headers: record.headers,
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
    await this.#client.close()
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
    try {
      await this.#client.connect()
    } catch (err) {
      throw Errors.brokerUnavailable(`cannot connect to Kafka (${messageOf(err)}); nothing was sent`)
    }
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
      // A bug or a driver surprise after the send began: whatever was written, every record is answered
      // (outcome unknown) and its budget given back; records already answered keep their outcome.
      this.#o.log?.error({ err, records: batch.length }, 'produce: send failed unexpectedly')
      const error = outcomeUnknown('Kafka error, outcome unknown (the records may or may not have been written)')
      for (const p of batch) this.#settle(p, { ok: false, error })
    }).finally(() => {
      this.#inFlight--
      if (this.#queue.length > 0) this.#schedule(false, true)
      else if (this.#inFlight === 0) this.#idle.splice(0).forEach(r => r())
    })
    if (this.#queue.length > 0) this.#schedule()
  }

  async #send (batch: Pending[]): Promise<void> {
    const { partitions, slot, index } = byPartition(batch)
    const topics = new Set(partitions.map(p => p.topic))
    const started = process.hrtime.bigint()
    const firstTry = Date.now()
    let acks: Array<PartitionAck | undefined> | undefined
    let err: unknown
    let nothingSent = false
    for (let attempt = 0; ; attempt++) {
      const writesBefore = this.#client.requestsWritten
      try {
        acks = await this.#client.send(partitions, {
          acks: -1,
          timeoutMs: this.#o.requestTimeoutMs,
          compression: this.#o.compression
        })
        break
      } catch (e) {
        err = e
        nothingSent = this.#client.requestsWritten === writesBefore
        // Retrying is safe only when no Produce request left (a topic just created whose metadata has not
        // reached the producer, a leader moving): bounded, and never after a request may have been written.
        if (!nothingSent || attempt >= SAFE_RETRIES || Date.now() - firstTry > SAFE_RETRY_WINDOW_MS) break
        for (const t of topics) this.#o.metadata.invalidate(t)
        await new Promise(resolve => setTimeout(resolve, 50 * 2 ** attempt))
      }
    }
    if (!acks) {
      const error = nothingSent
        ? Errors.brokerUnavailable(`${messageOf(err)}; nothing was sent`)
        : outcomeUnknown(`Kafka error, outcome unknown (the records may or may not have been written): ${messageOf(err)}`)
      this.#o.log?.warn({ err, records: batch.length, nothingSent }, 'produce: send failed')
      for (const t of topics) this.#o.metadata.invalidate(t)
      // Kafka called a topic unknown: the records of a topic deleted since it was looked up get the 404 it
      // would get now (nothing can be in a topic that is gone, and a retry cannot write to it either). The
      // port has replaced its kafkajs producer, which would keep asking for the deleted topic.
      const gone = new Map<string, ApiError>()
      if (isKafkaError(err) && err.unknownTopic) {
        for (const p of batch) {
          if (gone.has(p.topic)) continue
          await this.#o.metadata.partitionCount(p.topic, p.userTopic).then(() => {}, (e: unknown) => {
            if (ApiError.is(e) && e.errorCode === 40401) gone.set(p.topic, e)
          })
        }
      }
      for (const p of batch) this.#settle(p, this.#fail(gone.get(p.topic) ?? error))
      return
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    this.#observers.forEach(o => o.sent(seconds, batch.length))
    let written = 0
    let bytes = 0
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i] as Pending
      const ack = acks[slot[i] as number]
      if (!ack) {
        const msg = `Kafka error, outcome unknown: no acknowledgement for partition ${p.partition}`
        this.#settle(p, this.#fail(outcomeUnknown(msg)))
        continue
      }
      const offset = ack.baseOffset + (index[i] as number)
      written++
      bytes += p.size
      const timestamp = ack.logAppendTime > 0 ? ack.logAppendTime : p.timestamp
      this.#settle(p, { ok: true, delivery: { partition: p.partition, offset, timestamp } })
    }
    if (written > 0) this.#observers.forEach(o => o.written(written, bytes))
  }
}

interface Partitioned {
  /** The flush's records per partition, in order of first appearance. */
  partitions: PartitionRecords[]
  /** Each record's entry in `partitions` (batch order). */
  slot: number[]
  /** Each record's index among the flush's records of its partition (batch order). */
  index: number[]
}

function byPartition (batch: Pending[]): Partitioned {
  const slots = new Map<string, number>()
  const partitions: Array<{ topic: string, partition: number, records: Pending[] }> = []
  const slot: number[] = new Array(batch.length)
  const index: number[] = new Array(batch.length)
  batch.forEach((p, n) => {
    const k = `${p.topic}\0${p.partition}`
    let s = slots.get(k)
    if (s === undefined) {
      slots.set(k, s = partitions.length)
      partitions.push({ topic: p.topic, partition: p.partition, records: [] })
    }
    const records = (partitions[s] as { records: Pending[] }).records
    slot[n] = s
    index[n] = records.length
    records.push(p)
  })
  return { partitions, slot, index }
}

function outcomeUnknown (message: string): ApiError {
  return new ApiError(500, 50003, message, { code: 'KAFKA_OUTCOME_UNKNOWN' })
}

/** A failure's message for an answer (the port's KafkaError already holds Kafka's innermost message). */
function messageOf (err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300)
}
