import t from 'tap'
import { TopicList } from '../../../plugins/consumers/topic-list.js'

t.test('callers accepting an older listing share one call; maxAge 0 always lists anew', async t => {
  let now = 1000
  let calls = 0
  let topics = ['a']
  const list = new TopicList(async () => { calls++; return [...topics] }, () => now)
  const [x, y] = await Promise.all([list.list(10_000), list.list(10_000)])
  t.same(x, ['a'])
  t.same(y, ['a'])
  t.equal(calls, 1, 'concurrent callers shared the call')
  topics = ['a', 'b']
  now += 5000
  t.same(await list.list(10_000), ['a'], 'a listing 5 s old is good for a 10 s refresh')
  t.equal(calls, 1)
  t.same(await list.list(0), ['a', 'b'], 'a subscribe lists anew')
  t.equal(calls, 2)
  now += 20_000
  t.same(await list.list(10_000), ['a', 'b'])
  t.equal(calls, 3, 'too old: listed again')
})

t.test('a failed listing is not kept', async t => {
  let fail = true
  let calls = 0
  const list = new TopicList(async () => { calls++; if (fail) throw new Error('broker down'); return ['a'] })
  await t.rejects(list.list(10_000), /broker down/)
  fail = false
  t.same(await list.list(10_000), ['a'])
  t.equal(calls, 2)
})
