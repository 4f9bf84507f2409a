/**
 * KAFKA_CREDENTIALS=scram: one SCRAM-SHA-512 user per subject (user name = the subject), created through
 * AlterUserScramCredentials, with PREFIXED ACLs on `<namespace>.` topics and groups for each namespace the
 * subject owns, while it holds a key. The service's own Kafka connection does this: its principal must be a
 * super user (or hold ALTER on the cluster for SCRAM and ACL changes). Plain module.
 */
import { randomBytes } from 'node:crypto'
import type { KafkaAdmin, ScramUsers } from '../kafka/admin.js'
import { principalOf, reconcileAcls } from './acls.js'
import type { CredentialBackend, MintedKey } from './backend.js'

export interface ScramBackendOptions {
  admin: () => Promise<KafkaAdmin>
  scram: ScramUsers
}

export class ScramBackend implements CredentialBackend {
  readonly mode = 'scram' as const
  #admin: () => Promise<KafkaAdmin>
  #scram: ScramUsers

  constructor (opts: ScramBackendOptions) {
    this.#admin = opts.admin
    this.#scram = opts.scram
  }

  async ensureUser (): Promise<void> {
    // The SCRAM user exists only while the subject holds a key.
  }

  async mint (subject: string): Promise<MintedKey> {
    return { access_key: subject, secret_key: randomBytes(32).toString('base64url') }
  }

  async activate (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<void> {
    await this.#scram.upsert(subject, key.secret_key)
    await reconcileAcls(await this.#admin(), principalOf(subject), namespaces)
  }

  async discard (): Promise<void> {
    // Nothing was sent to Kafka before the key was stored.
  }

  async adopt (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<boolean> {
    // The winner may still be creating the credential, or a concurrent delete may have revoked it: setting
    // the same password again (new salt) and the same ACLs is harmless, and the reply then never carries a
    // key that does not work yet.
    await this.activate(subject, key, namespaces)
    return true
  }

  async revoke (subject: string): Promise<void> {
    // ACLs first: they cut connections that are already authenticated, the credential only new logins.
    await reconcileAcls(await this.#admin(), principalOf(subject), [])
    await this.#scram.delete(subject)
  }

  async sync (subject: string, namespaces: readonly string[], hasKey: boolean): Promise<void> {
    await reconcileAcls(await this.#admin(), principalOf(subject), hasKey ? namespaces : [])
  }

  async removeUser (subject: string): Promise<void> {
    await this.revoke(subject)
  }

  async close (): Promise<void> {
    await this.#scram.close()
  }
}
