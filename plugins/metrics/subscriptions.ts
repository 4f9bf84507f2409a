/**
 * The metrics subscribe to what the other plugins publish on `node:diagnostics_channel`: the observer depends
 * on what it observes, never the reverse (the publishers declare their channels beside them, in channels.ts,
 * and do not know the metrics exist). Channels are process-wide: with several apps in one process (tests), an
 * app's metrics count every app's events. Plain module: no Fastify.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { AUTH_INTROSPECTION, type IntrospectionEvent } from '../auth/channels.js'
import { CONSUMERS_COMMIT, CONSUMERS_JOIN, CONSUMERS_READ, type CommitEvent, type ReadEvent } from '../consumers/channels.js'
import { PRODUCER_FAILED, PRODUCER_SENT, PRODUCER_WRITTEN, type FailedEvent, type SentEvent, type WrittenEvent } from '../producer/channels.js'
import { FORWARD_CHANNEL, type ForwardMessage } from '../cluster/channels.js'
import type { ServiceMetrics } from './metrics.js'

/** Subscribe `metrics` to every channel it counts; returns the function that unsubscribes them all. */
export function subscribeMetrics (metrics: ServiceMetrics): () => void {
  const handlers: Record<string, (message: unknown) => void> = {
    [CONSUMERS_READ]: (m) => {
      const e = m as ReadEvent
      metrics.consumerObserver.read(e.durationMs, e.records, e.bytes)
    },
    [CONSUMERS_COMMIT]: (m) => { metrics.consumerObserver.commit((m as CommitEvent).ok) },
    [CONSUMERS_JOIN]: () => { metrics.consumerObserver.join() },
    [PRODUCER_WRITTEN]: (m) => { const e = m as WrittenEvent; metrics.producerObserver.written(e.records, e.bytes) },
    [PRODUCER_FAILED]: (m) => { metrics.producerObserver.failed((m as FailedEvent).errorCode) },
    [PRODUCER_SENT]: (m) => { const e = m as SentEvent; metrics.producerObserver.sent(e.durationMs / 1000, e.records) },
    [AUTH_INTROSPECTION]: (m) => {
      const e = m as IntrospectionEvent
      metrics.introspectionObserver(e.durationMs / 1000, e.outcome)
    },
    [FORWARD_CHANNEL]: (m) => {
      const e = m as ForwardMessage
      metrics.forwardedRequest(e.outcome, e.statusCode, e.durationMs / 1000)
    }
  }
  for (const [name, handler] of Object.entries(handlers)) subscribe(name, handler)
  return () => {
    for (const [name, handler] of Object.entries(handlers)) unsubscribe(name, handler)
  }
}
