import t from 'tap'
import { produceFromStream, type Admission, type RecordResult } from '../../../plugins/producer/stream.js'
import { ApiError } from '../../../plugins/errors/errors.js'

async function * chunks (...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p)
}

function run (parts: string[], opts: { streaming?: boolean, window?: number, budget?: number } = {}) {
  const lines: Array<Record<string, unknown>> = []
  let opened = false
  let inFlight = 0
  let maxInFlight = 0
  let refusals = 0
  const end = produceFromStream(chunks(...parts), {
    maxObjectBytes: 1000,
    streaming: opts.streaming ?? false,
    window: opts.window ?? 100,
    handle: async (raw): Promise<Admission> => {
      if (opts.budget !== undefined && inFlight >= opts.budget) {
        refusals++
        const error = new ApiError(429, 42901, 'not admitted')
        return { done: Promise.resolve({ ok: false, error }), refused: error }
      }
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      const done = (async (): Promise<RecordResult> => {
        await new Promise(resolve => setImmediate(resolve))
        inFlight--
        const v = (raw as { v?: unknown }).v
        return v === 'bad' ? { ok: false, error: new ApiError(422, 42206, 'bad') } : { ok: true, report: { offset: v } }
      })()
      return { done }
    },
    open: () => { opened = true },
    write: async (line) => { lines.push(line) }
  })
  return { end, lines, opened: () => opened, maxInFlight: () => maxInFlight, refusals: () => refusals }
}

t.test('one record in a body of known length: a single result, no stream', async t => {
  const r = run(['{"v":1}'])
  t.same(await r.end, { mode: 'single', result: { ok: true, report: { offset: 1 } } })
  t.notOk(r.opened())
})

t.test('several records: a stream of results in order; a bad one fails alone', async t => {
  const r = run(['{"v":1}{"v":"bad"}', '{"v":3}'])
  t.same(await r.end, { mode: 'stream' })
  t.ok(r.opened())
  t.same(r.lines, [{ error_code: 200, offset: 1 }, { error_code: 42206, message: 'bad' }, { error_code: 200, offset: 3 }])
})

t.test('chunked: a stream from the first record on', async t => {
  const r = run(['{"v":1}'], { streaming: true })
  t.same(await r.end, { mode: 'stream' })
  t.same(r.lines, [{ error_code: 200, offset: 1 }])
})

t.test('a syntax error ends the stream after the results before it', async t => {
  const r = run(['{"v":1}{"v":2}{"v": nope}{"v":4}'])
  t.same(await r.end, { mode: 'stream' })
  t.equal(r.lines.length, 3)
  t.match(r.lines[2], { error_code: 400 })
})

t.test('request-level answers: empty body, garbage first', async t => {
  t.same(await run(['  \n']).end, { mode: 'empty' })
  await t.rejects(run(['nope']).end, { name: 'ApiError', statusCode: 400 })
  await t.rejects(run(['{"v":']).end, { name: 'ApiError', statusCode: 400 })
})

t.test('the window bounds the records awaiting results', async t => {
  const parts = Array.from({ length: 50 }, (_, i) => `{"v":${i}}`)
  const r = run(parts, { window: 5 })
  await r.end
  t.equal(r.lines.length, 50)
  t.ok(r.maxInFlight() <= 5, `at most 5 at once (saw ${r.maxInFlight()})`)
})

t.test('a record the budget refuses waits for the stream\'s own records, then goes; order kept', async t => {
  const parts = Array.from({ length: 20 }, (_, i) => `{"v":${i}}`)
  const r = run(parts, { budget: 3 })
  await r.end
  t.ok(r.refusals() > 0, 'the budget refused some admissions')
  t.same(r.lines.map(l => l.offset), Array.from({ length: 20 }, (_, i) => i), 'every record written, in order')
})

t.test('a lone record the budget refuses gets its 429', async t => {
  const r = run(['{"v":1}'], { budget: 0 })
  const end = await r.end
  t.match(end, { mode: 'single', result: { ok: false, error: { errorCode: 42901 } } })
})

/**
 * With `handleMany` and `writeMany`: the records of a chunk are admitted together and their results written
 * at once. `budget` refuses a whole group beyond it (429); `drainAfter` refuses every group after that many
 * records (503, and `handle` then answers `last`).
 */
interface GroupedOptions { streaming?: boolean, window?: number, budget?: number, drainAfter?: number }

function runGrouped (parts: string[], opts: GroupedOptions = {}) {
  const lines: Array<Record<string, unknown>> = []
  const groups: number[] = []
  const writes: number[] = []
  let singles = 0
  let inFlight = 0
  let maxInFlight = 0
  let admitted = 0
  const result = async (raw: unknown): Promise<RecordResult> => {
    await new Promise(resolve => setImmediate(resolve))
    inFlight--
    const v = (raw as { v?: unknown }).v
    return v === 'bad' ? { ok: false, error: new ApiError(422, 42206, 'bad') } : { ok: true, report: { offset: v } }
  }
  const draining = (): boolean => opts.drainAfter !== undefined && admitted >= opts.drainAfter
  const end = produceFromStream(chunks(...parts), {
    maxObjectBytes: 1000,
    streaming: opts.streaming ?? false,
    window: opts.window ?? 100,
    handle: async (raw): Promise<Admission> => {
      singles++
      if (draining()) return { done: Promise.resolve({ ok: false, error: new ApiError(503, 50302, 'draining') }), last: true }
      if (opts.budget !== undefined && inFlight >= opts.budget) {
        const error = new ApiError(429, 42901, 'not admitted')
        return { done: Promise.resolve({ ok: false, error }), refused: error }
      }
      inFlight++
      admitted++
      maxInFlight = Math.max(maxInFlight, inFlight)
      return { done: result(raw) }
    },
    handleMany: async (raws) => {
      if (draining()) return { refused: new ApiError(503, 50302, 'draining') }
      if (opts.budget !== undefined && inFlight + raws.length > opts.budget) return { refused: new ApiError(429, 42901, 'not admitted') }
      groups.push(raws.length)
      inFlight += raws.length
      admitted += raws.length
      maxInFlight = Math.max(maxInFlight, inFlight)
      return { done: Promise.all(raws.map(result)) }
    },
    open: () => {},
    write: async (line) => { lines.push(line); writes.push(1) },
    writeMany: async (ls) => { lines.push(...ls); writes.push(ls.length) }
  })
  return { end, lines, groups, writes, singles: () => singles, maxInFlight: () => maxInFlight }
}

t.test('grouped: a chunk\'s records are admitted together and answered in one write, in order', async t => {
  const r = runGrouped(['{"v":1}{"v":"bad"}{"v":3}', '{"v":4}'], { streaming: true })
  t.same(await r.end, { mode: 'stream' })
  t.same(r.lines, [{ error_code: 200, offset: 1 }, { error_code: 42206, message: 'bad' }, { error_code: 200, offset: 3 }, { error_code: 200, offset: 4 }])
  t.same(r.groups, [3, 1], 'one admission per chunk')
  t.same(r.writes, [3, 1], 'one write per group')
  t.equal(r.singles(), 0, 'no record handled alone')
})

t.test('grouped: a lone first record of a body of known length is still a single record', async t => {
  const r = runGrouped(['{"v":1}'])
  t.same(await r.end, { mode: 'single', result: { ok: true, report: { offset: 1 } } })
  t.equal(r.singles(), 1)
  const two = runGrouped(['{"v":1}', '{"v":2}{"v":3}'])
  t.same(await two.end, { mode: 'stream' })
  t.same(two.lines.map(l => l.offset), [1, 2, 3], 'the first record\'s result first, then the group\'s')
})

t.test('grouped: a syntax error in a chunk ends the stream after the records before it', async t => {
  const r = runGrouped(['{"v":1}{"v":2}{"v": nope}{"v":4}'], { streaming: true })
  t.same(await r.end, { mode: 'stream' })
  t.equal(r.lines.length, 3)
  t.same(r.lines.slice(0, 2).map(l => l.offset), [1, 2])
  t.match(r.lines[2], { error_code: 400 })
})

t.test('grouped: the window bounds the records awaiting results, within a chunk too', async t => {
  const r = runGrouped([Array.from({ length: 50 }, (_, i) => `{"v":${i}}`).join('')], { streaming: true, window: 5 })
  await r.end
  t.same(r.lines.map(l => l.offset), Array.from({ length: 50 }, (_, i) => i))
  t.ok(r.maxInFlight() <= 5, `at most 5 at once (saw ${r.maxInFlight()})`)
  t.ok(r.groups.every(n => n <= 5), 'groups of at most the window')
})

t.test('grouped: a group the budget refuses waits for the stream\'s records, else goes one by one; order kept', async t => {
  const parts = Array.from({ length: 10 }, (_, i) => `{"v":${2 * i}}{"v":${2 * i + 1}}`)
  const r = runGrouped(parts, { streaming: true, budget: 3 })
  await r.end
  t.same(r.lines.map(l => l.offset), Array.from({ length: 20 }, (_, i) => i), 'every record written, in order')
  const lone = runGrouped(['{"v":1}{"v":2}{"v":3}'], { streaming: true, budget: 2 })
  await lone.end
  t.ok(lone.singles() > 0, 'a group refused with nothing of the stream in flight goes one by one')
  t.same(lone.lines.map(l => l.offset), [1, 2, 3], 'each record admitted alone, in order')
})

t.test('grouped: refused while draining, the stream ends with the first refused record\'s 503', async t => {
  const r = runGrouped(['{"v":1}{"v":2}', '{"v":3}{"v":4}'], { streaming: true, drainAfter: 2 })
  t.same(await r.end, { mode: 'stream' })
  t.same(r.lines, [{ error_code: 200, offset: 1 }, { error_code: 200, offset: 2 }, { error_code: 50302, message: 'draining' }])
})
