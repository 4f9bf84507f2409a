/**
 * KAFKA_CREDENTIALS=iam (AWS MSK with IAM authentication), with the existing service's names: IAM user
 * `<subject>` under `/msk-users/`, managed policy `<subject>` under `/msk-policy/` attached to it, access keys
 * of that user. Unlike the existing service the policy names every namespace the subject owns, and follows
 * claims and releases (a new default policy version; the oldest non-default one goes when five exist).
 * Every removal tolerates "no such entity", so a retried delete finishes the job. Plain module.
 */
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteUserCommand,
  DetachUserPolicyCommand,
  EntityAlreadyExistsException,
  GetPolicyVersionCommand,
  GetUserCommand,
  IAMClient,
  LimitExceededException,
  ListAccessKeysCommand,
  ListPolicyVersionsCommand,
  NoSuchEntityException,
  type IAMClientConfig
} from '@aws-sdk/client-iam'
import { ApiError } from '../errors/errors.js'
import type { CredentialBackend, MintedKey } from './backend.js'

export const USER_PATH = '/msk-users/'
export const POLICY_PATH = '/msk-policy/'
export const KAFKA_ACTIONS = [
  'kafka-cluster:Connect',
  'kafka-cluster:DescribeTopic',
  'kafka-cluster:ReadData',
  'kafka-cluster:WriteData',
  'kafka-cluster:DescribeGroup',
  'kafka-cluster:AlterGroup',
  'kafka-cluster:WriteDataIdempotently',
  'kafka-cluster:DescribeTransactionalId',
  'kafka-cluster:AlterTransactionalId'
]
/** IAM keeps at most five versions of a managed policy. */
const MAX_POLICY_VERSIONS = 5

export interface IamTarget {
  accountId: string
  region: string
  cluster: string
}

export interface IamBackendOptions extends IamTarget {
  /** Extra client settings (tests: credentials). The endpoint comes from AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL. */
  clientConfig?: IAMClientConfig
}

/** The existing service's policy, with one topic resource per owned namespace. */
export function policyDocument (t: IamTarget, namespaces: readonly string[]): string {
  const arn = (kind: string, rest: string) => `arn:aws:kafka:${t.region}:${t.accountId}:${kind}/${t.cluster}/${rest}`
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{
      Effect: 'Allow',
      Action: KAFKA_ACTIONS,
      Resource: [
        arn('group', '*'),
        arn('cluster', '*'),
        arn('transactional-id', '*'),
        ...[...namespaces].sort().map(ns => arn('topic', `*/${ns}.*`))
      ]
    }]
  })
}

/** IAM returns documents URL-encoded. */
function sameDocument (stored: string | undefined, wanted: string): boolean {
  if (stored === undefined) return false
  try {
    return JSON.stringify(JSON.parse(decodeURIComponent(stored))) === JSON.stringify(JSON.parse(wanted))
  } catch {
    return false
  }
}

function missing (err: unknown): boolean {
  return err instanceof NoSuchEntityException || (err instanceof Error && err.name === 'NoSuchEntity')
}

async function tolerateMissing (p: Promise<unknown>): Promise<void> {
  try {
    await p
  } catch (err) {
    if (!missing(err)) throw err
  }
}

export class IamBackend implements CredentialBackend {
  readonly mode = 'iam' as const
  readonly client: IAMClient
  readonly target: IamTarget

  constructor (opts: IamBackendOptions) {
    this.target = { accountId: opts.accountId, region: opts.region, cluster: opts.cluster }
    // IAM is a global service: the SDK signs for us-east-1 whatever the cluster's region.
    this.client = new IAMClient({ region: 'us-east-1', maxAttempts: 4, ...opts.clientConfig })
  }

  policyArn (subject: string): string {
    return `arn:aws:iam::${this.target.accountId}:policy${POLICY_PATH}${subject}`
  }

  async ensureUser (subject: string, namespaces: readonly string[]): Promise<void> {
    try {
      await this.client.send(new CreateUserCommand({ UserName: subject, Path: USER_PATH }))
    } catch (err) {
      if (!(err instanceof EntityAlreadyExistsException)) throw err
      // IAM user names are unique in the account whatever their path: a user of that name outside
      // /msk-users/ is not ours, and must never get this policy or an access key handed to the caller.
      if (await this.#foreignUser(subject)) {
        throw new ApiError(409, 409, `An IAM user named ${subject} already exists outside ${USER_PATH}; the operator must remove or rename it`, { code: 'IDENTITY_CONFLICT' })
      }
    }
    try {
      await this.client.send(new CreatePolicyCommand({
        PolicyName: subject,
        Path: POLICY_PATH,
        PolicyDocument: policyDocument(this.target, namespaces)
      }))
    } catch (err) {
      if (!(err instanceof EntityAlreadyExistsException)) throw err
      await this.#updatePolicy(subject, namespaces)
    }
    await this.client.send(new AttachUserPolicyCommand({ UserName: subject, PolicyArn: this.policyArn(subject) }))
  }

  async mint (subject: string, namespaces: readonly string[]): Promise<MintedKey> {
    await this.ensureUser(subject, namespaces)
    // IAM allows two keys per user: make room by dropping the oldest of a full set (none is stored, or the
    // caller would not be minting).
    const keys = await this.#listKeys(subject)
    if (keys.length >= 2) {
      const oldest = [...keys].sort((a, b) => a.created - b.created)[0]
      if (oldest) {
        await tolerateMissing(this.client.send(
          new DeleteAccessKeyCommand({ UserName: subject, AccessKeyId: oldest.id })
        ))
      }
    }
    const r = await this.client.send(new CreateAccessKeyCommand({ UserName: subject }))
    const id = r.AccessKey?.AccessKeyId
    const secret = r.AccessKey?.SecretAccessKey
    if (id === undefined || secret === undefined) throw new Error('IAM returned no access key')
    return { access_key: id, secret_key: secret }
  }

  async activate (subject: string, key: MintedKey): Promise<void> {
    // The stored key replaces the user's older keys. Newer ones are left alone: they may be minted right now
    // by a request on another node that will store its key after a delete of this one.
    const keys = await this.#listKeys(subject)
    const mine = keys.find(k => k.id === key.access_key)
    if (mine === undefined) return
    for (const k of keys) {
      if (k.id !== mine.id && k.created < mine.created) {
        await tolerateMissing(this.client.send(new DeleteAccessKeyCommand({ UserName: subject, AccessKeyId: k.id })))
      }
    }
  }

  async discard (subject: string, key: MintedKey): Promise<void> {
    await tolerateMissing(this.client.send(
      new DeleteAccessKeyCommand({ UserName: subject, AccessKeyId: key.access_key })
    ))
  }

  async adopt (subject: string, key: MintedKey): Promise<boolean> {
    // IAM activates a key when it is created: it works unless a concurrent request deleted it.
    return (await this.#listKeys(subject)).some(k => k.id === key.access_key)
  }

  async revoke (subject: string, accessKey: string | undefined): Promise<void> {
    if (accessKey !== undefined) {
      await tolerateMissing(this.client.send(new DeleteAccessKeyCommand({ UserName: subject, AccessKeyId: accessKey })))
    }
  }

  async #revokeAll (subject: string): Promise<void> {
    for (const k of await this.#listKeys(subject)) {
      await tolerateMissing(this.client.send(new DeleteAccessKeyCommand({ UserName: subject, AccessKeyId: k.id })))
    }
  }

  async sync (subject: string, namespaces: readonly string[]): Promise<void> {
    // Only a subject with an IAM identity has a policy to update.
    await tolerateMissing(this.#updatePolicy(subject, namespaces))
  }

  async removeUser (subject: string): Promise<void> {
    // A user of that name outside /msk-users/ is not ours: leave it, its keys and policies alone.
    if (await this.#foreignUser(subject)) return
    await this.#revokeAll(subject)
    const arn = this.policyArn(subject)
    await tolerateMissing(this.client.send(new DetachUserPolicyCommand({ UserName: subject, PolicyArn: arn })))
    try {
      const versions = await this.client.send(new ListPolicyVersionsCommand({ PolicyArn: arn }))
      for (const v of versions.Versions ?? []) {
        if (v.IsDefaultVersion !== true && v.VersionId !== undefined) {
          await tolerateMissing(this.client.send(
            new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: v.VersionId })
          ))
        }
      }
      await this.client.send(new DeletePolicyCommand({ PolicyArn: arn }))
    } catch (err) {
      if (!missing(err)) throw err
    }
    await tolerateMissing(this.client.send(new DeleteUserCommand({ UserName: subject })))
  }

  async close (): Promise<void> {
    this.client.destroy()
  }

  /** Does a user of that name exist outside /msk-users/ (or where the service may not even read it)? */
  async #foreignUser (subject: string): Promise<boolean> {
    try {
      return (await this.client.send(new GetUserCommand({ UserName: subject }))).User?.Path !== USER_PATH
    } catch (err) {
      if (missing(err)) return false
      if (err instanceof Error && /^AccessDenied/.test(err.name)) return true
      throw err
    }
  }

  async #listKeys (subject: string): Promise<Array<{ id: string, created: number }>> {
    try {
      const r = await this.client.send(new ListAccessKeysCommand({ UserName: subject }))
      return (r.AccessKeyMetadata ?? []).flatMap(k =>
        k.AccessKeyId === undefined ? [] : [{ id: k.AccessKeyId, created: k.CreateDate?.getTime() ?? 0 }])
    } catch (err) {
      if (missing(err)) return []
      throw err
    }
  }

  /**
   * Make the policy's default version grant `namespaces`: nothing when it already does, else a new default
   * version (the oldest non-default one goes first when IAM's five are used; several nodes doing this at once
   * retry). Throws NoSuchEntity when the policy does not exist.
   */
  async #updatePolicy (subject: string, namespaces: readonly string[]): Promise<void> {
    const arn = this.policyArn(subject)
    const wanted = policyDocument(this.target, namespaces)
    for (let attempt = 1; ; attempt++) {
      const versions = (await this.client.send(new ListPolicyVersionsCommand({ PolicyArn: arn }))).Versions ?? []
      const current = versions.find(v => v.IsDefaultVersion === true)
      if (current?.VersionId !== undefined) {
        const v = await this.client.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: current.VersionId }))
        if (sameDocument(v.PolicyVersion?.Document, wanted)) return
      }
      if (versions.length >= MAX_POLICY_VERSIONS) {
        const old = versions
          .filter(v => v.IsDefaultVersion !== true)
          .sort((a, b) => (a.CreateDate?.getTime() ?? 0) - (b.CreateDate?.getTime() ?? 0))[0]
        if (old?.VersionId !== undefined) {
          await tolerateMissing(this.client.send(
            new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: old.VersionId })
          ))
        }
      }
      try {
        await this.client.send(
          new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: wanted, SetAsDefault: true })
        )
        return
      } catch (err) {
        // Another node took the free version slot meanwhile: look again.
        if (!(err instanceof LimitExceededException) || attempt >= 5) throw err
        await new Promise(resolve => setTimeout(resolve, Math.random() * 50 * attempt))
      }
    }
  }
}
