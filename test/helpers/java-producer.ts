// Produces records with the real Java producer (Kafka's console producer from the broker's
// jars), so tests can check that batches written by non-kafkajs clients, compressed with
// codecs kafkajs does not ship, are consumable.
import { brokerConfig, ensureJars, javaBin, kafkaJvmArgs, kafkaMajor, run } from '../../scripts/broker.js'

export type JavaCompression = 'gzip' | 'snappy' | 'lz4' | 'zstd'

export interface JavaRecord {
  /** null produces a record without a key. */
  key: string | null
  value: string
  /**
   * Headers in order (repeats kept, null values too); when any record has some, every record's line carries its
   * headers (parse.headers), so give each record at least one. Names and values without , : tabs or newlines.
   */
  headers?: Array<[string, string | null]>
}

export interface ProduceWithJavaOptions {
  brokers: string[]
  topic: string
  compression: JavaCompression
  records: JavaRecord[]
  /** Kafka version whose jars to use; defaults to KAFKA_VERSION or the broker script's default. */
  version?: string
}

// Field separator and key null marker of the console producer's line reader.
const SEPARATOR = '\t'
const NULL_MARKER = '<null-key>'
// Headers (parse.headers): `name:value,name:value` then the separator; the null marker as a value is null.
const HEADER_SEPARATOR = ','
const HEADER_KEY_SEPARATOR = ':'

function consoleProducerClass (version: string): string {
  // 4.0 removed the Scala tool from core; its Java rewrite lives in kafka-tools.
  return kafkaMajor(version) >= 4 ? 'org.apache.kafka.tools.ConsoleProducer' : 'kafka.tools.ConsoleProducer'
}

/**
 * Sends the records in order (one line each, batched and compressed by the Java producer)
 * and resolves once the JVM has exited successfully.
 */
export async function produceWithJava (options: ProduceWithJavaOptions): Promise<void> {
  const version = options.version ?? brokerConfig().version
  const withHeaders = options.records.some(r => r.headers !== undefined)
  const lines = options.records.map(({ key, value, headers }, i) => {
    // The line reader splits records on newlines and key from value on the first separator.
    if (/[\r\n]/.test(value)) throw new Error(`record ${i}: the value may not contain newlines`)
    if (key !== null && (/[\r\n]/.test(key) || key.includes(SEPARATOR) || key === NULL_MARKER)) {
      throw new Error(`record ${i}: the key may not contain tabs or newlines, nor be '${NULL_MARKER}'`)
    }
    let prefix = ''
    if (withHeaders) {
      if (!headers || headers.length === 0) throw new Error(`record ${i}: with headers on some records, every record needs one`)
      const parts = headers.map(([name, v]) => {
        if (/[,:\t\r\n]/.test(name + (v ?? '')) || v === NULL_MARKER) throw new Error(`record ${i}: a header may not contain , : tabs or newlines`)
        return `${name}${HEADER_KEY_SEPARATOR}${v ?? NULL_MARKER}`
      })
      prefix = parts.join(HEADER_SEPARATOR) + SEPARATOR
    }
    return `${prefix}${key ?? NULL_MARKER}${SEPARATOR}${value}`
  })
  await ensureJars(version)
  const result = await run(javaBin(), [
    '-Xmx256m',
    ...kafkaJvmArgs(version),
    consoleProducerClass(version),
    '--bootstrap-server', options.brokers.join(','),
    '--topic', options.topic,
    '--compression-codec', options.compression,
    // Deprecated in favour of --reader-property in recent 4.x, but the only spelling 3.9 knows.
    '--property', 'parse.key=true',
    '--property', `key.separator=${SEPARATOR}`,
    '--property', `null.marker=${NULL_MARKER}`,
    ...(withHeaders
      ? ['--property', 'parse.headers=true', '--property', `headers.delimiter=${SEPARATOR}`, '--property', `headers.separator=${HEADER_SEPARATOR}`, '--property', `headers.key.separator=${HEADER_KEY_SEPARATOR}`]
      : []),
    '--request-required-acks', 'all'
  ], lines.join('\n') + '\n')
  if (result.code !== 0) {
    throw new Error(`Java console producer failed (exit ${result.code}):\n${result.output.trim()}`)
  }
}
