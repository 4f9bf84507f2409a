/**
 * The metrics fed through diagnostics channels: each publisher's events (consumer reads, commits and joins,
 * produce results, token introspections, forwarded requests) reach the metrics once subscribed, and nothing
 * does after unsubscribing (the channels then have no subscriber left, so publishing is a flag check).
 */
import t from 'tap'
import { channel } from 'node:diagnostics_channel'
import { ServiceMetrics } from '../../../plugins/metrics/metrics.js'
import { subscribeMetrics } from '../../../plugins/metrics/subscriptions.js'
import { FORWARD_CHANNEL, type ForwardMessage } from '../../../plugins/cluster/channels.js'
import { commitChannel, instanceEvents, joinChannel, readChannel } from '../../../plugins/consumers/channels.js'
import { failedChannel, produceEvents, sentChannel, writtenChannel } from '../../../plugins/producer/channels.js'
import { introspectionChannel, publishingIntrospector, type IntrospectionEvent } from '../../../plugins/auth/channels.js'
import type { IntrospectionDoc } from '../../../plugins/auth/introspection.js'

function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const forwardChannel = channel(FORWARD_CHANNEL)
const ALL = [
  readChannel, commitChannel, joinChannel, writtenChannel,
  failedChannel, sentChannel, introspectionChannel, forwardChannel
]

t.test('consumer, produce and introspection events reach the metrics while subscribed', async t => {
  const m = new ServiceMetrics({ defaultMetrics: false })
  const unsubscribe = subscribeMetrics(m)
  t.teardown(unsubscribe)
  t.ok(ALL.every(c => c.hasSubscribers), 'every channel has a subscriber')

  instanceEvents.join()
  instanceEvents.read(20, 0, 0)
  instanceEvents.read(1500, 3, 300)
  instanceEvents.commit(true)
  instanceEvents.commit(false)
  produceEvents.written(4, 1000)
  produceEvents.failed(42901)
  produceEvents.sent(0.002, 4)
  const doc = { active: true } as unknown as IntrospectionDoc
  const answered = publishingIntrospector(async () => doc)
  t.equal(await answered('token'), doc, 'the introspector answers as before')
  const failing = publishingIntrospector(async () => { throw new Error('unreachable') })
  await t.rejects(failing('token'), /unreachable/, 'and fails as before')

  const text = await m.render()
  t.equal(sample(text, 'diaspora_consumer_rebalances_total'), 1)
  t.equal(sample(text, 'diaspora_consumer_fetches_total{result="empty"}'), 1)
  t.equal(sample(text, 'diaspora_consumer_fetches_total{result="records"}'), 1)
  t.equal(sample(text, 'diaspora_consumer_records_served_total'), 3)
  t.equal(sample(text, 'diaspora_consumer_bytes_served_total'), 300)
  t.equal(sample(text, 'diaspora_consumer_fetch_duration_seconds_bucket{le="0.025"}'), 1, 'milliseconds become seconds')
  t.equal(sample(text, 'diaspora_consumer_fetch_duration_seconds_count'), 2)
  t.equal(sample(text, 'diaspora_consumer_commits_total'), 1)
  t.equal(sample(text, 'diaspora_consumer_commit_errors_total'), 1)
  t.equal(sample(text, 'diaspora_produce_records_total'), 4)
  t.equal(sample(text, 'diaspora_produce_bytes_total'), 1000)
  t.equal(sample(text, 'diaspora_produce_errors_total{error_code="42901"}'), 1)
  t.equal(sample(text, 'diaspora_produce_send_duration_seconds_bucket{le="0.0025"}'), 1, 'seconds survive the trip through milliseconds')
  t.equal(sample(text, 'diaspora_auth_introspection_duration_seconds_count{outcome="answered"}'), 1)
  t.equal(sample(text, 'diaspora_auth_introspection_duration_seconds_count{outcome="failed"}'), 1)
})

t.test('a forwarded request published on diaspora:cluster:forward is counted by outcome and status', async t => {
  const m = new ServiceMetrics({ defaultMetrics: false })
  const unsubscribe = subscribeMetrics(m)
  t.teardown(unsubscribe)
  const events: ForwardMessage[] = [
    { method: 'GET', route: '/api/v3/:namespace/consumers/:group/instances/:instance/records', statusCode: 200, durationMs: 1200, outcome: 'forwarded' },
    { method: 'GET', route: '/api/v3/:namespace/consumers/:group/instances/:instance/records', statusCode: 200, durationMs: 3, outcome: 'forwarded' },
    { method: 'DELETE', route: '/api/v3/:namespace/consumers/:group/instances/:instance', statusCode: 404, durationMs: 2, outcome: 'owner-gone' },
    { method: 'POST', route: '/api/v3/:namespace/consumers/:group/instances/:instance/offsets', statusCode: 503, durationMs: 2000, outcome: 'error' }
  ]
  for (const e of events) forwardChannel.publish(e)
  const text = await m.render()
  t.match(text, /^# TYPE diaspora_forwarded_requests_total counter$/m)
  t.match(text, /^# TYPE diaspora_forward_duration_seconds histogram$/m)
  t.equal(sample(text, 'diaspora_forwarded_requests_total{outcome="forwarded",status="200"}'), 2)
  t.equal(sample(text, 'diaspora_forwarded_requests_total{outcome="owner-gone",status="404"}'), 1)
  t.equal(sample(text, 'diaspora_forwarded_requests_total{outcome="error",status="503"}'), 1)
  t.equal(sample(text, 'diaspora_forward_duration_seconds_count'), 4)
  t.equal(sample(text, 'diaspora_forward_duration_seconds_bucket{le="0.005"}'), 2, 'milliseconds become seconds')
  t.equal(sample(text, 'diaspora_forward_duration_seconds_sum'), 3.205)
})

t.test('after unsubscribing, nothing is counted and no channel has a subscriber', async t => {
  const m = new ServiceMetrics({ defaultMetrics: false })
  const unsubscribe = subscribeMetrics(m)
  instanceEvents.commit(true)
  unsubscribe()
  t.notOk(ALL.some(c => c.hasSubscribers), 'no subscriber left')
  instanceEvents.commit(true)
  instanceEvents.join()
  produceEvents.written(1, 1)
  forwardChannel.publish({ method: 'GET', route: '/x', statusCode: 200, durationMs: 1, outcome: 'forwarded' } satisfies ForwardMessage)
  const text = await m.render()
  t.equal(sample(text, 'diaspora_consumer_commits_total'), 1, 'only the commit published while subscribed')
  t.equal(sample(text, 'diaspora_consumer_rebalances_total'), 0)
  t.equal(sample(text, 'diaspora_produce_records_total'), 0)
  t.equal(sample(text, 'diaspora_forwarded_requests_total{outcome="forwarded",status="200"}'), undefined)
})

t.test('an introspection publishes its duration and outcome only while someone listens', async t => {
  const seen: IntrospectionEvent[] = []
  const listener = (message: unknown): void => { seen.push(message as IntrospectionEvent) }
  const introspect = publishingIntrospector(async () => ({ active: false }) as unknown as IntrospectionDoc)
  await introspect('a')
  introspectionChannel.subscribe(listener)
  await introspect('b')
  introspectionChannel.unsubscribe(listener)
  await introspect('c')
  t.equal(seen.length, 1)
  t.equal(seen[0]?.outcome, 'answered', 'an inactive token is still an answered call')
  t.ok((seen[0]?.durationMs ?? -1) >= 0)
})
