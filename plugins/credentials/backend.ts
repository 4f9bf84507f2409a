/**
 * What a credential mode does on the Kafka side; the service (credential-service.ts) keeps the store, the
 * locks and the order of steps. Plain module.
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
  /** The minted key was stored: make it work (SCRAM: credential and ACLs; IAM: drop the user's other keys). */
  activate (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<void>
  /** The minted key lost the race to another one that was stored: undo the mint only. */
  discard (subject: string, key: MintedKey): Promise<void>
  /**
   * The key another request (maybe on another node) stored and may still be activating, about to be returned
   * by the loser of the race: make sure it works when the reply leaves (SCRAM: activate it too). Idempotent.
   */
  adopt (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<void>
  /** Revoke every credential of the subject (its stored key is already gone). Idempotent. */
  revoke (subject: string): Promise<void>
  /** The subject now owns `namespaces`: grant exactly those (where the subject has an identity). Idempotent. */
  sync (subject: string, namespaces: readonly string[], hasKey: boolean): Promise<void>
  /** Remove the identity, its credentials and its grants. Idempotent. */
  removeUser (subject: string): Promise<void>
  close (): Promise<void>
}
