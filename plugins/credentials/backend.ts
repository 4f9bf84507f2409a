/**
 * What a credential mode does on the Kafka side; the service (credential-service.ts) keeps the store, the
 * locks and the order of steps. Plain module.
 *
 * Nodes do not lock each other out: every step is idempotent, and after changing Kafka or IAM the service
 * reads the store again and calls `reassert` until the state it last applied is still the stored one, so the
 * last change to land always matches the store (credential-service.ts).
 */
export interface MintedKey {
  access_key: string
  secret_key: string
}

export interface CredentialBackend {
  readonly mode: 'iam' | 'scram'
  /** The identity of POST /api/v3/user (IAM: user and policy). Idempotent. */
  ensureUser (subject: string, namespaces: readonly string[]): Promise<void>
  /** A new credential, not stored yet (IAM: an access key of the user; SCRAM: a password, nothing sent yet). */
  mint (subject: string, namespaces: readonly string[]): Promise<MintedKey>
  /** The minted key was stored: make it work (SCRAM: credential and ACLs; IAM: drop the user's older keys). */
  activate (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<void>
  /** The minted key lost the race to another one that was stored: undo the mint only. */
  discard (subject: string, key: MintedKey): Promise<void>
  /**
   * `key` is stored (by another request, maybe on another node, maybe still activating it) and is about to be
   * returned or kept: make sure it works (SCRAM: activate it too). False when it cannot work any more (IAM:
   * the access key was deleted), so the service drops its record. Idempotent.
   */
  adopt (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<boolean>
  /**
   * Revoke the credential of the stored key `accessKey` (IAM: that access key only; SCRAM: the subject's
   * credential and ACLs, as there is one per user). Undefined: the subject has no stored key, revoke what a
   * failed request may have left (SCRAM: credential and ACLs; IAM: nothing, as a key being minted on
   * another node cannot be told from a leftover). Idempotent.
   */
  revoke (subject: string, accessKey: string | undefined): Promise<void>
  /** The subject now owns `namespaces`: grant exactly those (where the subject has an identity). Idempotent. */
  sync (subject: string, namespaces: readonly string[], hasKey: boolean): Promise<void>
  /** Remove the identity, its credentials and its grants. Idempotent. */
  removeUser (subject: string): Promise<void>
  close (): Promise<void>
}
