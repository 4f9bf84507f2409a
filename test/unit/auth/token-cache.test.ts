import t from 'tap'
import { createHash } from 'node:crypto'
import { TokenCache, tokenHash } from '../../../plugins/auth/token-cache.js'

interface V { expiresAt: number, n: number }

function fixture (ttlMs = 60_000, maxEntries = 100) {
  const clock = { now: 1_700_000_000_000 }
  const cache = new TokenCache<V>({ ttlMs, maxEntries, now: () => clock.now })
  let loads = 0
  /** A fake introspector: counts calls, answers a value that expires `life` ms from now. */
  const loader = (life = 3_600_000) => async (): Promise<V> => ({ expiresAt: clock.now + life, n: ++loads })
  return { clock, cache, loader, loads: () => loads }
}

t.test('keys are the SHA-256 hex of the token, never the token', async (t) => {
  const { cache, loader } = fixture()
  const token = 'AgSecretToken123'
  await cache.resolve(token, loader())
  const expected = createHash('sha256').update(token).digest('hex')
  t.equal(tokenHash(token), expected)
  t.same(cache.keys(), [expected])
  t.notOk(cache.keys().some(k => k.includes(token)))
})

t.test('a hit does not load again', async (t) => {
  const { cache, loader, loads } = fixture()
  const first = cache.resolve('tok', loader())
  t.ok(first instanceof Promise, 'a miss returns a promise')
  const a = await first
  const b = cache.resolve('tok', loader())
  t.notOk(b instanceof Promise, 'a hit is synchronous')
  t.equal(loads(), 1)
  t.equal(a, b)
  t.match(cache.stats(), { hits: 1, misses: 1, loads: 1, size: 1 })
})

t.test('entries live for the configured TTL', async (t) => {
  const { clock, cache, loader, loads } = fixture(1000)
  await cache.resolve('tok', loader())
  clock.now += 999
  await cache.resolve('tok', loader())
  t.equal(loads(), 1, 'still cached just before the TTL')
  clock.now += 1
  await cache.resolve('tok', loader())
  t.equal(loads(), 2, 'reloaded at the TTL')
  t.equal(cache.peek('tok')?.n, 2)
})

t.test('entries never outlive the token exp', async (t) => {
  const { clock, cache, loader, loads } = fixture(60_000)
  await cache.resolve('tok', loader(5000))
  clock.now += 4999
  t.ok(cache.peek('tok'), 'cached until exp')
  await cache.resolve('tok', loader(5000))
  t.equal(loads(), 1)
  clock.now += 1
  t.equal(cache.peek('tok'), undefined, 'gone at exp although the TTL is longer')
  await cache.resolve('tok', loader(5000))
  t.equal(loads(), 2)
})

t.test('a value already expired (or TTL 0) is returned but not stored', async (t) => {
  const { cache, loader, loads } = fixture(60_000)
  const v = await cache.resolve('tok', loader(0))
  t.equal(v.n, 1)
  t.equal(cache.size, 0)
  const zero = fixture(0)
  await zero.cache.resolve('tok', zero.loader())
  await zero.cache.resolve('tok', zero.loader())
  t.equal(zero.loads(), 2, 'TTL 0 disables caching')
  t.equal(zero.cache.size, 0)
  t.equal(loads(), 1)
})

t.test('LRU bound: the least recently used entry goes first', async (t) => {
  const { cache, loader, loads } = fixture(60_000, 3)
  for (const tok of ['a', 'b', 'c']) await cache.resolve(tok, loader())
  await cache.resolve('a', loader()) // a is now most recent; b is the oldest
  await cache.resolve('d', loader())
  t.equal(cache.size, 3, 'bounded')
  t.equal(cache.peek('b'), undefined, 'b evicted')
  t.ok(cache.peek('a'))
  t.ok(cache.peek('c'))
  t.ok(cache.peek('d'))
  t.equal(loads(), 4)
  for (let i = 0; i < 100; i++) await cache.resolve(`x${i}`, loader())
  t.equal(cache.size, 3, 'stays bounded under churn')
  t.same(cache.keys(), ['x97', 'x98', 'x99'].map(tokenHash))
})

t.test('single flight: concurrent misses share one load', async (t) => {
  const { clock, cache } = fixture()
  let loads = 0
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const seen: string[] = []
  const slow = async (token: string): Promise<V> => {
    seen.push(token)
    loads++
    await gate
    return { expiresAt: clock.now + 60_000, n: loads }
  }
  const all = Array.from({ length: 1000 }, () => cache.resolve('tok', slow))
  const other = cache.resolve('other', slow)
  t.equal(cache.stats().inflight, 2)
  release()
  const values = await Promise.all(all)
  await other
  t.equal(loads, 2, 'one load per distinct token')
  t.same(seen, ['tok', 'other'], 'load receives the token')
  t.ok(values.every(v => v === values[0]), 'everyone got the same value')
  t.match(cache.stats(), { misses: 1001, loads: 2, coalesced: 999, inflight: 0 })
})

t.test('failures are never cached, and are shared by the waiters of that flight only', async (t) => {
  const { clock, cache } = fixture()
  let loads = 0
  let fail = true
  const load = async (): Promise<V> => {
    loads++
    await new Promise(resolve => setImmediate(resolve))
    if (fail) throw new Error('introspection failed')
    return { expiresAt: clock.now + 60_000, n: loads }
  }
  const results = await Promise.allSettled([cache.resolve('tok', load), cache.resolve('tok', load)])
  t.same(results.map(r => r.status), ['rejected', 'rejected'])
  t.equal(loads, 1, 'the failing flight was shared')
  t.equal(cache.size, 0, 'nothing stored')
  await t.rejects(Promise.resolve(cache.resolve('tok', load)), /introspection failed/)
  t.equal(loads, 2, 'the next request asks again')
  fail = false
  t.equal((await cache.resolve('tok', load)).n, 3)
  t.equal(cache.stats().inflight, 0)
  await cache.resolve('tok', load)
  t.equal(loads, 3, 'the success is cached')
})

t.test('delete and clear', async (t) => {
  const { cache, loader, loads } = fixture()
  await cache.resolve('a', loader())
  await cache.resolve('b', loader())
  t.ok(cache.delete('a'))
  t.equal(cache.size, 1)
  cache.clear()
  t.equal(cache.size, 0)
  await cache.resolve('b', loader())
  t.equal(loads(), 3)
})

t.test('rejects a non-positive bound', async (t) => {
  t.throws(() => new TokenCache({ ttlMs: 1000, maxEntries: 0 }), RangeError)
})
