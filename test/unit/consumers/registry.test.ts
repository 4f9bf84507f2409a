import t from 'tap'
import { ConsumerRegistry } from '../../../plugins/consumers/registry.js'
import { ApiError } from '../../../plugins/errors/errors.js'
import { rig } from '../../helpers/fake-kafka.js'

const base = { namespace: 'ns-abc', group: 'grp', format: 'binary' as const, autoOffsetReset: 'latest' as const, autoCommit: false, fetchMinBytes: 1, requestTimeoutMs: 100 }

function code (fn: () => unknown): number | undefined {
  try { fn() } catch (err) { return err instanceof ApiError ? err.errorCode : -1 }
  return undefined
}

t.test('names, owners, quota, expiry memory, shutdown', async t => {
  const r = rig()
  const reg = new ConsumerRegistry(r.deps, { instanceTimeoutMs: 1000, maxPerSubject: 2 })
  t.teardown(() => reg.closeAll())
  const a = reg.create({ ...base, subject: 'alice', name: 'one' })
  t.match(reg.create({ ...base, subject: 'alice' }).opts.name, /^rest-consumer-[0-9a-f-]{36}$/, 'generated names')
  t.equal(code(() => reg.create({ ...base, subject: 'bob', name: 'one' })), 40902, 'a name is unique in its group')
  t.equal(code(() => reg.create({ ...base, subject: 'alice', name: 'three' })), 42901, 'per-subject quota')
  t.equal(reg.create({ ...base, subject: 'bob', name: 'two' }).opts.subject, 'bob', 'the quota is per subject')
  t.equal(reg.get('alice', 'ns-abc', 'grp', 'one'), a)
  t.equal(code(() => reg.get('bob', 'ns-abc', 'grp', 'one')), 40403, 'another subject cannot see it')

  const now = Date.now()
  a.activeReads = 1
  t.equal(reg.expireIdle(now + 5000), 2, 'the two idle instances expire; the one in a long poll does not')
  t.equal(reg.get('alice', 'ns-abc', 'grp', 'one'), a)
  a.activeReads = 0
  t.equal(reg.expireIdle(now + 20_000), 1)
  let message = ''
  try { reg.get('alice', 'ns-abc', 'grp', 'one') } catch (err) { message = (err as Error).message }
  t.match(message, /expired/)
  t.notMatch((() => { try { reg.get('bob', 'ns-abc', 'grp', 'one') } catch (err) { return (err as Error).message } return '' })(), /expired/, 'only the owner learns it expired')
  t.same(reg.stats, { instances: 0, created: 3, deleted: 0, expired: 3 })
  t.equal(reg.countFor('alice'), 0, 'expiry frees the quota')

  const c = reg.create({ ...base, subject: 'carol', name: 'c' })
  await reg.closeAll()
  t.ok(c.closed, 'shutdown closes every instance')
  t.equal(code(() => reg.create({ ...base, subject: 'carol', name: 'd' })), 50302, 'no new instances while shutting down')
})

t.test('closeNamespace closes and forgets the instances of that namespace only', async t => {
  const r = rig()
  const reg = new ConsumerRegistry(r.deps, { instanceTimeoutMs: 60_000, maxPerSubject: 5 })
  t.teardown(() => reg.closeAll())
  const a = reg.create({ ...base, subject: 'alice', name: 'a' })
  const b = reg.create({ ...base, namespace: 'ns-other', subject: 'alice', name: 'b' })
  await reg.closeNamespace('ns-abc')
  t.ok(a.closed)
  t.notOk(b.closed, 'another namespace is left alone')
  t.equal(code(() => reg.get('alice', 'ns-abc', 'grp', 'a')), 40403)
  t.equal(reg.get('alice', 'ns-other', 'grp', 'b'), b)
  t.equal(reg.countFor('alice'), 1, 'the quota is freed')
  t.same(reg.stats, { instances: 1, created: 2, deleted: 1, expired: 0 })
  await reg.closeNamespace('ns-none')
  t.equal(reg.size, 1, 'a namespace without instances changes nothing')
})
