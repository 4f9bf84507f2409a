/**
 * Answers rendered into pooled buffers, over real sockets: a buffer must not be reused while its answer is still
 * being written. One client stops reading in the middle of multi-megabyte answers (more than the loopback socket
 * buffers hold, so the server's write waits on it) while two others keep reading theirs; every record each of them
 * gets must be the bytes that were produced.
 */
import t from 'tap'
import http from 'node:http'
import { build } from '../helpers/app.js'
import { apiUser, producer, shortName, BINARY } from '../helpers/api.js'
import { sleep } from '../helpers/wait.js'

const { app, globus, url } = await build(t, { listen: true })
const alice = await apiUser(app, globus)
const prod = await producer(t)
const COUNT = 1200
const SIZE = 16384
const valueOf = (i: number): Buffer => Buffer.concat([Buffer.from(`${i}:`), Buffer.alloc(SIZE - String(i).length - 1, i % 251)])

const topic = await alice.topic(1)
for (let from = 0; from < COUNT; from += 40) {
  await prod.send({ topic: `${alice.ns}.${topic}`, messages: Array.from({ length: 40 }, (_, k) => ({ value: valueOf(from + k) })) })
}

interface Answer { status: number, records: Array<{ offset: number, value: string }> }

/** One GET records over a real socket; a slow reader waits `stallMs` after the headers before reading the body. */
function get (path: string, stallMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/api/v3/${path}/records?timeout=2000&max_bytes=${64 * 1048576}`, { headers: { authorization: `Bearer ${alice.token}`, accept: BINARY }, agent: false }, res => {
      const chunks: Buffer[] = []
      res.pause()
      setTimeout(() => {
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, records: JSON.parse(Buffer.concat(chunks).toString()) as Answer['records'] })
          } catch (err) { reject(err instanceof Error ? err : new Error(String(err))) }
        })
        res.resume()
      }, stallMs)
    })
    req.on('error', reject)
  })
}

/**
 * Reads until every record arrived; returns the offsets whose value was not the produced bytes, and the biggest
 * answer.
 */
async function drain (
  path: string,
  stallMs: number,
  first: Answer
): Promise<{ wrong: number[], seen: number, largest: number }> {
  const wrong: number[] = []
  let seen = 0
  let largest = 0
  for (let reads = 0; seen < COUNT && reads < 200; reads++) {
    const answer = reads === 0 ? first : await get(path, stallMs)
    if (answer.status !== 200) throw new Error(`GET records: ${answer.status}`)
    largest = Math.max(largest, answer.records.length)
    for (const r of answer.records) {
      if (!Buffer.from(r.value, 'base64').equals(valueOf(r.offset))) wrong.push(r.offset)
      seen++
    }
  }
  return { wrong, seen, largest }
}

t.test('a slow reader\'s answer is not overwritten by the answers rendered meanwhile', async t => {
  const paths = await Promise.all([0, 1, 2].map(() => alice.subscriber(shortName('g'), [topic])))
  // The first read starts each consumer; then each fills its buffer (8 MiB by default), so that answers are
  // several megabytes each.
  const first = await Promise.all(paths.map(p => get(p, 0)))
  await sleep(3000)
  const drainAt = (i: number, stall: number): ReturnType<typeof drain> =>
    drain(paths[i] as string, stall, first[i] as Answer)
  // A tuple, so that each of the three is known to be there.
  const [slow, fast1, fast2] = await Promise.all([drainAt(0, 400), drainAt(1, 0), drainAt(2, 0)])
  for (const [name, r] of [['slow', slow], ['fast 1', fast1], ['fast 2', fast2]] as const) {
    t.equal(r.seen, COUNT, `${name}: every record`)
    t.same(r.wrong, [], `${name}: every value the bytes produced`)
  }
  t.ok(slow.largest * SIZE * 4 / 3 > 8 * 1048576, `the slow reader's answers were large (${slow.largest} records): more than the socket buffers hold`)
  t.ok(app.consumers.answers.stats.reused > 0, `answer buffers were reused (${app.consumers.answers.stats.reused} of ${app.consumers.answers.stats.acquired})`)
})
