/**
 * The auth failures of shared/docs/globus-token-introspection.md §6, one factory per row. Plain module.
 * The root error handler renders them in the route family's shape (consumer: `{error_code, message}`,
 * management: `{status, code, message, reason}`) and sends `headers` as is. No factory ever takes the token,
 * so no error body, header or log line can echo it.
 */
import { ApiError } from '../errors/errors.js'

export const REALM = 'Bearer realm="diaspora"'
/** Retry-After sent when Globus gave none (or gave an unusable one). */
export const DEFAULT_RETRY_AFTER_S = 5

function challenge (error?: 'invalid_token' | 'invalid_request'): Record<string, string> {
  return { 'www-authenticate': error ? `${REALM}, error="${error}"` : REALM }
}

const unauthorized = (code: string, message: string, error?: 'invalid_token' | 'invalid_request') =>
  new ApiError(401, 40101, message, { code, headers: challenge(error) })

/** Accept only delta-seconds or an HTTP-date from upstream; anything else becomes our default. */
export function retryAfterValue (upstream?: string | null): string {
  if (upstream) {
    const v = upstream.trim()
    if (/^\d{1,7}$/.test(v)) return v
    if (/^[\x20-\x7e]{1,64}$/.test(v) && /[a-z]/i.test(v) && !Number.isNaN(Date.parse(v))) return v
  }
  return String(DEFAULT_RETRY_AFTER_S)
}

export const AuthErrors = {
  /** #1 */
  missingToken: () => unauthorized('MISSING_TOKEN', 'Authorization header is required'),
  /** #2 */
  invalidScheme: () => unauthorized('INVALID_AUTH_SCHEME', 'Authorization must use the Bearer scheme', 'invalid_request'),
  /** #3 */
  malformedToken: () => unauthorized('MALFORMED_TOKEN', 'Bearer token is malformed', 'invalid_token'),
  /** #4 */
  invalidSubject: () => new ApiError(400, 400, 'subject header must be a UUID', { code: 'INVALID_SUBJECT' }),
  /** #5 */
  inactive: () => unauthorized('TOKEN_INACTIVE', 'Token is invalid, expired, or revoked', 'invalid_token'),
  /** #6 */
  expired: () => unauthorized('TOKEN_EXPIRED', 'Token has expired', 'invalid_token'),
  /** §7: `nbf` more than the allowed skew in the future (reported like an expiry problem: a 401 invalid_token). */
  notYetValid: () => unauthorized('TOKEN_NOT_YET_VALID', 'Token is not valid yet', 'invalid_token'),
  /** §7: a token_type other than bearer/access_token (e.g. a refresh token). */
  wrongTokenType: () => unauthorized('WRONG_TOKEN_TYPE', 'Token is not an access token', 'invalid_token'),
  /** #7 */
  subjectMismatch: () => new ApiError(403, 40301, 'Token does not belong to the given subject', { code: 'SUBJECT_MISMATCH' }),
  /** #8: decisions.md rules over the introspection notes here: a valid token for another audience is 403. */
  wrongAudience: () => new ApiError(403, 40301, 'Token was not issued for this service', { code: 'WRONG_AUDIENCE' }),
  /** #9 */
  insufficientScope: (scope: string) => new ApiError(403, 40301, 'Token lacks the required scope', {
    code: 'INSUFFICIENT_SCOPE',
    headers: { 'www-authenticate': `${REALM}, error="insufficient_scope", scope="${scope.replace(/["\\]/g, '')}"` }
  }),
  /** #10: timeout or connection failure. */
  unreachable: (cause?: unknown) => new ApiError(503, 503, 'Globus Auth is unreachable; retry later', {
    code: 'AUTH_UNAVAILABLE', headers: { 'retry-after': String(DEFAULT_RETRY_AFTER_S) }, cause
  }),
  /** #11: Globus answered 5xx or 429; its Retry-After is passed through when usable. */
  unavailable: (retryAfter?: string | null) => new ApiError(503, 503, 'Globus Auth is temporarily unavailable', {
    code: 'AUTH_UNAVAILABLE', headers: { 'retry-after': retryAfterValue(retryAfter) }
  }),
  /** #12 */
  badResponse: () => new ApiError(502, 502, 'Unexpected response from Globus Auth', { code: 'AUTH_BAD_RESPONSE' }),
  /** #13: Globus refused *our* client credentials. Never a 401, which would push users into re-login. */
  misconfigured: () => new ApiError(500, 500, 'Service authentication is misconfigured', { code: 'AUTH_MISCONFIGURED' })
}
