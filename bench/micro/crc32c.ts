/**
 * Micro-benchmark of CRC-32C (issue 12): kafkajs' (a byte a step) against crc32c.ts (slicing-by-8) on buffers the
 * size of a produce record batch (500 records of 1 KiB by default). `npx tsx bench/micro/crc32c.ts [bytes]`
 */
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { crc32c } from '../../plugins/kafka/kafkajs/crc32c.js'

const require = createRequire(import.meta.url)
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number
const size = Number(process.argv[2] ?? 500 * 1100)
const buf = randomBytes(size)
const MiB = size / 1048576
for (let round = 0; round < 3; round++) {
  for (const [name, f] of [['kafkajs', kafkajsCrc32C], ['slicing-by-8', crc32c]] as const) {
    const reps = Math.max(1, Math.round(50 / MiB))
    let x = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < reps; i++) x ^= f(buf)
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    console.log(`round ${round + 1} ${name}: ${(reps * MiB / s).toFixed(0)} MiB/s, ${(s / reps / (size / 1100) * 1e6).toFixed(3)} µs per 1100 bytes (${x})`)
  }
}
