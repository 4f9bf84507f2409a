/**
 * When an instance's kafkajs consumer runs, against the real broker: a subscription joins its group at the first
 * read (as Java's subscribe() does at the first poll), and an instance nobody reads parks its consumer (no
 * fetching, membership kept) until the next read.
 */
import t from 'tap'
import { build } from '../helpers/app.js'
import { apiUser, producer, readAll, shortName, unb64, BINARY } from '../helpers/api.js'
import { testKafka } from '../helpers/broker.js'
import { sleep, waitFor } from '../helpers/wait.js'

const PARK_MS = 400
const { app, globus } = await build(t, { env: { CONSUMER_PARK_AFTER_MS: String(PARK_MS) } })
const alice = await apiUser(app, globus)
const prod = await producer(t)
const admin = testKafka().admin()
await admin.connect()
t.teardown(() => admin.disconnect())

async function members (group: string): Promise<string[]> {
  const { groups } = await admin.describeGroups([group])
  const g = groups[0]
  return g?.state === 'Stable' ? g.members.map(m => m.memberId) : []
}
function instance (group: string, name: string): { parked: boolean, started: boolean, bufferedRecords: number } {
  const found = [...app.consumers.all()].find(i => i.opts.group === group && i.opts.name === name)
  if (!found) throw new Error('no such instance')
  return found
}

t.test('a subscription joins its group at the first read, not at subscribe', async t => {
  const topic = await alice.topic(1)
  const group = shortName('g')
  const path = await alice.subscriber(group, [topic], { name: 'c' })
  await sleep(1500)
  t.same(await members(`${alice.ns}.${group}`), [], 'no member after subscribe')
  t.notOk(instance(group, 'c').started)
  t.same((await alice.req('GET', `${path}/subscription`)).json(), { topics: [topic] }, 'the subscription is there all the same')
  t.equal((await alice.req('GET', `${path}/records?timeout=0`, undefined, { accept: BINARY })).statusCode, 200)
  await waitFor('the member to join', async () => (await members(`${alice.ns}.${group}`)).length === 1)
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: [{ value: 'a' }] })
  t.same((await readAll(alice, path, 1)).map(r => unb64(r.value)), ['a'])
  await alice.req('DELETE', path)
})

t.test('GET assignments starts a subscription too', async t => {
  const topic = await alice.topic(2)
  const group = shortName('g')
  const path = await alice.subscriber(group, [topic])
  t.same((await alice.req('GET', `${path}/assignments`)).json(), { partitions: [] }, 'empty until the join')
  await waitFor('the assignment', async () => (await alice.req('GET', `${path}/assignments`)).json().partitions.length === 2)
  await alice.req('DELETE', path)
})

t.test('an unread instance parks: nothing is prefetched, membership stays, the next read unparks', async t => {
  const topic = await alice.topic(1)
  const group = shortName('g')
  const path = await alice.subscriber(group, [topic], { name: 'p' })
  t.equal((await alice.req('GET', `${path}/records?timeout=0`, undefined, { accept: BINARY })).statusCode, 200)
  await waitFor('the member to join', async () => (await members(`${alice.ns}.${group}`)).length === 1)
  const member = await members(`${alice.ns}.${group}`)
  await waitFor('the instance to park', async () => instance(group, 'p').parked, 5000)
  await sleep(500) // a fetch already in flight when it parked may still return (it waits CONSUMER_FETCH_MAX_WAIT_MS)
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: [{ value: 'x' }, { value: 'y' }] })
  await sleep(1500)
  t.equal(instance(group, 'p').bufferedRecords, 0, 'a parked instance fetched nothing')
  t.same(await members(`${alice.ns}.${group}`), member, 'still the same member: parking caused no rebalance')
  const res = await alice.req('GET', `${path}/records?timeout=5000`, undefined, { accept: BINARY })
  t.equal(res.statusCode, 200)
  t.same((res.json() as Array<{ value: string }>).map(r => unb64(r.value)), ['x', 'y'], 'the next read unparked it and got the records')
  t.notOk(instance(group, 'p').parked)
  await alice.req('DELETE', path)
})
