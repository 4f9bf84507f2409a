/**
 * The MetadataStore contract: the same cases run against every store (the file store in
 * test/unit/namespaces/file-store.test.ts, the DynamoDB store in dynamo-store.test.ts), so both mean the
 * same thing by every method. Store-specific behaviour (atomic files, the existing service's tables, several
 * nodes) is tested beside each store.
 */
import type { Test } from 'tap'
import { MetadataStoreError, type KeyRecord, type MetadataStore, type TopicRecord } from '../../plugins/namespaces/store.js'

export interface StoreFixture {
  /** The first store over fresh, empty storage. */
  store: MetadataStore
  /** Another store over the same storage (after a restart, or on another node); closed at teardown. */
  open (): Promise<MetadataStore>
}

export type FixtureFactory = (t: Test) => Promise<StoreFixture>

export const topicRecord = (name: string, partitions = 1): TopicRecord => ({
  name,
  settings: { num_partitions: partitions, replication_factor: 1, configs: { 'retention.ms': '1000' } },
  createdAt: '2024-01-01T00:00:00.000Z'
})

export function storeContract (t: Test, fresh: FixtureFactory): void {
  t.test('contract: an empty store owns nothing', async t => {
    const { store } = await fresh(t)
    t.same(await store.namespacesOf('alice'), [])
    t.equal(await store.ownerOf('ns-a'), undefined)
    t.equal(await store.getNamespace('ns-a'), undefined)
    t.same(await store.topicsOf('ns-a'), [])
    t.equal(await store.getTopic('ns-a', 'x-1'), undefined)
    t.equal(await store.healthy(), true)
  })

  t.test('contract: claims are atomic and idempotent; names are global', async t => {
    const { store } = await fresh(t)
    t.equal(await store.claimNamespace('alice', 'ns-a'), 'created')
    t.equal(await store.claimNamespace('alice', 'ns-a'), 'owned')
    t.equal(await store.claimNamespace('bob', 'ns-a'), 'taken')
    t.equal(await store.ownerOf('ns-a'), 'alice')
    t.equal(await store.claimNamespace('alice', 'proj'), 'created')
    t.same(await store.namespacesOf('alice'), ['ns-a', 'proj'])
    t.same(await store.namespacesOf('bob'), [])
    const ns = await store.getNamespace('ns-a')
    t.match(ns, { name: 'ns-a', owner: 'alice', topics: [] })
    t.ok(ns !== undefined && !Number.isNaN(Date.parse(ns.createdAt)), 'createdAt is a date')
    await t.rejects(store.claimNamespace('alice', '__proto__'), MetadataStoreError)
    await t.rejects(store.claimNamespace('alice', 'a.b'), MetadataStoreError)
  })

  t.test('contract: topics put, replace, list sorted, remove; release only when empty and owned', async t => {
    const { store } = await fresh(t)
    await store.claimNamespace('alice', 'ns-a')
    await t.rejects(store.putTopic('ns-b', topicRecord('x-1')), /not claimed/)
    await t.rejects(store.putTopic('ns-a', topicRecord('a.b')), MetadataStoreError)
    await store.putTopic('ns-a', topicRecord('zeta'))
    await store.putTopic('ns-a', topicRecord('alpha'))
    await store.putTopic('ns-a', topicRecord('alpha', 3))
    t.same((await store.topicsOf('ns-a')).map(r => r.name), ['alpha', 'zeta'])
    t.same(await store.getTopic('ns-a', 'alpha'), topicRecord('alpha', 3))
    t.same((await store.getNamespace('ns-a'))?.topics.map(r => r.name), ['alpha', 'zeta'])
    t.equal(await store.getTopic('ns-a', 'nope'), undefined)
    t.equal(await store.getTopic('ns-a', 'constructor'), undefined)
    t.equal(await store.releaseNamespace('alice', 'ns-a'), 'not-empty')
    t.equal(await store.releaseNamespace('bob', 'ns-a'), 'not-owner')
    t.equal(await store.releaseNamespace('bob', 'ns-zz'), 'absent')
    t.equal(await store.removeTopic('ns-a', 'alpha'), true)
    t.equal(await store.removeTopic('ns-a', 'alpha'), false)
    t.equal(await store.removeTopic('ns-zz', 'alpha'), false)
    t.equal(await store.removeTopic('ns-a', 'zeta'), true)
    t.same(await store.topicsOf('ns-a'), [])
    t.equal(await store.ownerOf('ns-a'), 'alice', 'a namespace without topics is still owned')
    t.equal(await store.releaseNamespace('alice', 'ns-a'), 'released')
    t.equal(await store.releaseNamespace('alice', 'ns-a'), 'absent')
    t.equal(await store.ownerOf('ns-a'), undefined)
    t.same(await store.namespacesOf('alice'), [])
    t.equal(await store.claimNamespace('bob', 'ns-a'), 'created', 'a released name can be claimed by anyone')
    t.same(await store.topicsOf('ns-a'), [], 'the new owner gets no topics of the old one')
  })

  t.test('contract: returned records are copies', async t => {
    const { store } = await fresh(t)
    await store.claimNamespace('alice', 'ns-a')
    await store.putTopic('ns-a', topicRecord('abc'))
    const r = await store.getTopic('ns-a', 'abc')
    if (!r) throw new Error('missing')
    r.settings.configs['retention.ms'] = '1'
    t.equal((await store.getTopic('ns-a', 'abc'))?.settings.configs['retention.ms'], '1000')
  })

  t.test('contract: everything survives a restart; a closed store refuses calls', async t => {
    const fx = await fresh(t)
    const first = fx.store
    await first.claimNamespace('alice', 'ns-a')
    await first.claimNamespace('bob', 'ns-b')
    await first.putTopic('ns-a', topicRecord('events', 4))
    await first.close()
    await t.rejects(first.ownerOf('ns-a'), /closed/)
    await t.rejects(first.claimNamespace('carol', 'ns-c'), /closed/)
    t.equal(await first.healthy(), false)

    const second = await fx.open()
    t.equal(await second.ownerOf('ns-a'), 'alice')
    t.equal(await second.ownerOf('ns-b'), 'bob')
    t.same(await second.namespacesOf('alice'), ['ns-a'])
    t.same(await second.getTopic('ns-a', 'events'), topicRecord('events', 4))
    t.equal(await second.claimNamespace('bob', 'ns-a'), 'taken')
  })

  t.test('contract: concurrent claims of one name: exactly one wins; no topic write is lost', async t => {
    const { store } = await fresh(t)
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.claimNamespace(`subject-${i}`, 'contested')))
    t.equal(results.filter(r => r === 'created').length, 1)
    t.equal(results.filter(r => r === 'taken').length, 11)
    const winner = await store.ownerOf('contested')
    t.equal(results[Number(winner?.split('-')[1])], 'created', 'the owner is the one told it won')
    t.same(await store.namespacesOf(winner ?? ''), ['contested'])
    for (let i = 0; i < 12; i++) {
      if (`subject-${i}` !== winner) t.same(await store.namespacesOf(`subject-${i}`), [], `subject-${i} holds nothing`)
    }

    await store.claimNamespace('alice', 'ns-a')
    await Promise.all(Array.from({ length: 15 }, (_, i) => store.putTopic('ns-a', topicRecord(`t-${String(i).padStart(2, '0')}`))))
    t.equal((await store.topicsOf('ns-a')).length, 15)
  })
  t.test('contract: keys: one per subject, written only when absent, removed only when they match', async t => {
    const { store } = await fresh(t)
    const key = (subject: string, access: string, encryption?: string): KeyRecord => ({
      subject,
      access_key: access,
      secret_key: `sealed-${access}`,
      create_date: '2024-01-01T00:00:00.000Z',
      ...(encryption !== undefined ? { encryption } : {})
    })
    t.equal(await store.getKey('alice'), undefined)
    t.equal(await store.putKeyIfAbsent(key('alice', 'AK1', 'aes-256-gcm:v1')), true)
    t.equal(await store.putKeyIfAbsent(key('alice', 'AK2')), false, 'a second key is refused')
    t.same(await store.getKey('alice'), key('alice', 'AK1', 'aes-256-gcm:v1'))
    t.equal(await store.putKeyIfAbsent(key('bob', 'BK1')), true)
    t.same(await store.getKey('bob'), key('bob', 'BK1'), 'no encryption marker when none was given')
    t.equal(await store.removeKey('alice', { access_key: 'AK2', secret_key: 'sealed-AK2' }), false, 'not the stored key: nothing removed')
    t.equal(await store.removeKey('alice', { access_key: 'AK1', secret_key: 'sealed-other' }), false, 'same access key, another secret: another key')
    t.equal((await store.getKey('alice'))?.access_key, 'AK1')
    t.equal(await store.removeKey('alice', { access_key: 'AK1', secret_key: 'sealed-AK1' }), true)
    t.equal(await store.removeKey('alice'), false)
    t.equal(await store.getKey('alice'), undefined)
    t.equal(await store.removeKey('bob'), true, 'without an access key: whatever is stored')
    t.equal(await store.getKey('bob'), undefined)

    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.putKeyIfAbsent(key('carol', `CK${i}`))))
    t.equal(results.filter(Boolean).length, 1, 'concurrent writes: exactly one key')
    t.equal((await store.getKey('carol'))?.access_key, `CK${results.indexOf(true)}`, 'the one told it won')
  })
}
