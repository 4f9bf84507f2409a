/** The positions ledger on its own: joins, re-fetches, deliveries, seeks and what a commit-all commits. */
import t from 'tap'
import { Positions } from '../../../plugins/consumers/positions.js'
import { allowed, TRANSITIONS } from '../../../plugins/consumers/state.js'

const recs = (...offsets: number[]): Array<{ offset: number }> => offsets.map(offset => ({ offset }))

t.test('a join keeps held partitions after what is buffered, resumes others at their place, forgets revoked ones', async t => {
  const p = new Positions()
  p.resumeAt(new Map([['t\u00000', 5]]))
  t.same(p.join([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]), { revoked: [], seeks: [{ topic: 't', partition: 0, offset: 5 }] })
  t.equal(p.fetched('t', 0, recs(5, 6, 7)), 0)
  t.equal(p.fetched('t', 0, recs(6, 7, 8)), 2, 'a re-fetch skips offsets already buffered')
  t.equal(p.fetched('t', 1, recs(0, 1)), 0)
  p.delivered('t', 0, 7)
  t.same(p.toCommit(), [{ topic: 't', partition: 0, offset: 7 }], 'only delivered offsets are committed')
  const plan = p.join([{ topic: 't', partition: 0 }])
  t.same(plan, { revoked: [{ topic: 't', partition: 1 }], seeks: [{ topic: 't', partition: 0, offset: 9 }] }, 'kept: after what is buffered')
  t.same(p.assigned(), [{ topic: 't', partition: 0 }])
})

t.test('commit-all bookkeeping: unchanged offsets are known, a join or an explicit commit forgets them', async t => {
  const p = new Positions()
  p.assign([{ topic: 't', partition: 0 }])
  p.sought('t', 0, 3)
  const list = p.toCommit()
  t.same(list, [{ topic: 't', partition: 0, offset: 3 }])
  p.committed(list)
  t.ok(p.alreadyCommitted(p.toCommit()))
  p.commitUnknown()
  t.notOk(p.alreadyCommitted(p.toCommit()))
})

t.test('auto.offset.reset none: held partitions not sought are unpositioned until marked', async t => {
  const p = new Positions()
  p.join([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }])
  p.sought('t', 1, 0)
  t.same(p.unpositioned(), [{ topic: 't', partition: 0 }])
  p.positioned('t', 0)
  t.same(p.unpositioned(), [])
})

t.test('the state machine: closed is final, and every state can close or go idle', async t => {
  for (const from of Object.keys(TRANSITIONS) as Array<keyof typeof TRANSITIONS>) {
    t.equal(allowed(from, 'closed'), from !== 'closed', `${from} → closed`)
    if (from !== 'closed' && from !== 'idle') t.ok(allowed(from, 'idle'), `${from} → idle (unsubscribe)`)
  }
  t.notOk(allowed('idle', 'joined'), 'a session joins only after it started')
  t.notOk(allowed('closed', 'joining'))
})
