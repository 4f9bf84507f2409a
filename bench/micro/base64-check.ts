/**
 * Micro-benchmark of the produce path's base64 check (issue 12): the old RegExp test followed by the decoding,
 * against strictBase64 (records.ts). Values of 1 KiB by default, as the produce bench sends.
 * `npx tsx bench/micro/base64-check.ts [valueBytes] [iterations]`
 */
import { randomBytes } from 'node:crypto'
import { strictBase64 } from '../../plugins/producer/records.js'

const size = Number(process.argv[2] ?? 1024)
const iterations = Number(process.argv[3] ?? 200_000)
const OLD_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const values = Array.from({ length: 64 }, () => randomBytes(size).toString('base64'))

const sides: Record<string, (s: string) => Buffer | undefined> = {
  regexp: (s) => OLD_RE.test(s) ? Buffer.from(s, 'base64') : undefined,
  strict: strictBase64
}
let sink = 0
for (let round = 0; round < 3; round++) {
  for (const [name, f] of Object.entries(sides)) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) sink += f(values[i & 63] as string)?.length ?? 0
    const ns = Number(process.hrtime.bigint() - t0) / iterations
    console.log(`round ${round + 1} ${name}: ${(ns / 1000).toFixed(3)} µs per ${size}-byte value`)
  }
}
if (sink === 0) console.log('')
