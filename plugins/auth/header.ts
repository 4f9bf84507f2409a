/**
 * Request header parsing (shared/docs/globus-token-introspection.md §2). Plain module.
 *
 * Authorization: strict on the structure (RFC 7235/6750: scheme, one or more spaces, exactly one token68),
 * loose on the token itself: ASCII `[A-Za-z0-9-._~+/]+=*`, 1–4096 characters. Whether the token is valid
 * is introspection's call; this only rejects junk cheaply, before any network call.
 *
 * subject: optional; when present it must be a UUID. Forms Python's uuid.UUID accepts (upper case, braces,
 * `urn:uuid:`, no hyphens) are canonicalised to the lower-case hyphenated form Globus uses for `sub`, so
 * comparisons are canonical rather than raw string equality.
 */
import { AuthErrors } from './errors.js'

export const MAX_TOKEN_LENGTH = 4096
const TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/
const SPACES_THEN_TOKEN = /^ +([^\s]+)$/

/**
 * The bearer token of an Authorization header value, or an ApiError thrown for §6 rows 1–3.
 * A missing or empty header is "no credentials" (row 1); another scheme is row 2; anything else wrong
 * with a Bearer credential (empty, several parts, bad characters, too long) is row 3.
 */
export function parseAuthorization (value: string | string[] | undefined): string {
  if (Array.isArray(value)) throw AuthErrors.malformedToken()
  // HTTP parsers strip surrounding whitespace already; inject() does not, so strip it here too.
  value = value?.trim()
  if (value === undefined || value === '') throw AuthErrors.missingToken()
  const cut = value.search(/\s/)
  const scheme = cut === -1 ? value : value.slice(0, cut)
  if (scheme.toLowerCase() !== 'bearer') throw AuthErrors.invalidScheme()
  const m = cut === -1 ? null : SPACES_THEN_TOKEN.exec(value.slice(cut))
  const token = m?.[1]
  if (token === undefined || token.length > MAX_TOKEN_LENGTH || !TOKEN_RE.test(token)) throw AuthErrors.malformedToken()
  return token
}

const HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const BARE = /^[0-9a-f]{32}$/

/** Canonical lower-case hyphenated form of a UUID string, or undefined when it is not one. */
export function canonicalUuid (value: string): string | undefined {
  let v = value.trim().toLowerCase()
  if (v.startsWith('urn:uuid:')) v = v.slice(9)
  if (v.startsWith('{') && v.endsWith('}')) v = v.slice(1, -1)
  if (HYPHENATED.test(v)) return v
  if (BARE.test(v)) return `${v.slice(0, 8)}-${v.slice(8, 12)}-${v.slice(12, 16)}-${v.slice(16, 20)}-${v.slice(20)}`
  return undefined
}

/**
 * The canonical subject named by the `subject` header, undefined when the header is absent (not an error:
 * the introspected `sub` is used), or a 400 INVALID_SUBJECT (§6 row 4) when it is present but not a UUID.
 */
export function parseSubject (value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined
  const canonical = typeof value === 'string' ? canonicalUuid(value) : undefined
  if (canonical === undefined) throw AuthErrors.invalidSubject()
  return canonical
}

/** Canonical form of an introspected `sub` (lower case; hyphenated when it is a UUID). */
export function canonicalSubject (sub: string): string {
  return canonicalUuid(sub) ?? sub.toLowerCase()
}

/** Does the (already canonical) subject header name the principal's subject? */
export function subjectMatches (headerSubject: string, principalSubject: string): boolean {
  return headerSubject === canonicalSubject(principalSubject)
}
