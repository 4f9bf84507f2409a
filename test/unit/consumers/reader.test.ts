/**
 * The read path (reader.ts) on its own, over a buffer, a ledger and the fake driver: what a read waits for, what
 * it takes, and what an empty one answers.
 */
import t from 'tap'
import type { BufferedRecord, SessionSpec } from '../../../plugins/kafka/driver.js'
import { FlowControl } from '../../../plugins/consumers/flow.js'
import { Positions } from '../../../plugins/consumers/positions.js'
import { Reader, type ReaderDeps } from '../../../plugins/consumers/reader.js'
import { BufferBudget, RecordBuffer } from '../../../plugins/consumers/record-buffer.js'
import type { State } from '../../../plugins/consumers/state.js'
import { TopicNames } from '../../../plugins/consumers/topic-names.js'
import { kafkaGroup, kafkaTopic, userTopic } from '../../../plugins/namespaces/names.js'
import { scopePattern } from '../../../plugins/namespaces/pattern.js'
import { ApiError } from '../../../plugins/errors/errors.js'
import { FakeAdmin, FakePort, FakeSession, testSettings } from '../../helpers/fake-kafka.js'

const names = new TopicNames({ kafkaTopic, kafkaGroup, userTopic, scopePattern }, 'ns-abc')
const topic = kafkaTopic('ns-abc', 'events')

function rec (partition: number, offset: number, size = 10): BufferedRecord {
  return { topic, partition, offset, timestamp: 0, key: null, value: Buffer.alloc(size), headers: undefined, size }
}

interface Parts {
  admin: FakeAdmin
  buffer: RecordBuffer
  budget: BufferBudget
  positions: Positions
  session: FakeSession
  state: { now: State }
  reader (over?: Partial<ReaderDeps>): Reader
}

function parts (): Parts {
  const admin = new FakeAdmin()
  admin.addTopic(topic, 2, 100, 0)
  const port = new FakePort()
  const kafka = admin.driver(port)
  const buffer = new RecordBuffer()
  const budget = new BufferBudget(1 << 20)
  const positions = new Positions()
  // The fake session reads only its topics from the spec; nothing here runs it.
  const session = new FakeSession({ topics: [topic] } as SessionSpec)
  const flow = new FlowControl(() => session, buffer, budget, testSettings, () => false)
  const state = { now: { name: 'joined' } as State }
  const common = { kafka, buffer, budget, positions, flow: () => flow, session: () => session }
  return {
    admin,
    buffer,
    budget,
    positions,
    session,
    state,
    reader: (over = {}) => new Reader({
      ...common,
      group: 'g',
      settings: testSettings,
      fetchMinBytes: 1,
      resetNone: false,
      user: names.user,
      state: () => state.now,
      startFailure: () => undefined,
      active: () => {},
      observer: () => undefined,
      ...over
    })
  }
}

function buffered (p: Parts, records: BufferedRecord[]): void {
  for (const r of records) p.budget.add(p.buffer.pushBatch(r.topic, r.partition, [r]))
}

t.test('a read waits for fetch.min.bytes, takes round-robin up to max bytes and frees what it took', async t => {
  const p = parts()
  const reader = p.reader({ fetchMinBytes: 25 })
  buffered(p, [rec(0, 0), rec(1, 0)])
  const waiting = reader.wait(Date.now() + 60_000)
  buffered(p, [rec(0, 1)])
  reader.wake()
  await waiting
  const delivery = reader.take(20, 'binary', Date.now())
  t.same(delivery.records.map(r => [r.partition, r.offset]), [[0, 0], [1, 0]])
  t.equal(p.budget.used, 10, 'the bytes taken left the process budget')
  t.equal(p.buffer.records, 1)
})

t.test('an empty read answers why: a failed start, a stalled fetch, an outage; draining returns at once', async t => {
  const p = parts()
  const failure = new Error('start failed')
  await t.rejects(p.reader({ startFailure: () => failure }).wait(Date.now()), failure)
  p.session.fetchingSince = Date.now() - testSettings.fetchMaxWaitMs - testSettings.fetchStallMs - 1000
  await t.rejects(p.reader().wait(Date.now()), { name: 'ApiError', statusCode: 503, errorCode: 50302 })
  p.state.now = { name: 'outage', error: new Error('crashed') }
  await t.rejects(p.reader().wait(Date.now()), { message: 'crashed' })
  const reader = p.reader()
  const waiting = reader.wait(Date.now() + 60_000)
  reader.drain()
  await t.resolves(waiting, 'a draining reader stops waiting and answers no error')
})

t.test('auto.offset.reset none: a held partition without a commit or seek fails the read with 40905', async t => {
  const p = parts()
  p.positions.join([{ topic, partition: 0 }])
  const err = await p.reader({ resetNone: true }).wait(Date.now()).catch((e: unknown) => e)
  t.ok(err instanceof ApiError)
  t.match(err, { statusCode: 409, errorCode: 40905, message: /events-0/ })
})
