/**
 * Micro-benchmark of the per-record encoder of a produce request (issue 12): kafkajs' own record encoder against
 * the patched one (kafka/kafkajs/patches.ts), 1 KiB values, no key, no headers. `npx tsx bench/micro/record-encode.ts`
 */
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { patchKafkajsRecordHeaders } from '../../plugins/kafka/kafkajs/patches.js'

const require = createRequire(import.meta.url)
type Encode = (r: Record<string, unknown>) => { buffer: Buffer }
const path = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js')
const original = require(path) as Encode
patchKafkajsRecordHeaders()
const patched = require(path) as Encode
const values = Array.from({ length: 500 }, () => randomBytes(Number(process.argv[2] ?? 1024)))
const total = 200_000
for (let round = 0; round < 3; round++) {
  for (const [name, encode] of [['kafkajs', original], ['patched', patched]] as const) {
    let n = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < total; i++) {
      const record = { offsetDelta: i % 500, timestampDelta: 0, key: null, value: values[i % 500], headers: {} }
      n += encode(record).buffer.length
    }
    console.log(`round ${round + 1} ${name}: ${(Number(process.hrtime.bigint() - t0) / total / 1000).toFixed(3)} µs per record (${n})`)
  }
}
