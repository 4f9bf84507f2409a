/**
 * OAUTHBEARER token provider for AWS MSK IAM. kafkajs asks for a token on every (re)authentication of every
 * connection and the signer does not cache, so tokens are cached until shortly before they expire and a
 * refresh is shared by all concurrent callers.
 */
export interface SignedToken { token: string, expiryTime: number }
export type Signer = () => Promise<SignedToken>

export interface CachedProviderOptions {
  /** Refresh this long before expiry (kafkajs re-authenticates 10 s early; keep well clear of that). */
  refreshMarginMs?: number
  now?: () => number
}

export function createCachedTokenProvider (
  sign: Signer, opts: CachedProviderOptions = {}
): () => Promise<{ value: string }> {
  const margin = opts.refreshMarginMs ?? 60_000
  const now = opts.now ?? Date.now
  let current: SignedToken | undefined
  let inflight: Promise<SignedToken> | undefined
  return async () => {
    if (current && now() < current.expiryTime - margin) return { value: current.token }
    if (!inflight) {
      inflight = sign().then(t => { current = t; return t }).finally(() => { inflight = undefined })
    }
    const t = await inflight
    return { value: t.token }
  }
}

/** The real signer, loaded lazily so the AWS SDK is only imported when MSK IAM is configured. */
export async function mskIamSigner (region: string): Promise<Signer> {
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js')
  return () => generateAuthToken({ region })
}
