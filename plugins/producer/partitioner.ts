/**
 * Partition choice, made up front by the engine (so a record's offset is its partition's base offset plus its
 * index in the batch). Keyed records go where the Java client sends them: `toPositive(murmur2(key)) % n`
 * (BuiltInPartitioner.partitionForKey), the same as kafkajs' DefaultPartitioner. Records without a key are
 * spread round-robin over the partitions from a random start, per topic (kafkajs' rule; Java's sticky
 * partitioner differs, which no client can observe as a contract). Plain module.
 */

const SEED = 0x9747b28c
const M = 0x5bd1e995

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) as a signed 32-bit integer. */
export function murmur2 (data: Uint8Array): number {
  const length = data.length
  let h = (SEED ^ length) | 0
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = (data[i4] as number) | ((data[i4 + 1] as number) << 8) | ((data[i4 + 2] as number) << 16) |
      ((data[i4 + 3] as number) << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M)
    h ^= k
  }
  const tail = length & ~3
  const rest = length % 4
  if (rest === 3) h ^= (data[tail + 2] as number) << 16
  if (rest >= 2) h ^= (data[tail + 1] as number) << 8
  if (rest >= 1) {
    h ^= data[tail] as number
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** Java's Utils.toPositive: drops the sign bit (not Math.abs). */
export function toPositive (n: number): number {
  return n & 0x7fffffff
}

export function partitionForKey (key: Uint8Array, partitions: number): number {
  return toPositive(murmur2(key)) % partitions
}

/** Round-robin counters for records without a key, one per topic. */
export class Spreader {
  #next = new Map<string, number>()

  next (topic: string, partitions: number): number {
    let n = this.#next.get(topic)
    if (n === undefined) n = Math.floor(Math.random() * partitions)
    this.#next.set(topic, (n + 1) % 0x7fffffff)
    return n % partitions
  }
}
