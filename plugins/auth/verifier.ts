/**
 * Decides whether an introspection document grants access (shared/docs/globus-token-introspection.md §1,
 * §6, §7, §8.3). Plain module. Checks, in order:
 *   active === true (JSON true only) → exp (→ nbf) → aud contains our client id (string or list) →
 *   required scope in the whitespace-split scope set (never a substring test) → token_type, when present,
 *   is bearer / access_token (any case).
 * The subject header is compared by the caller on every request, cache hit or not (subjectMatches in
 * header.ts); the expiry is re-checked on every cache hit (assertNotExpired).
 */
import { AuthErrors } from './errors.js'
import { canonicalSubject } from './header.js'
import type { IntrospectionDoc } from './introspection.js'

export interface Principal {
  /** Effective Globus identity id (`sub`), lower-case canonical. */
  subject: string
  username?: string
  /** Token expiry, epoch ms. */
  expiresAt: number
}

export interface VerifyPolicy {
  /** SERVER_CLIENT_ID: must be in `aud`. */
  clientId: string
  /** requiredScope(config): must be in `scope`. */
  requiredScope: string
  /** How far in the future `nbf` may be before the token is refused (clock skew). Default 60 s. */
  nbfSkewMs?: number
}

export const DEFAULT_NBF_SKEW_MS = 60_000
const ACCEPTED_TOKEN_TYPES = new Set(['bearer', 'access_token'])

const isEpochSeconds = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** The Principal a document grants, or the §6 ApiError explaining why not. `now` is epoch ms. */
export function verifyIntrospection (doc: IntrospectionDoc, policy: VerifyPolicy, now: number): Principal {
  if (doc.active !== true) throw AuthErrors.inactive()

  // An active token without an expiry is not a Globus answer we can act on (we would have nothing to cap
  // the cache at): a bad response (502), not a user error.
  if (!isEpochSeconds(doc.exp)) throw AuthErrors.badResponse()
  const expiresAt = doc.exp * 1000
  if (now >= expiresAt) throw AuthErrors.expired()
  if (isEpochSeconds(doc.nbf) && doc.nbf * 1000 > now + (policy.nbfSkewMs ?? DEFAULT_NBF_SKEW_MS)) {
    throw AuthErrors.notYetValid()
  }

  if (!audienceIncludes(doc.aud, policy.clientId)) throw AuthErrors.wrongAudience()
  if (!scopeIncludes(doc.scope, policy.requiredScope)) throw AuthErrors.insufficientScope(policy.requiredScope)
  if (doc.token_type !== undefined && doc.token_type !== null &&
      !(typeof doc.token_type === 'string' && ACCEPTED_TOKEN_TYPES.has(doc.token_type.toLowerCase()))) {
    throw AuthErrors.wrongTokenType()
  }

  // Same for an active token without a subject: never invent an identity.
  if (typeof doc.sub !== 'string' || doc.sub === '') throw AuthErrors.badResponse()
  const principal: Principal = { subject: canonicalSubject(doc.sub), expiresAt }
  if (typeof doc.username === 'string' && doc.username !== '') principal.username = doc.username
  // Frozen: the same object is served from the cache to every request carrying this token.
  return Object.freeze(principal)
}

/** `aud` may be a list or (RFC 7662) a single string; null, absent or other types contain nothing. */
export function audienceIncludes (aud: unknown, clientId: string): boolean {
  if (typeof aud === 'string') return aud === clientId
  return Array.isArray(aud) && aud.includes(clientId)
}

/** Set membership over the whitespace-split scope string. */
export function scopeIncludes (scope: unknown, required: string): boolean {
  if (typeof scope !== 'string') return false
  return scope.split(/\s+/).includes(required)
}

/** Re-check of `exp` on a cache hit (§6 row 6). */
export function assertNotExpired (principal: Principal, now: number): void {
  if (now >= principal.expiresAt) throw AuthErrors.expired()
}
