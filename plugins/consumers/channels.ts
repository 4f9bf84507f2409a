/**
 * What the consumer engine publishes on `node:diagnostics_channel` (the metrics plugin subscribes; nothing here
 * knows who listens). Channels are process-wide, as Node's own are. `instanceEvents` is the instances'
 * observer (InstanceDeps.observer): each call costs one `hasSubscribers` check while nobody listens, so it
 * can sit on the read path. Plain module: no Fastify.
 */
import { channel } from 'node:diagnostics_channel'

/** A read (GET records, long poll) was answered. */
export const CONSUMERS_READ = 'diaspora:consumers:read'
/** A commit reached Kafka (explicit, commit-all, auto or final), successfully or not. */
export const CONSUMERS_COMMIT = 'diaspora:consumers:commit'
/** An instance's Kafka consumer joined its group (GROUP_JOIN: a new assignment after a rebalance). */
export const CONSUMERS_JOIN = 'diaspora:consumers:join'

export interface ReadEvent {
  /** How long the read waited, long poll included. */
  durationMs: number
  records: number
  /** Key + value bytes of the records returned. */
  bytes: number
}
export interface CommitEvent { ok: boolean }
export type JoinEvent = Record<string, never>

export const readChannel = channel(CONSUMERS_READ)
export const commitChannel = channel(CONSUMERS_COMMIT)
export const joinChannel = channel(CONSUMERS_JOIN)

const JOINED: JoinEvent = Object.freeze({})

/** The observer every consumer instance calls (the consumers plugin passes it in InstanceDeps). */
export const instanceEvents = {
  read (ms: number, records: number, bytes: number): void {
    if (readChannel.hasSubscribers) readChannel.publish({ durationMs: ms, records, bytes } satisfies ReadEvent)
  },
  commit (ok: boolean): void {
    if (commitChannel.hasSubscribers) commitChannel.publish({ ok } satisfies CommitEvent)
  },
  join (): void {
    if (joinChannel.hasSubscribers) joinChannel.publish(JOINED)
  }
}
