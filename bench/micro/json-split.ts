/**
 * Micro-benchmark of the streaming produce body's splitter (json-stream.ts, issue 12): records as the produce
 * bench streams them (1 KiB BINARY values, 32 records per chunk), split and decoded to text as stream.ts does.
 * `npx tsx bench/micro/json-split.ts [valueBytes] [records]`
 */
import { randomBytes } from 'node:crypto'
import { JsonObjectSplitter } from '../../plugins/producer/json-stream.js'

const size = Number(process.argv[2] ?? 1024)
const total = Number(process.argv[3] ?? 100_000)
const PER_CHUNK = 32
const record = (): string => JSON.stringify({ value: { type: 'BINARY', data: randomBytes(size).toString('base64') } })
const chunks = Array.from({ length: 64 }, () => Buffer.from(Array.from({ length: PER_CHUNK }, record).join('')))
const decoder = new TextDecoder('utf-8', { fatal: true })

export async function run (name: string, make: () => { push (b: Buffer): Buffer[] }): Promise<void> {
  const s = make()
  let chars = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < total / PER_CHUNK; i++) {
    for (const b of s.push(chunks[i & 63] as Buffer)) chars += decoder.decode(b).length
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / total
  console.log(`${name}: ${us.toFixed(3)} µs per record (${chars} chars)`)
}

const other = process.env.SPLITTER_BEFORE
const Before = other
  ? (await import(other) as { JsonObjectSplitter: typeof JsonObjectSplitter }).JsonObjectSplitter
  : undefined
for (let round = 0; round < 3; round++) {
  if (Before) await run('before', () => new Before(1 << 20))
  await run('after', () => new JsonObjectSplitter(1 << 20))
}
