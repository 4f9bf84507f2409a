/**
 * Scenario 5, auth. (a) 1,000 concurrent requests over 1,000 connections with one fresh token: the Globus
 * stand-in counts the introspection calls it receives (target: exactly 1). The stand-in holds its answer for
 * 200 ms, like a real round trip to Globus, so every request arrives while the introspection is in flight.
 * (b) The cost of a cached token: fastify.authenticate (the real onRequest hook) timed in the server process
 * on a request object, against an empty async hook timed the same way (the floor).
 */
import { randomUUID } from 'node:crypto'
import { fakeGlobusToken, DIASPORA_SDK_CLIENT } from '../../test/helpers/globus.js'
import { BenchUser, HttpClient } from '../lib/http.js'
import { log, type BenchContext } from '../lib/context.js'
import { fmt, fmtSpread, spread } from '../lib/stats.js'
import type { AuthStats } from '../../plugins/auth/service.js'
import type { AuthMicro } from '../lib/protocol.js'
import type { ScenarioResult, Target } from '../lib/result.js'

const CONCURRENT = 1000
const INTROSPECTION_DELAY_MS = 200

/** A fresh active token for `subject` whose introspection answer the stand-in delays. */
function slowToken (ctx: BenchContext, subject: string): string {
  const token = fakeGlobusToken()
  const now = Math.floor(Date.now() / 1000)
  ctx.globus.setToken(token, {
    fault: 'delay',
    ms: INTROSPECTION_DELAY_MS,
    doc: {
      active: true,
      token_type: 'Bearer',
      scope: ctx.globus.scope,
      client_id: DIASPORA_SDK_CLIENT,
      sub: subject,
      username: `bench-${subject.slice(0, 8)}@example.edu`,
      aud: [ctx.globus.clientId],
      iss: 'https://auth.globus.org',
      exp: now + 3600,
      iat: now,
      nbf: now
    }
  })
  return token
}

export async function runAuth (ctx: BenchContext): Promise<ScenarioResult> {
  const started = new Date()
  const t0 = performance.now()
  const reps = ctx.opts.reps
  const user = await BenchUser.create(() => ctx.client, ctx.globus)
  const path = `/api/v3/${await user.consumer(`g${randomUUID().slice(0, 8)}`)}/assignments`

  const flights: Array<{ introspections: number, coalesced: number, ok: number, ms: number }> = []
  for (let rep = 0; rep < reps; rep++) {
    const token = slowToken(ctx, user.subject)
    const client = new HttpClient(ctx.server.url as string, { maxSockets: CONCURRENT })
    try {
      // Open the connections first, so the burst is 1,000 requests on 1,000 ready sockets.
      await Promise.all(Array.from({ length: CONCURRENT }, () => client.request('GET', '/health')))
      const before = await ctx.server.call<AuthStats>({ cmd: 'auth.stats' })
      const callsBefore = ctx.globus.calls
      const s = performance.now()
      const res = await Promise.all(Array.from({ length: CONCURRENT }, () => client.request('GET', path, { headers: { authorization: `Bearer ${token}` } })))
      const ms = performance.now() - s
      const after = await ctx.server.call<AuthStats>({ cmd: 'auth.stats' })
      const flight = {
        introspections: ctx.globus.calls - callsBefore,
        coalesced: after.coalesced - before.coalesced,
        ok: res.filter(r => r.status === 200).length,
        ms
      }
      flights.push(flight)
      log(`auth: rep ${rep + 1}/${reps}: ${flight.ok}/${CONCURRENT} answered 200, ${flight.introspections} introspection call(s), ${flight.coalesced} coalesced, ${Math.round(ms)} ms`)
    } finally {
      client.close()
    }
  }

  const micro: AuthMicro[] = []
  const iterations = ctx.opts.quick ? 50_000 : 200_000
  for (let rep = 0; rep < Math.max(3, reps); rep++) {
    micro.push(await ctx.server.call<AuthMicro>({ cmd: 'auth.micro', token: user.token, iterations }))
  }
  const hook = spread(micro.map(m => m.authenticateUs))
  const floor = spread(micro.map(m => m.noopUs))
  const net = spread(micro.map(m => m.authenticateUs - m.noopUs))
  const hash = spread(micro.map(m => m.hashUs))
  const intro = spread(flights.map(f => f.introspections))
  const allOne = flights.every(f => f.introspections === 1 && f.ok === CONCURRENT)
  const targets: Target[] = [
    { name: `auth: introspection calls for ${CONCURRENT.toLocaleString('en-US')} concurrent requests with one fresh token`, goal: 'exactly 1', measured: `${flights.map(f => f.introspections).join(', ')} (per run)`, pass: allOne },
    // "a few microseconds": read as at most 5 µs for the whole hook on a cache hit.
    { name: 'auth: cached token, cost of the auth hook per request', goal: '≤ 5 µs ("a few")', measured: `${fmtSpread(hook, 3, ' µs')}`, pass: hook.median <= 5 }
  ]
  return {
    id: 'auth',
    title: 'Auth',
    startedAt: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    settings: { concurrent: CONCURRENT, introspectionDelayMs: INTROSPECTION_DELAY_MS, route: 'GET …/assignments', microIterations: iterations, reps },
    tables: [
      {
        title: `Auth single flight (${CONCURRENT.toLocaleString('en-US')} concurrent requests, one fresh token, stand-in answers after ${INTROSPECTION_DELAY_MS} ms)`,
        headers: ['run', 'answered 200', 'introspection calls (stand-in)', 'coalesced (service)', 'wall time ms'],
        rows: flights.map((f, i) => [String(i + 1), `${f.ok}/${CONCURRENT}`, String(f.introspections), String(f.coalesced), fmt(f.ms)])
      },
      {
        title: 'Cached token cost per request (server process, µs per awaited call)',
        headers: ['what', 'µs per request', '× floor'],
        rows: [
          ['empty async hook (floor, baseline)', fmtSpread(floor), '1'],
          ['fastify.authenticate, cached token', fmtSpread(hook), fmt(hook.median / floor.median, 2)],
          ['  of which above the floor', fmtSpread(net), '–'],
          ['  SHA-256 of the token (cache key)', fmtSpread(hash), '–']
        ]
      }
    ],
    targets,
    data: { flights, introspections: intro, hookUs: hook, floorUs: floor, netUs: net, hashUs: hash },
    notes: []
  }
}
