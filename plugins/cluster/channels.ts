/**
 * Diagnostics channels of the cluster plugin (node:diagnostics_channel): the metrics plugin subscribes to them by
 * name, so neither side imports the other. Publish only when `hasSubscribers`: building a message costs nothing
 * then. Plain module.
 */
import { channel } from 'node:diagnostics_channel'

/** One message per request this node forwarded (or meant to forward) to the node owning its consumer instance. */
export const FORWARD_CHANNEL = 'diaspora:cluster:forward'

export interface ForwardMessage {
  method: string
  /** The route template (`/api/v3/:namespace/consumers/...`), never the raw URL: no instance ids or tokens. */
  route: string
  /** The status this node answered the client with. */
  statusCode: number
  /** From the forwarding decision to the last byte of the answer (or the failure). */
  durationMs: number
  /** forwarded: the owner answered (whatever its status); owner-gone: answered 404/40403; error: 503 or cut. */
  outcome: 'forwarded' | 'owner-gone' | 'error'
}

export const forwardChannel = channel(FORWARD_CHANNEL)
