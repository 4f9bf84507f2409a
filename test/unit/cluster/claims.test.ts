import t from 'tap'
import { claimKey, InstanceClaims, type InstanceRef, type ProbeResult } from '../../../plugins/cluster/claims.js'
import { MemoryClaims } from '../../helpers/memory-claims.js'

interface World {
  store: MemoryClaims
  /** node → incarnation of the live nodes. */
  live: Map<string, string>
  /** node → what it answers a probe. */
  answers: Map<string, ProbeResult>
  probes: string[]
}

function world (): World {
  return { store: new MemoryClaims(), live: new Map(), answers: new Map(), probes: [] }
}

function node (w: World, id: string, incarnation = `${id}-1`): InstanceClaims {
  w.live.set(id, incarnation)
  return new InstanceClaims({
    self: { node: id, incarnation },
    store: w.store,
    nodes: {
      url: async (n) => w.live.has(n) ? `http://${n}` : undefined,
      incarnation: (n) => w.live.get(n)
    },
    probe: async (n) => { w.probes.push(n); return w.answers.get(n) ?? 'free' },
    log: { warn () {} }
  })
}

const ref = (name: string): InstanceRef => ({ namespace: 'ns-abc', group: 'g', name })
const code = async (p: Promise<unknown>): Promise<number | undefined> => {
  try { await p; return undefined } catch (err) { return (err as { errorCode?: number }).errorCode }
}

t.test('a name is claimed once: a second claim through any node is 409/40902', async t => {
  const w = world()
  const [a, b] = [node(w, 'a'), node(w, 'b')]
  w.answers.set('a', 'held')
  await a.claim(ref('worker-1'), false)
  t.ok(a.holds(claimKey(ref('worker-1'))), 'a holds it')
  t.same(w.store.items.get(claimKey(ref('worker-1'))), { key: 'ns-abc/g/worker-1', node: 'a', incarnation: 'a-1', at: w.store.items.get('ns-abc/g/worker-1')?.at }, 'the claim names a')
  t.equal(await code(b.claim(ref('worker-1'), false)), 40902, 'b: taken (a answers that it holds it)')
  t.equal(await code(a.claim(ref('worker-1'), false)), 40902, 'a again: taken')
  t.same(w.probes, ['a'], 'b asked the live holder; a answered from memory')
  await b.claim({ ...ref('worker-1'), group: 'other' }, false)
  t.pass('the same name in another group is another claim')
})

t.test('concurrent claims of one name on one node: the second waits for nothing and is refused', async t => {
  const w = world()
  const a = node(w, 'a')
  const results = await Promise.all([code(a.claim(ref('x'), false)), code(a.claim(ref('x'), false))])
  t.same(results, [undefined, 40902])
})

t.test('generated names cost no store call', async t => {
  const w = world()
  const a = node(w, 'a')
  await a.claim(ref('a..rest-consumer-1'), true)
  t.equal(w.store.calls, 0, 'no store call')
  t.ok(a.holds(claimKey(ref('a..rest-consumer-1'))))
  a.release(ref('a..rest-consumer-1'))
  t.equal(w.store.calls, 0, 'nor to release')
  t.notOk(a.holds(claimKey(ref('a..rest-consumer-1'))))
})

t.test('takeover: a gone node, a restarted node, a live node that no longer holds it', async t => {
  const w = world()
  const [a, b] = [node(w, 'a'), node(w, 'b')]
  await a.claim(ref('gone'), false)
  await a.claim(ref('dropped'), false)
  await a.claim(ref('restarted'), false)
  await a.claim(ref('held'), false)

  // a answers that it no longer holds "dropped" (its release failed), and still holds "held".
  w.answers.set('a', 'free')
  await b.claim(ref('dropped'), false)
  t.equal(w.store.items.get('ns-abc/g/dropped')?.node, 'b', 'a live node that does not hold it: taken over')
  w.answers.set('a', 'held')
  t.equal(await code(b.claim(ref('held'), false)), 40902, 'a live node that holds it: refused')
  w.answers.set('a', 'unknown')
  t.equal(await code(b.claim(ref('held'), false)), 503, 'a live node that does not answer clearly: 503, nothing taken')
  t.equal(w.store.items.get('ns-abc/g/held')?.node, 'a')
  w.answers.set('a', 'unreachable')
  await b.claim(ref('held'), false)
  t.equal(w.store.items.get('ns-abc/g/held')?.node, 'b', 'a node whose port refuses (killed, not yet expired): taken over')

  // a restarts with the same id: its old process's claims are no longer held by anyone.
  w.live.set('a', 'a-2')
  w.probes.length = 0
  await b.claim(ref('restarted'), false)
  t.equal(w.store.items.get('ns-abc/g/restarted')?.node, 'b', 'another incarnation of the node: taken over without asking')
  t.same(w.probes, [], 'no probe')

  // a is gone from the directory.
  w.live.delete('a')
  await b.claim(ref('gone'), false)
  t.same(w.store.items.get('ns-abc/g/gone'), { key: 'ns-abc/g/gone', node: 'b', incarnation: 'b-1', at: w.store.items.get('ns-abc/g/gone')?.at }, 'a gone node: taken over')
  t.same(w.probes, [], 'without asking it')
})

t.test('a takeover is conditional on the old holder: of two racing nodes, one wins', async t => {
  const w = world()
  const [a, b, c] = [node(w, 'a'), node(w, 'b'), node(w, 'c')]
  await a.claim(ref('x'), false)
  w.live.delete('a')
  // c takes the stale claim over between b's read and b's conditional put.
  w.store.beforePut = () => {
    w.store.beforePut = () => { w.store.items.set('ns-abc/g/x', { key: 'ns-abc/g/x', node: 'c', incarnation: 'c-1', at: 0 }) }
  }
  w.answers.set('c', 'held')
  t.equal(await code(b.claim(ref('x'), false)), 40902, 'b lost the race: c holds it, and says so')
  t.equal(w.store.items.get('ns-abc/g/x')?.node, 'c')
  t.notOk(b.holds('ns-abc/g/x'), 'b holds nothing')
  t.ok(c, 'c exists')
})

t.test('a release deletes only the holder\'s claim', async t => {
  const w = world()
  const [a, b] = [node(w, 'a'), node(w, 'b')]
  await a.claim(ref('x'), false)
  w.live.delete('a')
  await b.claim(ref('x'), false)
  a.release(ref('x')) // a's instance expires after b took the name over
  await new Promise(resolve => setImmediate(resolve))
  t.equal(w.store.items.get('ns-abc/g/x')?.node, 'b', 'a\'s late release leaves b\'s claim')
  b.release(ref('x'))
  await new Promise(resolve => setImmediate(resolve))
  t.equal(w.store.items.has('ns-abc/g/x'), false, 'b\'s release deletes it')
  t.equal(await code(a.claim(ref('x'), false)), undefined, 'free again')
})

t.test('a name in another live node\'s id form is asked of that node (its generated instance has no claim)', async t => {
  const w = world()
  const b = node(w, 'b')
  node(w, 'a')
  w.answers.set('a', 'held')
  t.equal(await code(b.claim(ref('a..rest-consumer-1'), false)), 40902, 'a holds its generated instance')
  t.same(w.probes, ['a'])
  w.answers.set('a', 'free')
  await b.claim(ref('a..rest-consumer-1'), false)
  t.equal(w.store.items.get('ns-abc/g/a..rest-consumer-1')?.node, 'b', 'the SDK re-creates it under the same id on b')
})

t.test('releaseAll on shutdown releases every claim of this process, and later releases only forget', async t => {
  const w = world()
  const a = node(w, 'a')
  await a.claim(ref('x'), false)
  await a.claim(ref('y'), false)
  await a.claim(ref('a..gen'), true)
  await a.releaseAll()
  t.equal(w.store.items.size, 0, 'both claims released')
  const calls = w.store.calls
  a.release(ref('x'))
  t.equal(w.store.calls, calls, 'no store call after')
  t.equal(await code(a.claim(ref('z'), false)), 50302, 'no new claims while shutting down')
})

t.test('routing: local, cached, prefix, claim; a stale route is dropped', async t => {
  const w = world()
  const [a, b, c] = [node(w, 'a'), node(w, 'b'), node(w, 'c')]
  await b.claim(ref('named'), false)
  const calls = w.store.calls
  t.equal(await a.route(ref('c..rest-consumer-1')), 'c', 'a generated id: its node')
  t.equal(w.store.calls, calls, 'without a store call')
  t.equal(await a.route(ref('named')), 'b', 'a claimed name: its holder')
  t.equal(await a.route(ref('named')), 'b', 'again')
  t.equal(w.store.calls, calls + 1, 'the second time from the cache')
  t.equal(await a.route(ref('nobody')), undefined, 'no claim: answered here (40403)')
  t.equal(await b.route(ref('named'), { fresh: true }), undefined, 'the holder itself never routes to itself')
  // The name moves to c: a's cached route is stale until a fresh read or an answer from c corrects it.
  b.release(ref('named'))
  await new Promise(resolve => setImmediate(resolve))
  await c.claim(ref('named'), false)
  t.equal(await a.route(ref('named')), 'b', 'the cache still says b')
  t.equal(await b.route(ref('named'), { fresh: true, exclude: ['a'] }), 'c', 'b, not holding it, reads the claim afresh: c')
  a.remember(claimKey(ref('named')), 'c')
  t.equal(await a.route(ref('named')), 'c', 'c\'s answer corrected a\'s route')
  a.forget(claimKey(ref('named')))
  w.live.delete('c')
  t.equal(await a.route(ref('named')), undefined, 'a claim of a gone node routes nowhere')
  t.equal(await a.route(ref('c..rest-consumer-1')), undefined, 'nor does a gone node\'s generated id (no claim)')
})

t.test('a store that fails: 503 METADATA_STORE_UNAVAILABLE, and the name is not kept locally', async t => {
  const w = world()
  const a = node(w, 'a')
  w.store.put = async () => { throw new Error('connect ECONNREFUSED') }
  await t.rejects(a.claim(ref('x'), false), { statusCode: 503, code: 'METADATA_STORE_UNAVAILABLE' })
  t.notOk(a.holds(claimKey(ref('x'))))
  delete (w.store as { put?: unknown }).put
  await a.claim(ref('x'), false)
  t.ok(a.holds(claimKey(ref('x'))), 'claimed once the store answers')
})
