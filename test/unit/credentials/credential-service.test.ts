/**
 * The order of steps of CredentialService across nodes, made deterministic: two services ("nodes", each with
 * its own in-process locks) over one real file store, and a fake SCRAM-like backend with one credential per
 * user (as Kafka has) whose steps can be held at a gate. test/integration/credentials-scram.test.ts runs the
 * same races against the real broker and DynamoDB (moto), without control over the interleaving.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes, randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KafkaAdmin } from '../../../plugins/kafka/admin.js'
import { FileMetadataStore } from '../../../plugins/namespaces/file-store.js'
import { NamespaceService } from '../../../plugins/namespaces/namespace-service.js'
import type { MetadataStore } from '../../../plugins/namespaces/store.js'
import type { CredentialBackend, MintedKey } from '../../../plugins/credentials/backend.js'
import { CredentialService } from '../../../plugins/credentials/credential-service.js'
import { SecretBox } from '../../../plugins/credentials/secret-box.js'

/** A step held until the test lets it go. */
class Gate {
  #entered!: () => void
  #release!: () => void
  entered = new Promise<void>(resolve => { this.#entered = resolve })
  #released = new Promise<void>(resolve => { this.#release = resolve })
  async pass (): Promise<void> {
    this.#entered()
    await this.#released
  }

  open (): void { this.#release() }
}

/** The broker side of SCRAM mode: one password per user, and the namespaces its ACLs grant. */
class FakeScram implements CredentialBackend {
  readonly mode = 'scram' as const
  passwords = new Map<string, string>()
  grants = new Map<string, string[]>()
  calls: string[] = []
  /** Held once at the named step, then removed. */
  gates = new Map<string, Gate>()

  async #step (name: string): Promise<void> {
    this.calls.push(name)
    const gate = this.gates.get(name)
    if (gate) {
      this.gates.delete(name)
      await gate.pass()
    }
  }

  async ensureUser (): Promise<void> {}
  async mint (subject: string): Promise<MintedKey> {
    return { access_key: subject, secret_key: randomBytes(12).toString('hex') }
  }

  async activate (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<void> {
    await this.#step('activate')
    this.passwords.set(subject, key.secret_key)
    this.grants.set(subject, [...namespaces].sort())
  }

  async discard (): Promise<void> {}
  async adopt (subject: string, key: MintedKey, namespaces: readonly string[]): Promise<boolean> {
    this.calls.push('adopt')
    this.passwords.set(subject, key.secret_key)
    this.grants.set(subject, [...namespaces].sort())
    return true
  }

  async revoke (subject: string): Promise<void> {
    await this.#step('revoke')
    this.grants.delete(subject)
    this.passwords.delete(subject)
  }

  async sync (subject: string, namespaces: readonly string[], hasKey: boolean): Promise<void> {
    await this.#step('sync')
    if (hasKey) this.grants.set(subject, [...namespaces].sort())
    else this.grants.delete(subject)
  }

  async removeUser (subject: string): Promise<void> { await this.revoke(subject) }
  async close (): Promise<void> {}
}

async function setup (
  t: Test
): Promise<{ store: MetadataStore, backend: FakeScram, nodeA: CredentialService, nodeB: CredentialService }> {
  const dir = mkdtempSync(join(tmpdir(), 'cred-service-'))
  const store = await FileMetadataStore.open(join(dir, 'metadata.json'))
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const backend = new FakeScram()
  const box = new SecretBox(randomBytes(32).toString('base64'))
  const node = (): CredentialService => new CredentialService({ mode: 'scram', store, backend, box, endpoint: 'broker:9094' })
  return { store, backend, nodeA: node(), nodeB: node() }
}

async function refusal (p: Promise<unknown>): Promise<unknown> {
  return p.then(() => 'resolved', (err: unknown) => err)
}

t.test('only UUID subjects get credentials: no token may name a super user', async t => {
  const { backend, nodeA } = await setup(t)
  for (const subject of ['admin', 'ANONYMOUS', 'alice', 'User:admin', '*']) {
    t.match(await refusal(nodeA.issueKey(subject)), { statusCode: 403 }, `issue for ${subject}`)
    t.match(await refusal(nodeA.deleteKey(subject)), { statusCode: 403 }, `delete for ${subject}`)
  }
  t.same(backend.calls, [], 'Kafka was never asked')
  t.same([...backend.passwords.keys()], [])
})

t.test('a slow activation on one node does not overwrite the key another node stored after a delete', async t => {
  const { store, backend, nodeA, nodeB } = await setup(t)
  const subject = randomUUID()
  const gate = new Gate()
  backend.gates.set('activate', gate)
  const first = nodeA.issueKey(subject) // stores R, then waits at its activation
  await gate.entered
  const r = await store.getKey(subject)
  t.ok(r, 'the first key is stored')
  t.equal(await nodeB.deleteKey(subject), true, 'a delete on node B removes it')
  const second = await nodeB.issueKey(subject) // node B stores and activates S
  t.equal(second.fresh, true)
  gate.open() // node A's activation of R lands now
  const firstReply = await first
  t.not(firstReply.secret_key, second.secret_key)
  t.equal((await store.getKey(subject))?.secret_key !== r?.secret_key, true, 'S is the stored key')
  t.equal(backend.passwords.get(subject), second.secret_key, 'the stored key is the one that works')
  t.equal((await nodeA.issueKey(subject)).secret_key, second.secret_key)
})

t.test('a delete that revokes on one node while another node creates the next key leaves that key working', async t => {
  const { store, backend, nodeA, nodeB } = await setup(t)
  const subject = randomUUID()
  const gate = new Gate()
  backend.gates.set('revoke', gate)
  // No stored key: node A's delete clears what a failed request may have left, and waits at the revocation.
  const del = nodeA.deleteKey(subject)
  await gate.entered
  const key = await nodeB.issueKey(subject)
  t.equal(key.fresh, true)
  t.equal(backend.passwords.get(subject), key.secret_key)
  gate.open() // node A's revocation lands after node B's activation
  t.equal(await del, false, 'node A had no key to delete')
  t.ok(await store.getKey(subject), 'node B\'s key stays stored')
  t.equal(backend.passwords.get(subject), key.secret_key, 'and working')
})

t.test('a delete removes only the key it revoked', async t => {
  const { store, backend, nodeA, nodeB } = await setup(t)
  const subject = randomUUID()
  const old = await nodeA.issueKey(subject)
  const gate = new Gate()
  backend.gates.set('revoke', gate)
  const del = nodeA.deleteKey(subject) // read the old key, waits at its revocation
  await gate.entered
  // Meanwhile another node replaces the key (as a delete and a POST there would).
  await store.removeKey(subject)
  const next = await nodeB.issueKey(subject)
  gate.open()
  t.equal(await del, false, 'the old key was already gone')
  t.equal((await store.getKey(subject)) !== undefined, true, 'the new key is still stored')
  t.equal(backend.passwords.get(subject), next.secret_key, 'and works')
  t.not(next.secret_key, old.secret_key)
})

t.test('a key issued during a release never keeps the released namespace', async t => {
  const { store, backend, nodeA, nodeB } = await setup(t)
  const subject = randomUUID()
  t.equal(await store.claimNamespace(subject, 'keep'), 'created')
  t.equal(await store.claimNamespace(subject, 'gone'), 'created')
  let during: Promise<unknown> | undefined
  const admin = {
    // The release's purge lists Kafka topics after its grants were withdrawn and before the store changes:
    // a key is issued right then (on node B: it sees the namespace still owned).
    listTopics: async () => {
      during ??= nodeB.issueKey(subject)
      await during
      return []
    }
  } as unknown as KafkaAdmin
  const namespaces = new NamespaceService({
    store,
    kafka: { admin: async () => admin },
    limits: { TOPIC_RECREATE_TIMEOUT_MS: 1000 } as never
  })
  namespaces.observe(nodeA)
  await namespaces.releaseNamespace(subject, 'gone')
  t.ok(during, 'the key was issued during the release')
  t.same(await store.namespacesOf(subject), ['keep'])
  t.same(backend.grants.get(subject), ['keep'], 'the released namespace is not granted when the release returns')
})
