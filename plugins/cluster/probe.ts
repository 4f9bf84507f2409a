/**
 * Asks another node whether it holds a consumer instance, before a name it may hold is taken over (claims.ts):
 * a GET of the instance's subscription with the creating user's token, signed as a forwarded request (the node
 * authenticates the token and applies its ownership checks as for any request). 200: held; 404: free (the
 * node, having re-read the claim, holds no such instance); refused or unreachable: the node is gone. Plain
 * module (fetch).
 */
import { signHop } from './hop-auth.js'
import type { KeyObject } from 'node:crypto'
import type { ClaimContext, InstanceRef, ProbeResult } from './claims.js'

const GONE: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])

export interface ProbeOptions {
  secret: string | KeyObject
  self: string
  timeoutMs: number
}

/** The instance's subscription path under the create request's path (`…/consumers/{group}`, same family). */
export function probePath (createUrl: string, ref: InstanceRef): string {
  const path = createUrl.split('?')[0]?.replace(/\/+$/, '') ?? ''
  return `${path}/instances/${encodeURIComponent(ref.name)}/subscription`
}

export async function probeInstance (
  opts: ProbeOptions, node: string, nodeUrl: string, ref: InstanceRef, ctx: ClaimContext | undefined
): Promise<ProbeResult> {
  if (ctx === undefined) return 'unknown'
  const path = probePath(ctx.url, ref)
  const hop = signHop(opts.secret, { method: 'GET', url: path, authorization: ctx.authorization }, opts.self, node)
  try {
    const res = await fetch(`${nodeUrl}${path}`, {
      headers: { ...(ctx.authorization !== undefined ? { authorization: ctx.authorization } : {}), ...hop },
      signal: AbortSignal.timeout(opts.timeoutMs)
    })
    await res.arrayBuffer().catch(() => {})
    if (res.status === 200) return 'held'
    if (res.status === 404) return 'free'
    return 'unknown'
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code
    return typeof code === 'string' && GONE.has(code) ? 'unreachable' : 'unknown'
  }
}
