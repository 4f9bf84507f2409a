/**
 * What the produce engine publishes on `node:diagnostics_channel` (the metrics plugin subscribes; nothing here
 * knows who listens). Channels are process-wide, as Node's own are. `produceEvents` is the engine's observer
 * (ProduceEngine.observe): each call costs one `hasSubscribers` check while nobody listens. Plain module.
 */
import { channel } from 'node:diagnostics_channel'

/** Records were written and acknowledged by every in-sync replica. */
export const PRODUCER_WRITTEN = 'diaspora:producer:written'
/** A record was not written. */
export const PRODUCER_FAILED = 'diaspora:producer:failed'
/** One Kafka produce request (a flush of queued records) was answered. */
export const PRODUCER_SENT = 'diaspora:producer:sent'

export interface WrittenEvent {
  records: number
  /** Key + value + header bytes. */
  bytes: number
}
export interface FailedEvent {
  /** 42901 not admitted, 50302 Kafka unreachable, 50003 outcome unknown, 4xxxx bad input. */
  errorCode: number
}
export interface SentEvent { durationMs: number, records: number }

export const writtenChannel = channel(PRODUCER_WRITTEN)
export const failedChannel = channel(PRODUCER_FAILED)
export const sentChannel = channel(PRODUCER_SENT)

/** The produce engine's observer (the producer plugin passes it to ProduceEngine.observe). */
export const produceEvents = {
  written (records: number, bytes: number): void {
    if (writtenChannel.hasSubscribers) writtenChannel.publish({ records, bytes } satisfies WrittenEvent)
  },
  failed (errorCode: number): void {
    if (failedChannel.hasSubscribers) failedChannel.publish({ errorCode } satisfies FailedEvent)
  },
  sent (seconds: number, records: number): void {
    if (sentChannel.hasSubscribers) sentChannel.publish({ durationMs: seconds * 1000, records } satisfies SentEvent)
  }
}
