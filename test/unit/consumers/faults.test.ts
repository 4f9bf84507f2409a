/**
 * The consumer engine under broker faults and shutdown, driven through the fake Kafka port: a crashed session
 * makes empty reads and commits answer the outage, a commit Kafka never confirms is bounded, drain() releases
 * waiting long polls, closeAll() is bounded, and the observer sees reads, commits and joins.
 */
import t from 'tap'
import { ApiError } from '../../../plugins/errors/errors.js'
import { ConsumerRegistry } from '../../../plugins/consumers/registry.js'
import type { InstanceObserver } from '../../../plugins/consumers/instance.js'
import { kafkaError, refused, rig } from '../../helpers/fake-kafka.js'
import { caught } from '../../helpers/errors.js'
import { wireOf } from '../../helpers/wire.js'
import { sleep } from '../../helpers/wait.js'

const T = 'ns-abc.events'
const tick = (ms = 0): Promise<void> => sleep(ms)

t.test('a crashed session that kafkajs restarts: empty reads and commits answer 50302 until it joins again', async t => {
  // A join wait far beyond tap's timeout: a commit that waited for the join instead of failing would hang the test.
  const r = rig({ joinWaitMs: 600_000 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, [0, 1])
  t.equal(wireOf(await inst.read(10, 1 << 20, 'binary')).length, 2)

  s.spec.handlers.onCrash(refused(), true)
  s.deliver(T, 0, [2])
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')).map(x => x.offset), [2], 'records arriving clear the outage')
  s.spec.handlers.onCrash(refused(), true)
  const empty = await caught(inst.read(30, 1 << 20, 'binary'))
  t.equal(empty.errorCode, 50302, 'a read that gets nothing by its timeout reports the outage')
  t.match(empty.message, /ECONNREFUSED/)
  const commit = await caught(inst.commit())
  t.equal(commit.errorCode, 50302, 'commit-all fails at once with the outage instead of waiting for a join')

  s.join([[T, 0]])
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')), [], 'joined again: an empty read is a plain empty answer')
  await inst.commit()
  t.same(s.commits.at(-1), [{ topic: T, partition: 0, offset: 3 }])
})

t.test('a broker that stops answering (fetch outstanding past the stall bound): empty reads answer 50302', async t => {
  const r = rig({ fetchMaxWaitMs: 500, fetchStallMs: 5000 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])

  // Seconds of margin either side of the 5.5 s bound, so a slow machine cannot tip either case over.
  s.fetchingSince = Date.now() - 2000
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')), [], 'a fetch within max wait + stall bound: a plain empty answer')
  s.fetchingSince = Date.now() - 8000
  const empty = await caught(inst.read(10, 1 << 20, 'binary'))
  t.equal(empty.statusCode, 503)
  t.equal(empty.errorCode, 50302, 'past the bound the silence is reported, not answered with []')
  t.match(empty.message, /has not answered a fetch for (8|9|10) s/)

  s.deliver(T, 0, [0])
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')).map(x => x.offset), [0], 'buffered records are still served first')
  s.fetchingSince = undefined
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')), [], 'answered again: plain empty answers')
})

t.test('a commit Kafka never confirms answers 50003 at CONSUMER_JOIN_WAIT_MS; the instance stays usable', async t => {
  const r = rig({ joinWaitMs: 100 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, [0])
  await inst.read(10, 1 << 20, 'binary')
  const original = s.commit.bind(s)
  s.commit = () => new Promise<void>(() => {}) // a frozen broker: no answer, no error
  const err = await caught(inst.commit())
  t.equal(err.errorCode, 50003)
  t.match(err.message, /did not confirm the commit within 100 ms/)
  s.commit = original
  await inst.commit()
  t.same(s.commits.at(-1), [{ topic: T, partition: 0, offset: 1 }], 'the next commit goes through')
})

t.test('drain(): waiting long polls return what they hold at once, later reads do not wait', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t, { fetchMinBytes: 1_000_000 })
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, [0, 1])
  // Timeouts far beyond tap's: a read that waited them out would hang the test.
  const pending = inst.read(600_000, 1 << 20, 'binary')
  await tick(20)
  inst.drain()
  t.same(wireOf(await pending).map(x => x.offset), [0, 1], 'the held records, before the timeout')
  t.same(wireOf(await inst.read(600_000, 1 << 20, 'binary')), [], 'a later read answers at once')
})

t.test('registry: drain() refuses new instances; closeAll() is bounded when an instance cannot close', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  const reg = new ConsumerRegistry(r.deps, { instanceTimeoutMs: 60_000, maxPerSubject: 10, closeTimeoutMs: 100 })
  const base = { namespace: 'ns-abc', group: 'grp', subject: 'alice', format: 'binary' as const, autoOffsetReset: 'earliest' as const, autoCommit: false, fetchMinBytes: 1, requestTimeoutMs: 100 }
  const a = reg.create({ ...base, name: 'a' })
  await a.subscribe({ topics: ['events'] })
  await a.start()
  r.port.current.stop = () => new Promise<void>(() => {}) // leaving the group never completes
  const pending = a.read(60_000, 1 << 20, 'binary')
  reg.drain()
  t.same(wireOf(await pending), [], 'the waiting long poll returned')
  t.equal((() => { try { reg.create({ ...base, name: 'b' }); return 0 } catch (err) { return (err as ApiError).errorCode } })(), 50302, 'no new instance while shutting down')
  await reg.closeAll()
  t.equal(reg.size, 0, 'closeAll returned although an instance is still closing')
})

t.test('the observer sees reads (records and bytes), commits (ok or not) and joins, and can be set later', async t => {
  const r = rig({ joinWaitMs: 100 })
  r.admin.addTopic(T, 1)
  const reg = new ConsumerRegistry(r.deps, { instanceTimeoutMs: 60_000, maxPerSubject: 10 })
  t.teardown(() => reg.closeAll())
  const inst = reg.create({ namespace: 'ns-abc', group: 'grp', subject: 'alice', format: 'binary', autoOffsetReset: 'earliest', autoCommit: false, fetchMinBytes: 1, requestTimeoutMs: 100 })
  const seen: string[] = []
  const observer: InstanceObserver = {
    read: (ms, records, bytes) => { seen.push(`read ${records} ${bytes} ${ms >= 0}`) },
    commit: (ok) => { seen.push(`commit ${ok}`) },
    join: () => { seen.push('join') }
  }
  r.deps.observer = observer
  await inst.subscribe({ topics: ['events'] })
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  await inst.read(5, 1 << 20, 'binary')
  s.deliver(T, 0, [0, 1], o => `v${o}xx`)
  await inst.read(5, 1 << 20, 'binary')
  await inst.commit()
  s.commitFailures.push(kafkaError('UNKNOWN_SERVER_ERROR', 'boom'))
  await caught(inst.commit())
  t.same(seen, ['join', 'read 0 0 true', 'read 2 8 true', 'commit true', 'commit false'])
  delete r.deps.observer
  await inst.read(5, 1 << 20, 'binary')
  t.equal(seen.length, 5, 'removed')
})

t.test('a subscription or assignment Kafka could not apply changes nothing; retried, it works', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  const inst = r.instance()
  t.teardown(() => inst.close())
  const working = r.deps.kafka
  const down = async (): Promise<never> => { throw refused() }
  r.deps.kafka = {
    ...working, listTopics: down, partitionCounts: down, committedOffsets: down, edges: down, offsetsForTimestamp: down
  }
  t.equal((await caught(inst.subscribe({ topics: ['events'] }))).errorCode, 50302)
  t.same(inst.subscription(), [], 'not subscribed')
  t.equal((await caught(inst.read(10, 1 << 20, 'binary'))).errorCode, 40903, 'a read says so instead of waiting for nothing')
  t.equal((await caught(inst.assign([{ topic: 'events', partition: 0 }]))).errorCode, 50302, 'and assigning is not refused as a conflict')
  r.deps.kafka = working
  await inst.subscribe({ topics: ['events'] })
  await inst.start()
  t.same(inst.subscription(), ['events'])
  t.same(r.port.current.topics, [T], 'a session runs')
})
