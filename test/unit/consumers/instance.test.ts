/**
 * The consumer instance driven step by step through a fake Kafka port: joins, rebalances, commits that
 * meet a rebalance, back-pressure, crashes. These are the moments a real broker cannot produce on demand.
 */
import t from 'tap'
import { KafkaError } from '../../../plugins/kafka/driver.js'
import { kafkaError, refused, rig } from '../../helpers/fake-kafka.js'
import { caught } from '../../helpers/errors.js'
import { wireOf } from '../../helpers/wire.js'
import { sleep } from '../../helpers/wait.js'

const T = 'ns-abc.events'
const tick = (ms = 0): Promise<void> => sleep(ms)
const values = (recs: Array<{ value: unknown }>): string[] => recs.map(r => Buffer.from(String(r.value), 'base64').toString())

t.test('subscribes to existing topics only and picks up a topic created later', async t => {
  const r = rig({ refreshIntervalMs: 20 })
  r.admin.addTopic(T, 1)
  const inst = r.instance()
  t.teardown(() => inst.close())
  await inst.subscribe({ topics: ['events', 'later'] })
  await inst.start()
  t.same(r.port.current.topics, [T])
  t.same(inst.subscription(), ['events', 'later'])
  r.admin.addTopic('ns-abc.later', 1)
  for (let i = 0; i < 100 && r.port.sessions.length < 2; i++) await tick(10)
  t.same(r.port.current.topics, [T, 'ns-abc.later'], 'the refresh rebuilt the session with the new topic')
  t.ok(r.port.sessions[0]?.stopped, 'the old session was stopped')
})

t.test('a read waits through the join, returns user topic names, and commit-all commits only what was delivered', async t => {
  const r = rig()
  r.admin.addTopic(T, 2)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  const pending = inst.read(2000, 1 << 20, 'binary')
  await tick(20)
  s.join([[T, 0], [T, 1]])
  s.deliver(T, 0, [5, 6, 7])
  const first = await pending
  t.same(wireOf(first).map(x => [x.topic, x.partition, x.offset]), [['events', 0, 5], ['events', 0, 6], ['events', 0, 7]])
  s.deliver(T, 1, [0, 1], o => 'x'.repeat(10) + o)
  const limited = await inst.read(100, 15, 'binary')
  t.equal(limited.length, 1, 'max_bytes lets one 11-byte record through')
  await inst.commit()
  t.same(
    s.commits.at(-1)?.sort((a, b) => a.partition - b.partition),
    [{ topic: T, partition: 0, offset: 8 }, { topic: T, partition: 1, offset: 1 }],
    'partition 1 commits after offset 0, not after the buffered offset 1')
  await inst.commit([{ topic: 'events', partition: 1, offset: 41 }])
  t.same(s.commits.at(-1), [{ topic: T, partition: 1, offset: 42 }], 'explicit commits use the +1 rule')
})

t.test('a rebalance purges revoked partitions and continues retained ones after the buffer', async t => {
  const r = rig()
  r.admin.addTopic(T, 2)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  s.join([[T, 0], [T, 1]])
  s.deliver(T, 0, [0, 1, 2])
  s.deliver(T, 1, [0, 1])
  t.equal(inst.bufferedRecords, 5)
  s.seeks = []
  s.join([[T, 0]])
  t.equal(inst.bufferedRecords, 3, 'partition 1 was revoked: its buffer is gone')
  t.same(s.seeks, [[T, 0, 3]], 'partition 0 continues at offset 3, after what is buffered, not at the last commit')
  t.same(inst.assignment(), [{ topic: 'events', partition: 0 }])
  s.deliver(T, 1, [2])
  t.equal(inst.bufferedRecords, 3, 'late records of a revoked partition are dropped')
  s.deliver(T, 0, [1, 2, 3])
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')).map(x => x.offset), [0, 1, 2, 3], 'a re-fetch of buffered offsets is not duplicated')
})

t.test('seek purges the partition buffer and refuses partitions not held', async t => {
  const r = rig()
  r.admin.addTopic(T, 2, 100, 10)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  t.match(await caught(inst.seek([{ topic: 'events', partition: 0, offset: 3 }])), { statusCode: 409, errorCode: 40903 })
  s.join([[T, 0]])
  s.deliver(T, 0, [10, 11, 12, 13, 14])
  await inst.seek([{ topic: 'events', partition: 0, offset: 13 }])
  t.equal(inst.bufferedRecords, 0)
  t.same(s.seeks.at(-1), [T, 0, 13])
  s.deliver(T, 0, [13, 14])
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')).map(x => x.offset), [13, 14])
  await inst.seek([{ topic: 'events', partition: 0, offset: 5000 }])
  t.same(s.seeks.at(-1), [T, 0, 100], 'a seek past the end is clamped to the end, so later records still arrive')
  s.deliver(T, 0, [100])
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')).map(x => x.offset), [100])
  await inst.seek([{ topic: 'events', partition: 0, offset: 2 }])
  t.same(s.seeks.at(-1), [T, 0, 10], 'below the log start: clamped to the start')
  await inst.seekToEdge([{ topic: 'events', partition: 0 }], 'beginning')
  t.same(s.seeks.at(-1), [T, 0, 10], 'beginning resolves to the concrete low watermark')
  await inst.seekToEdge([{ topic: 'events', partition: 0 }], 'end')
  t.same(s.seeks.at(-1), [T, 0, 100], 'end resolves to the concrete high watermark, never -1')
  t.match(await caught(inst.seekToEdge([{ topic: 'events', partition: 1 }], 'end')), { statusCode: 409, errorCode: 40903 })
})

t.test('back-pressure: pause at the high-water mark, resume below half of it', async t => {
  const r = rig({ bufferBytes: 100 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, Array.from({ length: 12 }, (_, i) => i), () => 'x'.repeat(10))
  t.ok(s.held, 'paused at 120 buffered bytes')
  await inst.read(10, 40, 'binary')
  t.ok(s.held, 'still 80 bytes: stays paused')
  await inst.read(10, 40, 'binary')
  t.notOk(s.held, 'resumed at 40 bytes')
  t.equal(r.budget.used, 40, 'the process budget tracks buffered bytes')
})

t.test('the process-wide budget pauses an instance until others release', async t => {
  const r = rig({}, 100)
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  r.budget.add(95) // another instance holds most of the budget
  s.deliver(T, 0, [0], () => 'x'.repeat(10))
  t.ok(s.held)
  await inst.read(10, 1000, 'binary')
  t.ok(s.held, 'own buffer empty, but the budget is still exhausted')
  r.budget.release(95)
  t.notOk(s.held, 'relief resumes it')
})

t.test('commits during a rebalance wait for the join, and retry once after REBALANCE_IN_PROGRESS', async t => {
  const r = rig({ joinWaitMs: 2000 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.start()
  const s = r.port.current
  const early = inst.commit([{ topic: 'events', partition: 0, offset: 4 }])
  await tick(30)
  t.equal(s.commits.length, 0, 'nothing is sent before the join (kafkajs would drop it silently)')
  s.join([[T, 0]])
  await early
  t.same(s.commits, [[{ topic: T, partition: 0, offset: 5 }]])

  s.commitFailures.push(kafkaError('REBALANCE_IN_PROGRESS', 'rebalancing'))
  const retried = inst.commit([{ topic: 'events', partition: 0, offset: 9 }])
  await tick(30)
  t.equal(s.commits.length, 1, 'waiting for the next join')
  s.join([[T, 0]])
  await retried
  t.same(s.commits.at(-1), [{ topic: T, partition: 0, offset: 10 }])
})

t.test('a commit that never sees a join fails with a retriable error instead of hanging', async t => {
  const r = rig({ joinWaitMs: 50 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.start()
  t.match(await caught(inst.commit([{ topic: 'events', partition: 0, offset: 1 }])), { statusCode: 500, errorCode: 50003 })
  t.match(await caught(inst.commit([{ topic: 'events', partition: 5, offset: 1 }])), { statusCode: 404, errorCode: 40402 })
  t.match(await caught(inst.commit([{ topic: 'nothere', partition: 0, offset: 1 }])), { statusCode: 404, errorCode: 40401 })
})

t.test('manual assignment: start offsets from the real group, commits without membership to the real group', async t => {
  const r = rig()
  r.admin.addTopic(T, 2, 50, 5)
  r.admin.committed.set(`ns-abc.grp/${T}/0`, 20)
  const inst = r.instance({ autoOffsetReset: 'latest' })
  t.teardown(() => inst.close())
  await inst.assign([{ topic: 'events', partition: 0 }, { topic: 'events', partition: 1 }])
  const s = r.port.current
  t.equal(s.spec.groupId, 'ns-abc.grp', 'fixed partitions of the real group (the driver runs them in a private group)')
  t.same(s.spec.fixed, { [T]: [0, 1] })
  t.same(inst.assignment(), [{ topic: 'events', partition: 0 }, { topic: 'events', partition: 1 }], 'held at once')
  s.join([[T, 0], [T, 1]])
  t.same(s.seeks.sort(), [[T, 0, 20], [T, 1, 50]], 'committed offset, else auto.offset.reset=latest')
  await inst.commit([{ topic: 'events', partition: 1, offset: 60 }])
  t.same(r.port.simpleCommits, [{ groupId: 'ns-abc.grp', offsets: [{ topic: T, partition: 1, offset: 61 }] }])
  t.same(s.commits, [], 'never committed to the shadow group')
  r.port.simpleCommitFailures.push(kafkaError('UNKNOWN_MEMBER_ID', 'member'))
  t.match(await caught(inst.commit([{ topic: 'events', partition: 1, offset: 61 }])), { statusCode: 409, errorCode: 40903 })
  t.match(await caught(inst.subscribe({ topics: ['events'] })), { statusCode: 409, errorCode: 40903 })
  await inst.close()
  t.same(r.admin.deletedGroups, ['ns-abc.grp.assign-fake0'], 'the shadow group is deleted on close')
})

t.test('json: an undecodable record fails the read, stays put, and a seek past it unblocks', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t, { format: 'json' })
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, [0, 1, 2], o => (o === 1 ? Buffer.from([0x7b, 0xff]) : JSON.stringify({ n: o })))
  t.same(wireOf(await inst.read(10, 1 << 20, 'json')).map(x => x.value), [{ n: 0 }], 'records before the bad one are returned')
  t.match(await caught(inst.read(10, 1 << 20, 'json')), { statusCode: 422, errorCode: 42203 })
  t.match(await caught(inst.read(10, 1 << 20, 'json')), { statusCode: 422, errorCode: 42203 })
  await inst.seek([{ topic: 'events', partition: 0, offset: 2 }])
  s.deliver(T, 0, [2], () => JSON.stringify({ n: 2 }))
  t.same(wireOf(await inst.read(10, 1 << 20, 'json')).map(x => x.value), [{ n: 2 }])
})

t.test('close wakes a waiting read and commits delivered offsets when auto-commit is on', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  const inst = r.instance({ autoCommit: true })
  await inst.subscribe({ topics: ['events'] })
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, [0, 1])
  t.same(values(wireOf(await inst.read(10, 1 << 20, 'binary'))), ['v0', 'v1'])
  const waiting = inst.read(30_000, 1 << 20, 'binary')
  await tick(20)
  await inst.close()
  t.same(wireOf(await waiting), [], 'the long poll ended with what it had')
  t.same(s.commits, [[{ topic: T, partition: 0, offset: 2 }]])
  t.ok(s.stopped, 'left the group')
  t.ok(r.port.closed)
  t.match(await caught(inst.subscribe({ topics: ['events'] })), { statusCode: 404, errorCode: 40403 })
})

t.test('a crash without restart fails reads with a Kafka error; not subscribed is 409', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  const inst = r.instance()
  t.teardown(() => inst.close())
  t.match(await caught(inst.read(10, 100, 'binary')), { statusCode: 409, errorCode: 40903 })
  await inst.subscribe({ topics: ['events'] })
  await inst.start()
  const pending = inst.read(5000, 100, 'binary')
  r.port.current.spec.handlers.onCrash(new KafkaError('boom'), false)
  t.match(await caught(pending), { statusCode: 500, errorCode: 50002 })
  t.equal(inst.phase, 'failed')
})

t.test('subscription rules: both, neither, pattern scoping, unsubscribe', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  r.admin.addTopic('ns-abd.events', 1)
  const inst = r.instance()
  t.teardown(() => inst.close())
  t.match(await caught(inst.subscribe({ topics: ['events'], topic_pattern: 'e.*' })), { statusCode: 409, errorCode: 40903 })
  t.match(await caught(inst.subscribe({})), { statusCode: 422, errorCode: 42204 })
  await inst.subscribe({ topic_pattern: 'ev.*|.*' })
  await inst.start()
  t.same(r.port.current.topics, [T], 'never another namespace\'s topic')
  t.match(await caught(inst.subscribe({ topics: ['events'] })), { statusCode: 409, errorCode: 40903 })
  await inst.unsubscribe()
  t.ok(r.port.current.stopped)
  t.same(inst.subscription(), [])
  await inst.subscribe({ topics: [] })
  await inst.start()
  t.same(inst.subscription(), [], 'an empty list is an unsubscribe')
})

t.test('subscribing starts no consumer: the first read does (as Java joins at the first poll)', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  r.admin.addTopic('ns-abc.other', 1)
  const inst = r.instance()
  t.teardown(() => inst.close())
  await inst.subscribe({ topic_pattern: 'ev.*' })
  t.equal(r.port.sessions.length, 0, 'no kafkajs consumer after subscribe')
  t.same(inst.subscription(), ['events'], 'the pattern is resolved all the same')
  t.same(wireOf(await inst.read(5, 1 << 20, 'binary')), [])
  t.equal(r.port.sessions.length, 1, 'the read started one')
  t.same(r.port.current.topics, [T])
  t.ok(r.port.current.running)
  await inst.read(5, 1 << 20, 'binary')
  t.equal(r.port.sessions.length, 1, 'later reads reuse it')
})

t.test('a GET assignments (startSoon) or a commit starts the consumer too', async t => {
  const r = rig({ joinWaitMs: 50 })
  r.admin.addTopic(T, 1)
  const a = await r.subscribed(t)
  t.same(a.assignment(), [], 'nothing assigned before the join')
  await tick(5)
  t.equal(r.port.sessions.length, 0, 'reading the assignment starts nothing by itself')
  t.notOk(a.started)
  a.startSoon()
  await tick(5)
  t.ok(a.started)
  t.equal(r.port.sessions.length, 1, 'startSoon (GET assignments) started the consumer')
  r.port.current.join([[T, 0]])
  t.same(a.assignment(), [{ topic: 'events', partition: 0 }])

  const r2 = rig({ joinWaitMs: 50 })
  r2.admin.addTopic(T, 1)
  const b = r2.instance()
  t.teardown(() => b.close())
  await b.subscribe({ topics: ['events'] })
  // Diaspora 0.7 (its SDK relies on it): offsets before the first read are refused, the subscription holds nothing.
  t.match(await caught(b.commit([{ topic: 'events', partition: 0, offset: 3 }])), { statusCode: 409, errorCode: 40903 }, 'offsets before the first read: 409/40903')
  t.equal(r2.port.sessions.length, 0, 'that refusal started nothing')
  await b.commit([]) // an empty list names no partition: nothing to refuse (and it starts the consumer)
  t.equal(r2.port.sessions.length, 1)
  const commit = b.commit()
  await tick(5)
  t.equal(r2.port.sessions.length, 1, 'a commit of the positions needs the consumer too')
  r2.port.current.join([[T, 0]])
  await commit
  t.same(r2.port.current.commits, [], 'nothing delivered: nothing committed')
  await b.commit([{ topic: 'events', partition: 0, offset: 3 }])
  t.same(r2.port.current.commits, [[{ topic: T, partition: 0, offset: 4 }]], 'once started, offsets are committed')
})

t.test('an instance without reads parks its consumer and the next read unparks it', async t => {
  const r = rig({ parkAfterMs: 30 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.read(5, 1 << 20, 'binary')
  const s = r.port.current
  s.join([[T, 0]])
  t.notOk(s.parked, 'not parked right after a read')
  await tick(80)
  t.ok(s.parked, `parked after ${30} ms without a read`)
  const waiting = inst.read(200, 1 << 20, 'binary')
  t.notOk(s.parked, 'a read unparks at once')
  await tick(80)
  t.notOk(s.parked, 'a long poll in progress keeps it unparked')
  s.deliver(T, 0, [0])
  t.same(wireOf(await waiting).map(x => x.offset), [0])
  await tick(80)
  t.ok(s.parked, 'parked again once reads stop')
  const parks = s.parks
  s.join([[T, 0]])
  t.equal(s.parks, parks + 1, 'a rejoin while parked parks the (possibly rebuilt) kafkajs consumer again')
  await inst.unsubscribe()
  await inst.subscribe({ topics: ['events'] })
  await inst.start()
  t.notOk(r.port.current.parked, 'a new session starts unparked')
})

t.test('parking is off with parkAfterMs 0', async t => {
  const r = rig({ parkAfterMs: 0 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  await inst.read(1, 1 << 20, 'binary')
  await tick(50)
  t.equal(r.port.current.parks, 0)
})

t.test('auto-commit sends delivered offsets once, not again while nothing changes', async t => {
  const r = rig({ autoCommitIntervalMs: 20 })
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t, { autoCommit: true })
  await inst.start()
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, [0, 1])
  await inst.read(10, 1 << 20, 'binary')
  await tick(100)
  t.same(s.commits, [[{ topic: T, partition: 0, offset: 2 }]], 'one commit over several intervals')
  await inst.commit([{ topic: 'events', partition: 0, offset: 0 }])
  await tick(100)
  t.same(s.commits.at(-1), [{ topic: T, partition: 0, offset: 2 }], 'after an explicit commit of other offsets, the timer commits the delivered ones again')
  const n = s.commits.length
  s.deliver(T, 0, [2])
  await inst.read(10, 1 << 20, 'binary')
  await tick(100)
  t.equal(s.commits.length, n + 1)
  t.same(s.commits.at(-1), [{ topic: T, partition: 0, offset: 3 }], 'new deliveries are committed')
  s.join([[T, 0]])
  await tick(100)
  t.equal(s.commits.length, n + 2, 'a rejoin (new generation) commits the same offsets once more')
})

t.test('a read on an assigned instance does not wait behind a slow control operation', async t => {
  const r = rig({ autoCommitIntervalMs: 60_000 })
  r.admin.addTopic(T, 1, 10)
  const inst = r.instance()
  t.teardown(() => inst.close())
  await inst.assign([{ topic: 'events', partition: 0 }])
  const s = r.port.current
  s.join([[T, 0]])
  s.deliver(T, 0, [0, 1])
  let open: () => void = () => {}
  r.port.simpleCommitGate = new Promise<void>(resolve => { open = resolve })
  const commit = inst.commit([{ topic: 'events', partition: 0, offset: 0 }])
  await tick(5)
  // The commit waits until open(): a read queued behind it would never answer.
  t.same(wireOf(await inst.read(2000, 1 << 20, 'binary')).map(x => x.offset), [0, 1], 'answered from the buffer while the commit still waits for Kafka')
  open()
  await commit
})

t.test('the first read waits for the consumer to start only until its own timeout; a failed start is then its answer', async t => {
  const r = rig()
  r.admin.addTopic(T, 1)
  const inst = await r.subscribed(t)
  let open: () => void = () => {}
  r.port.startGate = new Promise<void>(resolve => { open = resolve })
  r.port.startFailure = refused()
  t.same(wireOf(await inst.read(30, 1 << 20, 'binary')), [], 'the deadline came first: an empty answer, the start goes on')
  open()
  await tick(10)
  t.notOk(inst.started, 'the start failed')
  let openAgain: () => void = () => {}
  r.port.startGate = new Promise<void>(resolve => { openAgain = resolve })
  r.port.startFailure = undefined
  t.match(await caught(inst.read(30, 1 << 20, 'binary')), { statusCode: 503, errorCode: 50302 }, 'a later read that finds nothing says why, while the retry is under way')
  openAgain()
  await tick(10)
  t.ok(inst.started, 'the retry started it')
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')), [], 'and reads are plain again')
})

t.test('seeks to timestamps look each partition up once, the last entry winning, one broker call per topic and instant', async t => {
  const r = rig()
  r.admin.addTopic(T, 2, 50, 10)
  const inst = r.instance()
  t.teardown(() => inst.close())
  await inst.assign([{ topic: 'events', partition: 0 }, { topic: 'events', partition: 1 }])
  const s = r.port.current
  const before = s.seeks.length
  const offsetLookupsBefore = r.admin.offsetLookups
  const entries = Array.from({ length: 1000 }, (_, i) => ({ topic: 'events', partition: i % 2, timestamp: 5 }))
  await inst.seekToTimestamps(entries)
  t.equal(r.admin.timestampLookups, 1, 'one lookup for one topic and instant')
  t.equal(r.admin.offsetLookups - offsetLookupsBefore, 1, 'the end offsets of the topic looked up once, not once per partition')
  t.same(s.seeks.slice(before), [[T, 0, 50], [T, 1, 50]], 'one seek per partition (no record at or after the instant: the end)')
})

t.test('auto.offset.reset none: a read fails with 409/40905 naming the partitions without a commit, woken by the join', async t => {
  const r = rig()
  r.admin.addTopic(T, 3)
  r.admin.committed.set(`ns-abc.grp/${T}/2`, 4)
  const inst = await r.subscribed(t, { autoOffsetReset: 'none' })
  await inst.start()
  t.equal(r.port.current.spec.fromBeginning, false, 'the session is not told to start at the beginning')
  const s = r.port.current
  const pending = caught(inst.read(30_000, 1 << 20, 'binary'))
  await tick(20)
  s.join([[T, 0], [T, 1], [T, 2]])
  const err = await pending // long before 30 s: the join woke the read
  t.match(err, { statusCode: 409, errorCode: 40905, message: /partition\(s\) events-0, events-1 and auto\.offset\.reset is none/ })
  t.notMatch(err.message, /events-2/, 'the committed partition is fine')
  s.deliver(T, 2, [4])
  t.match(await caught(inst.read(10, 1 << 20, 'binary')), { errorCode: 40905 }, 'records of other partitions do not get past it')
  await inst.seekToEdge([{ topic: 'events', partition: 0 }], 'beginning')
  t.match(await caught(inst.read(10, 1 << 20, 'binary')), { message: /partition\(s\) events-1 and/ }, 'a seek gives a partition its start')
  await inst.commit([{ topic: 'events', partition: 1, offset: 6 }])
  t.same(s.seeks.at(-1), [T, 1, 7], 'a commit moves the unpositioned partition to the committed offset')
  t.same(values(wireOf(await inst.read(10, 1 << 20, 'binary'))), ['v4'], 'every partition has a start: reads go on')
})

t.test('auto.offset.reset none with a manual assignment: no reset edge is looked up; the read names the partition', async t => {
  const r = rig()
  r.admin.addTopic(T, 2, 10, 0)
  r.admin.committed.set(`ns-abc.grp/${T}/0`, 3)
  const inst = r.instance({ autoOffsetReset: 'none' })
  t.teardown(() => inst.close())
  await inst.assign([{ topic: 'events', partition: 0 }, { topic: 'events', partition: 1 }])
  t.equal(r.admin.offsetLookups, 0, 'no edge for auto.offset.reset')
  const s = r.port.current
  s.join([[T, 0], [T, 1]])
  t.same(s.seeks, [[T, 0, 3]], 'the committed partition starts at its commit; the other gets no start')
  t.match(await caught(inst.read(10, 1 << 20, 'binary')), { statusCode: 409, errorCode: 40905, message: /events-1 and/ })
  await inst.seekToEdge(undefined, 'end')
  t.same(s.seeks.slice(-2), [[T, 0, 10], [T, 1, 10]], 'no partitions: every assigned one')
  t.same(wireOf(await inst.read(10, 1 << 20, 'binary')), [])
})

t.test('seek to the beginning or end of every assigned partition: an empty list, no list; nothing held is a no-op', async t => {
  const r = rig()
  r.admin.addTopic(T, 2, 9, 2)
  const inst = r.instance()
  t.teardown(() => inst.close())
  await inst.seekToEdge([], 'end')
  t.equal(r.admin.offsetLookups, 0, 'nothing held: nothing to look up')
  await inst.assign([{ topic: 'events', partition: 0 }, { topic: 'events', partition: 1 }])
  const s = r.port.current
  s.join([[T, 0], [T, 1]])
  const before = s.seeks.length
  await inst.seekToEdge([], 'beginning')
  t.same(s.seeks.slice(before), [[T, 0, 2], [T, 1, 2]])
  await inst.seekToEdge(undefined, 'end')
  t.same(s.seeks.slice(before + 2), [[T, 0, 9], [T, 1, 9]])
  await inst.seekToEdge([{ topic: 'events', partition: 1 }], 'beginning')
  t.same(s.seeks.at(-1), [T, 1, 2], 'a list still names exactly its partitions')
  t.equal(s.seeks.length, before + 5)
})
