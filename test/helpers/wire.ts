/**
 * The test oracle of the GET records answer: each record as the RecordsResponse schema describes it, built the
 * plain way (Buffer#toString, JSON.parse of checked texts). `Delivery.render()` (plugins/consumers/format.ts)
 * must write exactly JSON.stringify of these records; tests and benchmarks compare the two.
 */
import { jsonText, UNDECODABLE, type ConsumerFormat, type Delivery } from '../../plugins/consumers/format.js'
import type { BufferedRecord } from '../../plugins/kafka/driver.js'

/** One record as the RecordsResponse schema describes it. */
export interface WireRecord {
  topic: string
  key: unknown
  value: unknown
  partition: number
  offset: number
  timestamp: number
  headers: WireHeader[]
}

export interface WireHeader { name: string, value: string | null }

/** Header values are always base64 (they are bytes in Kafka), whatever the format; order and repeats kept. */
function wireHeaders (h: BufferedRecord['headers']): WireHeader[] {
  return h === undefined ? [] : h.map(([name, v]) => ({ name, value: v === null ? null : v.toString('base64') }))
}

export function toWire (r: BufferedRecord, format: ConsumerFormat, userTopic: string): WireRecord | typeof UNDECODABLE {
  let key: unknown
  let value: unknown
  if (format === 'binary') {
    key = r.key === null ? null : r.key.toString('base64')
    value = r.value === null ? null : r.value.toString('base64')
  } else {
    const k = jsonText(r.key)
    const v = jsonText(r.value)
    if (k === UNDECODABLE || v === UNDECODABLE) return UNDECODABLE
    key = k === null ? null : JSON.parse(k.toString())
    value = v === null ? null : JSON.parse(v.toString())
  }
  return {
    topic: userTopic,
    key,
    value,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    headers: wireHeaders(r.headers)
  }
}

/** The records of an answer as objects; undecodable ones left out. */
export function wireOf (d: Delivery): WireRecord[] {
  const out: WireRecord[] = []
  for (const r of d.records) {
    const w = toWire(r, d.format, d.userTopic(r.topic))
    if (w !== UNDECODABLE) out.push(w)
  }
  return out
}
