/**
 * The seeks (seeks.ts) on their own, over a buffer, a ledger, a fake session and the fake driver's look-ups: which
 * partitions may be sought, and where a seek moves the buffer, the ledger and the session's fetch.
 */
import t from 'tap'
import type { BufferedRecord, SessionSpec } from '../../../plugins/kafka/driver.js'
import { FlowControl } from '../../../plugins/consumers/flow.js'
import { Positions } from '../../../plugins/consumers/positions.js'
import { BufferBudget, RecordBuffer } from '../../../plugins/consumers/record-buffer.js'
import { Seeks } from '../../../plugins/consumers/seeks.js'
import { TopicNames } from '../../../plugins/consumers/topic-names.js'
import { kafkaGroup, kafkaTopic, userTopic } from '../../../plugins/namespaces/names.js'
import { scopePattern } from '../../../plugins/namespaces/pattern.js'
import { FakeAdmin, FakePort, FakeSession, testSettings } from '../../helpers/fake-kafka.js'

const names = new TopicNames({ kafkaTopic, kafkaGroup, userTopic, scopePattern }, 'ns-abc')
const topic = kafkaTopic('ns-abc', 'events')

function rec (partition: number, offset: number, size = 10): BufferedRecord {
  return { topic, partition, offset, timestamp: 0, key: null, value: Buffer.alloc(size), headers: undefined, size }
}

interface Parts { buffer: RecordBuffer, budget: BufferBudget, positions: Positions, session: FakeSession, seeks: Seeks }

function parts (): Parts {
  const admin = new FakeAdmin()
  admin.addTopic(topic, 2, 100, 0)
  const kafka = admin.driver(new FakePort())
  const buffer = new RecordBuffer()
  const budget = new BufferBudget(1 << 20)
  const positions = new Positions()
  // The fake session reads only its topics from the spec; nothing here runs it.
  const session = new FakeSession({ topics: [topic] } as SessionSpec)
  const flow = new FlowControl(() => session, buffer, budget, testSettings, () => false)
  const seeks = new Seeks({ kafka, names, buffer, budget, positions, flow: () => flow, session: () => session })
  return { buffer, budget, positions, session, seeks }
}

t.test('seeks: only held partitions, clamped to the log; the buffer, ledger and session follow', async t => {
  const p = parts()
  p.positions.assign([{ topic, partition: 0 }])
  for (const r of [rec(0, 5), rec(0, 6)]) p.budget.add(p.buffer.pushBatch(r.topic, r.partition, [r]))
  const notHeld = p.seeks.to([{ topic: 'events', partition: 1, offset: 3 }])
  await t.rejects(notHeld, { errorCode: 40903, message: /events-1/ })
  await p.seeks.to([{ topic: 'events', partition: 0, offset: 500 }])
  t.same(p.session.seeks, [[topic, 0, 100]], 'past the end: the end')
  t.equal(p.buffer.records, 0, 'what was buffered before the seek is dropped')
  t.equal(p.budget.used, 0)
  t.same(p.positions.toCommit(), [{ topic, partition: 0, offset: 100 }])
  await p.seeks.toEdge(undefined, 'beginning')
  t.same(p.session.seeks.at(-1), [topic, 0, 0], 'no partitions named: every held one')
})

t.test('after a commit under reset none, unpositioned held partitions move to it; positioned ones stay', async t => {
  const p = parts()
  p.positions.join([{ topic, partition: 0 }, { topic, partition: 1 }])
  p.positions.sought(topic, 1, 7)
  p.seeks.unpositionedTo([{ topic, partition: 0, offset: 4 }, { topic, partition: 1, offset: 9 }])
  t.same(p.session.seeks, [[topic, 0, 4]])
})
