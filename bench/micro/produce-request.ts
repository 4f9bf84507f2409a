/**
 * Micro-benchmark of a whole Produce request body (issue 12): kafkajs' own request (with the record encoder and
 * CRC-32C patches of kafka/kafkajs/patches.ts) against the engine's encoder (record-batch.ts, through the patched
 * request), for 500 records of 1 KiB over 4 partitions, no key, no headers: µs per record, from the records
 * to the request body's bytes. `npx tsx bench/micro/produce-request.ts [VALUE_BYTES] [RECORDS]`
 */
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { patchKafkajsCrc32C, patchKafkajsProduceRequest, patchKafkajsRecordHeaders } from '../../plugins/kafka/kafkajs/patches.js'
import { carrier, encodeRecords, type BatchRecord } from '../../plugins/kafka/kafkajs/record-batch.js'

const require = createRequire(import.meta.url)
type Request = (args: Record<string, unknown>) => { encode: () => Promise<{ offset: number }> }
const V3 = 'kafkajs/src/protocol/requests/produce/v3/request.js'
patchKafkajsRecordHeaders()
patchKafkajsCrc32C()
const kafkajs = require(V3) as Request
if (!await patchKafkajsProduceRequest()) throw new Error('the produce request patch did not apply')
const ours = require(V3) as Request
const size = Number(process.argv[2] ?? 1024)
const count = Number(process.argv[3] ?? 500)
const now = Date.now()
const records: BatchRecord[] = Array.from({ length: count }, () => ({
  key: null, value: randomBytes(size), headers: [], timestamp: now
}))
const partitions = [0, 1, 2, 3].map(p => records.filter((_, i) => i % 4 === p))
const common = { acks: -1, timeout: 30000, transactionalId: null, producerEpoch: 0, compression: 0 }
const sides = {
  kafkajs: async () => (await kafkajs({
    ...common,
    topicData: [{ topic: 'bench', partitions: partitions.map((list, partition) => ({ partition, firstSequence: 0, messages: list.map(r => ({ key: r.key, value: r.value, partition, timestamp: String(r.timestamp) })) })) }]
  }).encode()).offset,
  ours: async () => (await ours({
    ...common,
    topicData: [{ topic: 'bench', partitions: partitions.map((list, partition) => ({ partition, firstSequence: 0, messages: [carrier(partition, encodeRecords(list))] })) }]
  }).encode()).offset
}
const rounds = 200
for (let round = 0; round < 3; round++) {
  for (const [name, encode] of Object.entries(sides)) {
    let n = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < rounds; i++) n += await encode()
    console.log(`round ${round + 1} ${name}: ${(Number(process.hrtime.bigint() - t0) / rounds / count / 1000).toFixed(3)} µs per record (${n / rounds} bytes per request)`)
  }
}
