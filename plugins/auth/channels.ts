/**
 * What the auth plugin publishes on `node:diagnostics_channel` (the metrics plugin subscribes; nothing here
 * knows who listens). Channels are process-wide, as Node's own are. Plain module: no Fastify.
 */
import { channel } from 'node:diagnostics_channel'
import type { Introspector } from './introspection.js'

/** One Globus token introspection call ended. */
export const AUTH_INTROSPECTION = 'diaspora:auth:introspection'

export interface IntrospectionEvent {
  durationMs: number
  /** answered: Globus returned a document (active or not); failed: timeout, unreachable, 5xx, garbage. */
  outcome: 'answered' | 'failed'
}

export const introspectionChannel = channel(AUTH_INTROSPECTION)

/** `introspect`, publishing the duration and outcome of each call while anyone subscribes. */
export function publishingIntrospector (introspect: Introspector): Introspector {
  return async (token) => {
    const started = performance.now()
    let outcome: IntrospectionEvent['outcome'] = 'failed'
    try {
      const doc = await introspect(token)
      outcome = 'answered'
      return doc
    } finally {
      if (introspectionChannel.hasSubscribers) {
        const event: IntrospectionEvent = { durationMs: performance.now() - started, outcome }
        introspectionChannel.publish(event)
      }
    }
  }
}
