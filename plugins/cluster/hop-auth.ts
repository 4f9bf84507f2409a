/**
 * Authentication of the hop between nodes: the forwarding node signs the request with an HMAC-SHA256 of
 * NODE_SECRET over the method, the path with its query, the time, both node ids and a hash of the
 * Authorization header; the owner checks it before it serves the request as forwarded. The signature only
 * says "a node sent this": the owner still authenticates the user's token itself, and a request that carries
 * forwarding headers without a valid signature is refused. The body is not signed (it streams through
 * unbuffered); the owner checks it as it would any body. Plain module.
 */
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'

export const FORWARDED_BY = 'x-diaspora-forwarded-by'
export const FORWARD_TIME = 'x-diaspora-forward-time'
export const FORWARD_SIGNATURE = 'x-diaspora-forward-signature'
/** How far a signature's time may be from the owner's clock (the hop itself takes well under a second). */
export const FORWARD_MAX_SKEW_MS = 30_000

export interface HopRequest {
  method: string
  /** Path and query, as sent on the request line. */
  url: string
  authorization: string | undefined
}

/** NODE_SECRET as a key object, made once: createHmac then skips preparing the key on every request. */
export function hopKey (secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'))
}

function digest (secret: string | KeyObject, req: HopRequest, time: string, from: string, to: string): Buffer {
  const auth = createHash('sha256').update(req.authorization ?? '').digest('base64url')
  return createHmac('sha256', secret).update([req.method.toUpperCase(), req.url, time, from, to, auth].join('\n')).digest()
}

/** The headers the forwarding node `from` adds to a request for the node `to`. */
export function signHop (
  secret: string | KeyObject, req: HopRequest, from: string, to: string, now = Date.now()
): Record<string, string> {
  const time = String(now)
  return { [FORWARDED_BY]: from, [FORWARD_TIME]: time, [FORWARD_SIGNATURE]: digest(secret, req, time, from, to).toString('base64url') }
}

export type HopCheck = { forwarded: false } | { forwarded: true, from: string } | { forwarded: 'refused', reason: string }

/** Does the request carry forwarding headers, and if so, were they signed by a node for this node (`self`)? */
export function checkHop (
  secret: string | KeyObject, req: HopRequest, headers: Record<string, string | string[] | undefined>, self: string,
  now = Date.now()
): HopCheck {
  const from = headers[FORWARDED_BY]
  const time = headers[FORWARD_TIME]
  const sig = headers[FORWARD_SIGNATURE]
  if (from === undefined && time === undefined && sig === undefined) return { forwarded: false }
  if (typeof from !== 'string' || typeof time !== 'string' || typeof sig !== 'string') return { forwarded: 'refused', reason: 'incomplete forwarding headers' }
  const at = Number(time)
  if (!/^\d{1,16}$/.test(time) || Math.abs(now - at) > FORWARD_MAX_SKEW_MS) return { forwarded: 'refused', reason: 'forwarding time out of range' }
  const expected = digest(secret, req, time, from, self)
  const given = Buffer.from(sig, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { forwarded: 'refused', reason: 'bad forwarding signature' }
  return { forwarded: true, from }
}
