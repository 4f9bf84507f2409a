/**
 * The kafkajs implementation of the port's producer side (../driver.ts `ProducerClient`). One kafkajs client
 * whose sockets count the Produce requests they write (wire.ts); each partition's records are encoded here
 * (record-batch.ts) and handed to kafkajs as one carrier message, which the patched Produce request
 * (patches.ts, applied and asserted by the kafka plugin at start) writes as the partition's record batch.
 * kafkajs' string offsets become numbers, its errors KafkaErrors (errors.ts).
 */
import kafkajs from 'kafkajs'
import type { CompressionTypes as Codec, ISocketFactory, Kafka, Message, Producer } from 'kafkajs'
import type { Compression, PartitionAck, PartitionRecords, ProducerClient, SendOptions } from '../driver.js'
import { toKafkaError } from './errors.js'
import { carrier, encodeRecords } from './record-batch.js'
import { produceWireCounter } from './wire.js'

// kafkajs is CommonJS and Node cannot see CompressionTypes as a named export.
const { CompressionTypes } = kafkajs
const COMPRESSION: Record<Compression, Codec> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
}

export interface KafkajsProducerOptions {
  /** A new kafkajs client whose sockets this factory makes (KafkaService.createClient with overrides). */
  createClient (socketFactory: ISocketFactory): Kafka
  log?: { warn (obj: object, msg: string): void }
}

/** One kafkajs producer and the sends it has in flight. */
interface Generation {
  producer: Producer
  connected: Promise<void> | undefined
  sending: number
}

export class KafkajsProducer implements ProducerClient {
  readonly #wire = produceWireCounter()
  readonly #client: Kafka
  readonly #log: KafkajsProducerOptions['log']
  #current: Generation
  /** Replaced producers, disconnected once none of their sends is in flight. */
  #retired: Generation[] = []

  constructor (opts: KafkajsProducerOptions) {
    this.#client = opts.createClient(this.#wire.socketFactory)
    this.#log = opts.log
    this.#current = this.#generation()
  }

  get requestsWritten (): number { return this.#wire.produceWrites }

  async connect (): Promise<void> {
    await this.#connect(this.#current)
  }

  async send (partitions: readonly PartitionRecords[], opts: SendOptions): Promise<Array<PartitionAck | undefined>> {
    const byTopic = new Map<string, Message[]>()
    for (const p of partitions) {
      let messages = byTopic.get(p.topic)
      if (!messages) byTopic.set(p.topic, messages = [])
      messages.push(carrier(p.partition, encodeRecords(p.records)) as unknown as Message)
    }
    const gen = this.#current
    gen.sending++
    try {
      await this.#connect(gen)
      const results = await gen.producer.sendBatch({
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        acks: opts.acks,
        timeout: opts.timeoutMs,
        compression: COMPRESSION[opts.compression]
      })
      const acks = new Map<string, PartitionAck>()
      for (const r of results) {
        if (r.errorCode !== 0 || r.baseOffset === undefined) continue
        const logAppendTime = r.logAppendTime === undefined ? -1 : Number(r.logAppendTime)
        acks.set(`${r.topicName}\0${r.partition}`, { baseOffset: Number(r.baseOffset), logAppendTime })
      }
      return partitions.map(p => acks.get(`${p.topic}\0${p.partition}`))
    } catch (err) {
      const e = toKafkaError(err)
      // kafkajs keeps every topic it ever sent to in its metadata requests, and one topic Kafka no longer has
      // fails them all: a producer that met an unknown topic is replaced (once per producer).
      if (e.unknownTopic && gen === this.#current) this.#replace()
      throw e
    } finally {
      gen.sending--
      this.#reap()
    }
  }

  async close (): Promise<void> {
    const gens = [this.#current, ...this.#retired.splice(0)]
    await Promise.all(gens.map(g => this.#disconnect(g)))
  }

  #generation (): Generation {
    const producer = this.#client.producer({
      allowAutoTopicCreation: false,
      idempotent: false,
      // Never resend: a resend after the broker got the first attempt duplicates records (produce engine).
      retry: { retries: 0 },
      // The engine places every record itself.
      createPartitioner: () => ({ message }) => message.partition as number
    })
    return { producer, connected: undefined, sending: 0 }
  }

  async #connect (gen: Generation): Promise<void> {
    if (!gen.connected) {
      const p = gen.producer.connect()
      gen.connected = p
      p.catch(() => { if (gen.connected === p) gen.connected = undefined })
    }
    try {
      await gen.connected
    } catch (err) {
      throw toKafkaError(err)
    }
  }

  #replace (): void {
    this.#retired.push(this.#current)
    this.#current = this.#generation()
    this.#log?.warn({}, 'produce: kafkajs producer replaced (its metadata named a topic Kafka no longer has)')
    this.#reap()
  }

  #reap (): void {
    for (const g of this.#retired.filter(r => r.sending === 0)) {
      this.#retired.splice(this.#retired.indexOf(g), 1)
      this.#disconnect(g).catch(() => {})
    }
  }

  async #disconnect (gen: Generation): Promise<void> {
    const connected = gen.connected
    gen.connected = undefined
    if (connected) await connected.then(() => gen.producer.disconnect(), () => {})
  }
}
