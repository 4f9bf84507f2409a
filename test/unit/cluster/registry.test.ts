import t from 'tap'
import { NodeRegistry } from '../../../plugins/cluster/registry.js'
import type { NodeDirectory, NodeEntry } from '../../../plugins/cluster/node-table.js'

/** The node directory in memory, with the DynamoDB table's conditions. */
class MemoryDirectory implements NodeDirectory {
  items = new Map<string, NodeEntry & { incarnation: string }>()
  lists = 0
  async register (e: NodeEntry, incarnation: string, expiryMs: number): Promise<boolean> {
    const old = this.items.get(e.id)
    if (old && old.heartbeat >= e.heartbeat - expiryMs && old.incarnation !== incarnation) return false
    this.items.set(e.id, { ...e, incarnation })
    return true
  }

  async heartbeat (e: NodeEntry, incarnation: string): Promise<boolean> {
    const old = this.items.get(e.id)
    if (!old || old.incarnation !== incarnation) return false
    this.items.set(e.id, { ...e, incarnation })
    return true
  }

  async list (): Promise<NodeEntry[]> {
    this.lists++
    return [...this.items.values()].map(({ id, url, heartbeat }) => ({ id, url, heartbeat }))
  }

  async deregister (id: string, incarnation: string): Promise<void> {
    if (this.items.get(id)?.incarnation === incarnation) this.items.delete(id)
  }

  close (): void {}
}

const log = { info () {}, warn () {}, error () {} }

t.test('nodes register, see each other, drop out when they stop heartbeating, leave on stop', async t => {
  let now = 1_000_000
  const dir = new MemoryDirectory()
  const opts = { intervalMs: 60_000, expiryMs: 3000, log, now: () => now }
  const a = new NodeRegistry(dir, { ...opts, id: 'a', url: 'http://a:1' })
  const b = new NodeRegistry(dir, { ...opts, id: 'b', url: 'http://b:1' })
  await a.start()
  await b.start()
  t.teardown(async () => { await a.stop(); await b.stop() })
  const lists = dir.lists
  t.equal(await a.resolve('b'), undefined, 'b is not in a\'s copy, and a read it a moment ago: no new read')
  t.equal(dir.lists, lists)
  now += 300
  t.equal(await a.resolve('b'), 'http://b:1', 'a finds b (not in its copy: read again on the miss)')
  t.equal(dir.lists, lists + 1)
  t.equal(b.liveUrl('a'), 'http://a:1')
  t.ok(a.current, 'a registered node is current')
  now += 3001
  t.notOk(a.current, 'without a heartbeat for longer than the expiry it is not (/ready says not ready)')
  t.equal(b.liveUrl('a'), undefined, 'a heartbeat older than the expiry: gone')
  now -= 3001
  t.notOk(await a.gone('b'), 'b is live')
  await b.stop()
  t.notOk(dir.items.has('b'), 'stop removes the entry')
  t.notOk(await a.gone('b'), 'within 250 ms of the last read, a\'s copy still has b')
  now += 250
  t.ok(await a.gone('b'), 'then a reads the directory again: b left')
  now += 1000
  await a.refresh()
  t.equal(await a.resolve('b'), undefined, 'a stopped node is gone')
})

t.test('a second process with a live node\'s id is refused; after expiry it takes the id', async t => {
  let now = 5_000_000
  const dir = new MemoryDirectory()
  const opts = { intervalMs: 60_000, expiryMs: 3000, log, now: () => now }
  const first = new NodeRegistry(dir, { ...opts, id: 'n1', url: 'http://one:1' })
  await first.start()
  t.teardown(() => first.stop())
  const second = new NodeRegistry(dir, { ...opts, id: 'n1', url: 'http://two:1' })
  await t.rejects(second.start(), /NODE_ID n1 is held by another live node/)
  now += 3001
  const third = new NodeRegistry(dir, { ...opts, id: 'n1', url: 'http://three:1' })
  await third.start()
  t.teardown(() => third.stop())
  t.equal(third.liveUrl('n1'), 'http://three:1')
  await first.stop()
  t.equal(dir.items.get('n1')?.url, 'http://three:1', 'the old incarnation\'s stop leaves the new entry alone')
})
