/**
 * Several nodes behind one address (issue 15): three real `server.ts` processes over one DynamoDB endpoint
 * (moto) and the local broker, behind HAProxy round robin (test/helpers/cluster.ts). Instance ids name their
 * owner, any node serves any instance (forwarding, streaming long polls and GET bodies), two users racing for
 * a namespace through different nodes get one winner, forged forwarding headers on a node's own port are
 * refused, and a killed node's instances answer 40403 on the others while the SDK recovers by itself.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { startCluster, startNode, type Cluster } from '../helpers/cluster.js'
import { freePort } from '../../scripts/ports.js'
import { BINARY, V2, shortName } from '../helpers/api.js'
import { testKafka } from '../helpers/broker.js'
import { sleep, waitFor } from '../helpers/wait.js'
import { rawClient } from '../helpers/dynamo.js'
import { ScanCommand } from '@aws-sdk/client-dynamodb'
import { defaultNamespace } from '../../plugins/namespaces/names.js'
import { ownerOf } from '../../plugins/cluster/instance-id.js'
import { FORWARDED_BY, FORWARD_SIGNATURE, FORWARD_TIME, signHop } from '../../plugins/cluster/hop-auth.js'
import { ROOT } from '../../scripts/broker.js'
import { ensureVenv } from '../../scripts/venv.js'

/** The list's `i`-th item, which the test set up (a clear failure, not a `!`, if it did not). */
function nth<T> (list: readonly T[], i: number): T {
  const item = list[i]
  if (item === undefined) throw new Error(`no item ${i} in a list of ${list.length}`)
  return item
}

t.setTimeout(10 * 60_000)

interface User { subject: string, token: string, ns: string }

function call (
  base: string, user: User, method: string, p: string, body?: unknown, headers: Record<string, string> = {}
): Promise<Response> {
  return fetch(`${base}${p.startsWith('/') ? '' : '/api/v3/'}${p}`, {
    method,
    headers: { authorization: `Bearer ${user.token}`, ...(body === undefined ? {} : { 'content-type': V2 }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
}

async function newUser (t: Test, cluster: Cluster, via = cluster.url): Promise<User> {
  const subject = randomUUID()
  const user = { subject, token: cluster.globus.userToken(subject), ns: defaultNamespace(subject) }
  const res = await call(via, user, 'POST', 'user')
  t.equal(res.status, 201, `user created: ${await res.text()}`)
  t.teardown(async () => { await call(cluster.url, user, 'DELETE', 'user').catch(() => {}) })
  return user
}

async function newTopic (t: Test, cluster: Cluster, user: User): Promise<string> {
  const topic = shortName()
  const res = await call(cluster.url, user, 'POST', `${user.ns}/${topic}`, {}, { 'content-type': 'application/json' })
  t.equal(res.status, 201, `topic created: ${await res.text()}`)
  t.teardown(async () => {
    const admin = testKafka().admin()
    await admin.connect()
    await admin.deleteTopics({ topics: [`${user.ns}.${topic}`] }).catch(() => {})
    await admin.disconnect()
  })
  return topic
}

async function produce (base: string, user: User, topic: string, value: string): Promise<void> {
  const res = await call(base, user, 'POST', `${user.ns}/topics/${topic}/records`, { value: { type: 'BINARY', data: Buffer.from(value).toString('base64') } }, { 'content-type': 'application/json' })
  if (res.status !== 200) throw new Error(`produce through ${base}: ${res.status} ${await res.text()}`)
}

/** A GET with a JSON body (fetch() refuses one; the SDK sends one for committed offsets). */
function getWithBody (url: string, user: User, body: unknown): Promise<{ status: number, body: string }> {
  const data = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'GET', headers: { authorization: `Bearer ${user.token}`, 'content-type': V2, 'content-length': Buffer.byteLength(data) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(data)
  })
}

/** Fetch through `base` until `count` records came. */
async function readThrough (base: string, user: User, instance: string, count: number): Promise<string[]> {
  const values: string[] = []
  for (let i = 0; i < 40 && values.length < count; i++) {
    const res = await call(base, user, 'GET', `${instance}/records?timeout=1000`, undefined, { accept: BINARY })
    if (res.status !== 200) throw new Error(`fetch through ${base}: ${res.status} ${await res.text()}`)
    values.push(...(await res.json() as Array<{ value: string }>).map(r => Buffer.from(r.value, 'base64').toString()))
  }
  return values
}

t.test('three nodes behind HAProxy', async t => {
  const cluster = await startCluster(t, 3)
  const byId = new Map(cluster.nodes.map(n => [n.id, n]))

  t.test('every node is ready and says its heartbeat is current', async t => {
    for (const node of cluster.nodes) {
      const res = await fetch(`${node.url}/ready`)
      t.equal(res.status, 200, `${node.id} ready`)
      t.match(await res.json(), { checks: { node_registry: true } })
    }
  })

  t.test('instance ids name their owner, and any node serves any instance', async t => {
    const user = await newUser(t, cluster)
    const topic = await newTopic(t, cluster, user)
    const group = shortName('g')
    const created = await call(cluster.url, user, 'POST', `${user.ns}/consumers/${group}`, { 'auto.offset.reset': 'earliest' })
    t.equal(created.status, 200)
    const { instance_id: id, base_uri: baseUri } = await created.json() as { instance_id: string, base_uri: string }
    const owner = ownerOf(id)
    t.ok(owner !== undefined && byId.has(owner), `the instance id ${id} names a node`)
    t.equal(baseUri, `${cluster.url}/api/v3/${user.ns}/consumers/${group}/instances/${id}`, 'base_uri is on the load balancer')
    const instance = `${user.ns}/consumers/${group}/instances/${id}`
    const others = cluster.nodes.filter(n => n.id !== owner)

    // Subscribe through one node that does not own it, read the subscription through every node.
    const sub = await call(nth(others, 0).url, user, 'POST', `${instance}/subscription`, { topics: [topic] })
    t.equal(sub.status, 204, 'subscribe through a node that does not own the instance')
    t.equal(sub.headers.get('x-diaspora-node'), owner, 'answered by the owner')
    for (const node of cluster.nodes) {
      const res = await call(node.url, user, 'GET', `${instance}/subscription`)
      t.equal(res.status, 200, `subscription through ${node.id}`)
      t.same(await res.json(), { topics: [topic] })
      t.equal(res.headers.get('x-diaspora-node'), owner, `through ${node.id}, answered by the owner ${owner}`)
    }

    // Produce through every node, fetch through one that does not own the instance.
    for (const node of cluster.nodes) await produce(node.url, user, topic, `from-${node.id}`)
    const values = await readThrough(nth(others, 1).url, user, instance, 3)
    t.same(values.sort(), cluster.nodes.map(n => `from-${n.id}`).sort(), 'every record produced through any node, fetched through a non-owner')

    // A long poll through a non-owner waits on the owner and returns the record produced meanwhile.
    const poll = call(nth(others, 0).url, user, 'GET', `${instance}/records?timeout=20000`, undefined, { accept: BINARY })
    await produce(nth(others, 1).url, user, topic, 'late')
    const polled = await poll
    t.equal(polled.status, 200)
    t.same((await polled.json() as Array<{ value: string }>).map(r => Buffer.from(r.value, 'base64').toString()), ['late'], 'the long poll through a non-owner returned the late record')

    // Commit through one non-owner, read the committed offsets (a GET with a body) through the other.
    t.equal((await call(nth(others, 0).url, user, 'POST', `${instance}/offsets`)).status, 200, 'commit through a non-owner')
    const committed = await getWithBody(`${nth(others, 1).url}/api/v3/${instance}/offsets`, user, { partitions: [{ topic, partition: 0 }] })
    t.equal(committed.status, 200)
    t.same((JSON.parse(committed.body) as { offsets: Array<{ offset: number }> }).offsets.map(o => o.offset), [4], 'the GET body reached the owner')

    // Through the load balancer, many requests in a row: whichever node each lands on, the owner answers.
    const seen = new Set<string>()
    for (let i = 0; i < 9; i++) {
      const res = await call(cluster.url, user, 'GET', `${instance}/assignments`)
      t.equal(res.status, 200)
      seen.add(String(res.headers.get('x-diaspora-node')))
    }
    t.same([...seen], [owner], 'every request through the balancer answered by the owner')

    // Another user's request for the instance: the owner's checks apply (404, whichever node it reached).
    const stranger = await newUser(t, cluster)
    const theirs = await call(nth(others, 0).url, stranger, 'GET', `${instance}/subscription`)
    t.equal(theirs.status, 404, 'another user cannot reach the instance through a non-owner')

    t.equal((await call(nth(others, 1).url, user, 'DELETE', instance)).status, 204, 'delete through a non-owner')
    const gone = await call(nth(others, 0).url, user, 'GET', `${instance}/subscription`)
    t.equal(gone.status, 404)
    t.equal((await gone.json() as { error_code: number }).error_code, 40403)
  })

  t.test('two users race for one namespace through different nodes: one wins', async t => {
    const [a, b] = [
      await newUser(t, cluster, nth(cluster.nodes, 0).url), await newUser(t, cluster, nth(cluster.nodes, 1).url)
    ] as [User, User]
    for (let round = 0; round < 5; round++) {
      const name = `race-${randomUUID().slice(0, 8)}`
      const [ra, rb] = await Promise.all([
        call(nth(cluster.nodes, 0).url, a, 'POST', `namespace/${name}`),
        call(nth(cluster.nodes, 1).url, b, 'POST', `namespace/${name}`)
      ])
      const statuses = [ra.status, rb.status].sort()
      t.same(statuses, [201, 409], `${name}: one claim created it, the other was refused (${statuses.join(', ')})`)
      const winner = ra.status === 201 ? a : b
      t.teardown(async () => { await call(cluster.url, winner, 'DELETE', `namespace/${name}`).catch(() => {}) })
      // Every node agrees on the owner.
      for (const node of cluster.nodes) {
        const res = await call(node.url, winner, 'GET', 'namespace')
        const body = await res.json() as { namespaces: Record<string, unknown> | string[] }
        t.ok(JSON.stringify(body).includes(name), `${node.id} lists ${name} for the winner`)
      }
    }
  })

  t.test('forwarding headers on a node\'s own port grant nothing without a valid signature', async t => {
    const user = await newUser(t, cluster)
    const group = shortName('g')
    const created = await call(nth(cluster.nodes, 0).url, user, 'POST', `${user.ns}/consumers/${group}`, {})
    const { instance_id: id } = await created.json() as { instance_id: string }
    t.equal(ownerOf(id), 'n1', 'created on n1')
    const url = `/api/v3/${user.ns}/consumers/${group}/instances/${id}/subscription`
    const target = nth(cluster.nodes, 0)
    const forged: Array<[string, Record<string, string>]> = [
      ['a made-up signature', { [FORWARDED_BY]: 'n2', [FORWARD_TIME]: String(Date.now()), [FORWARD_SIGNATURE]: 'AAAA' }],
      ['only the forwarded-by header', { [FORWARDED_BY]: 'n2' }],
      ['a signature made with another secret', signHop('not-the-cluster-secret-0123456789abcdef', { method: 'GET', url, authorization: `Bearer ${user.token}` }, 'n2', 'n1')],
      ['a valid signature for another node', signHop(cluster.secret, { method: 'GET', url, authorization: `Bearer ${user.token}` }, 'n2', 'n3')],
      ['an old valid signature', signHop(cluster.secret, { method: 'GET', url, authorization: `Bearer ${user.token}` }, 'n2', 'n1', Date.now() - 120_000)]
    ]
    for (const [what, headers] of forged) {
      const res = await call(target.url, user, 'GET', url, undefined, headers)
      t.equal(res.status, 401, `${what}: refused`)
      t.match(await res.json(), { error_code: 401 })
    }
    // The same request signed as a node signs it is served (so the refusals above are the signature's doing).
    const genuine = await call(target.url, user, 'GET', url, undefined, signHop(cluster.secret, { method: 'GET', url, authorization: `Bearer ${user.token}` }, 'n2', 'n1'))
    t.equal(genuine.status, 200, 'a genuine signature is accepted')
    // A valid signature never stands in for the user's token: the owner authenticates it again.
    const noToken = await fetch(`${target.url}${url}`, { headers: signHop(cluster.secret, { method: 'GET', url, authorization: undefined }, 'n2', 'n1') })
    t.equal(noToken.status, 401, 'a signed request without a token is still refused')
  })

  /** Create an instance named `name` through `base`: status, id, base_uri, error code. */
  const createNamed = async (
    base: string, user: User, group: string, name: string
  ): Promise<{ status: number, id?: string, baseUri?: string, code?: number, node: string | null }> => {
    const res = await call(base, user, 'POST', `${user.ns}/consumers/${group}`, { name })
    const body = await res.json() as { instance_id?: string, base_uri?: string, error_code?: number }
    return {
      status: res.status,
      ...(body.instance_id !== undefined ? { id: body.instance_id } : {}),
      ...(body.base_uri !== undefined ? { baseUri: body.base_uri } : {}),
      ...(body.error_code !== undefined ? { code: body.error_code } : {}),
      node: res.headers.get('x-diaspora-node')
    }
  }

  t.test('a requested name is unique in its group across the nodes, and the id is that name', async t => {
    const user = await newUser(t, cluster)
    const group = shortName('g')
    // Two nodes at once, through their own ports: one creates it, the other answers 409/40902.
    for (let round = 0; round < 3; round++) {
      const name = `worker-${round}`
      const [a, b] = await Promise.all([
        createNamed(nth(cluster.nodes, 0).url, user, group, name),
        createNamed(nth(cluster.nodes, 1).url, user, group, name)
      ])
      t.same([a.status, b.status].sort(), [200, 409], `${name}: one create through n1 or n2 wins`)
      const [won, lost] = a.status === 200 ? [a, b] : [b, a]
      t.equal(won.id, name, 'the id is the requested name')
      t.equal(won.baseUri, `${cluster.url}/api/v3/${user.ns}/consumers/${group}/instances/${name}`, 'base_uri ends in it, on the balancer')
      t.equal(lost.code, 40902, 'the other: 40902')
      // Every other node refuses it too, whichever it is.
      for (const node of cluster.nodes) {
        const again = await createNamed(node.url, user, group, name)
        t.same([again.status, again.code], [409, 40902], `${name} again through ${node.id}: 409/40902`)
      }
    }
    // Through the balancer (round robin: the creates land on different nodes): one 200, then 409s.
    const results = []
    for (let i = 0; i < 4; i++) results.push(await createNamed(cluster.url, user, group, 'via-balancer'))
    t.same(results.map(r => r.status), [200, 409, 409, 409], 'through the balancer: created once, then 409')
    t.same(results.slice(1).map(r => r.code), [40902, 40902, 40902])
    t.ok(new Set(results.map(r => r.node)).size >= 2, 'the creates reached several nodes')
    // The same name in another group is another instance.
    t.equal((await createNamed(cluster.url, user, shortName('g'), 'via-balancer')).status, 200, 'unique per group only')
    // Deleted, the name is free again (its claim released), on any node.
    const instance = `${user.ns}/consumers/${group}/instances/via-balancer`
    t.equal((await call(nth(cluster.nodes, 2).url, user, 'DELETE', instance)).status, 204, 'deleted through n3')
    const again = await createNamed(nth(cluster.nodes, 2).url, user, group, 'via-balancer')
    t.same([again.status, again.id], [200, 'via-balancer'], 'created again after the delete, same id')
    // Generated names keep naming their node.
    const generated = await call(cluster.url, user, 'POST', `${user.ns}/consumers/${group}`, {})
    t.ok(byId.has(ownerOf((await generated.json() as { instance_id: string }).instance_id) ?? ''), 'a generated id names its node')
  })

  t.test('a request for a claimed name reaches its holder from any node, and a stale route lasts one retry', async t => {
    const user = await newUser(t, cluster)
    const group = shortName('g')
    const [n1, n2, n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const instance = `${user.ns}/consumers/${group}/instances/reader`
    t.equal((await createNamed(n1.url, user, group, 'reader')).status, 200, 'created on n1')
    for (const node of [n2, n3, n1]) {
      const res = await call(node.url, user, 'GET', `${instance}/subscription`)
      t.equal(res.status, 200, `through ${node.id}`)
      t.equal(res.headers.get('x-diaspora-node'), 'n1', `through ${node.id}: answered by the holder n1`)
    }
    // n2 and n3 have a route to n1 now. The instance moves to n2 (deleted, created again there).
    t.equal((await call(n1.url, user, 'DELETE', instance)).status, 204)
    t.equal((await createNamed(n2.url, user, group, 'reader')).status, 200, 'created again on n2')
    // n3's route is stale: n1 no longer holds it, re-reads the claim and passes the request on to n2.
    const moved = await call(n3.url, user, 'GET', `${instance}/subscription`)
    t.equal(moved.status, 200, 'through n3 (stale route to n1): served')
    t.equal(moved.headers.get('x-diaspora-node'), 'n2', 'by the new holder n2')
    for (let i = 0; i < 3; i++) {
      const res = await call(n3.url, user, 'GET', `${instance}/subscription`)
      t.equal(res.headers.get('x-diaspora-node'), 'n2', 'n3 now routes to n2')
    }
    const direct = await call(n1.url, user, 'GET', `${instance}/subscription`)
    t.same([direct.status, direct.headers.get('x-diaspora-node')], [200, 'n2'], 'through n1, which held it before: n2')
    // A GET with a body through a non-holder reaches the holder.
    const committed = await getWithBody(`${n1.url}/api/v3/${instance}/offsets`, user, { partitions: [] })
    t.equal(committed.status, 200, 'a GET with a body through n1')
    // Deleted through a non-holder: gone everywhere.
    t.equal((await call(n3.url, user, 'DELETE', instance)).status, 204, 'deleted through n3')
    for (const node of cluster.nodes) {
      const gone = await call(node.url, user, 'GET', `${instance}/subscription`)
      t.same([gone.status, (await gone.json() as { error_code: number }).error_code], [404, 40403], `through ${node.id}: 40403`)
    }
  })

  t.test('a name held by a SIGKILLed node is created again on another node, with the same id', async t => {
    const user = await newUser(t, cluster)
    const group = shortName('g')
    const port = await freePort()
    const n4 = await startNode(t, 'n4', { ...cluster.env, PORT: String(port), NODE_ID: 'n4', NODE_URL: `http://127.0.0.1:${port}` })
    for (const name of ['early', 'late']) {
      const made = await createNamed(n4.url, user, group, name)
      t.same([made.status, made.id], [200, name], `${name} created on n4`)
      // Once the others have read n4's entry (a node just started), they reach it.
      await waitFor(`${name} on n4 through every node`, async () => {
        for (const node of cluster.nodes) {
          const via = await call(node.url, user, 'GET', `${user.ns}/consumers/${group}/instances/${name}/subscription`)
          if (via.status !== 200 || via.headers.get('x-diaspora-node') !== 'n4') return false
        }
        return true
      }, 15_000)
      t.pass(`${name} reached on n4 through every node`)
    }
    n4.child.kill('SIGKILL')
    await n4.exited
    // At once (n4 not yet expired): its port refuses, so its claim is taken over.
    const early = await createNamed(nth(cluster.nodes, 1).url, user, group, 'early')
    t.same([early.status, early.id], [200, 'early'], 'early: created again on n2 before n4 expired, same id')
    // Once n4's entry has expired (NODE_EXPIRY_MS 3 s), its claims are takeable without asking it.
    await sleep(3500)
    const late = await createNamed(nth(cluster.nodes, 2).url, user, group, 'late')
    t.same([late.status, late.id], [200, 'late'], 'late: created again on n3 after n4 expired, same id')
    for (const [name, holder] of [['early', 'n2'], ['late', 'n3']] as const) {
      for (const node of cluster.nodes) {
        const res = await call(node.url, user, 'GET', `${user.ns}/consumers/${group}/instances/${name}/subscription`)
        t.same([res.status, res.headers.get('x-diaspora-node')], [200, holder], `${name} through ${node.id}: held by ${holder}`)
      }
      t.same((await createNamed(cluster.url, user, group, name)).code, 40902, `${name} is taken again`)
    }
  })

  t.test('a killed node: the others answer its instances with 40403, and the SDK recovers', async t => {
    const user = await newUser(t, cluster)
    const topic = await newTopic(t, cluster, user)
    // The v2 family (the SDK's) acts in the default namespace; write four records there.
    for (let i = 0; i < 4; i++) await produce(cluster.url, user, topic, `r${i}`)
    const venv = ensureVenv({ dir: path.join(ROOT, '.venv-sdk'), requirements: path.join(ROOT, 'test', 'sdk', 'requirements.txt'), log: (line) => t.comment(line) })
    const noProxy = [process.env.NO_PROXY ?? process.env.no_proxy, '127.0.0.1', 'localhost'].filter(Boolean).join(',')
    const child = spawn(venv.bin('python'), [path.join(ROOT, 'test', 'sdk', 'cluster_failover.py')], {
      cwd: path.join(ROOT, 'test', 'sdk'),
      env: {
        ...process.env,
        NO_PROXY: noProxy,
        no_proxy: noProxy,
        PYTHONUNBUFFERED: '1',
        PYTHONDONTWRITEBYTECODE: '1',
        DIASPORA_TEST_BASE_URL: cluster.url,
        DIASPORA_TEST_TOKEN: user.token,
        DIASPORA_TEST_SUBJECT: user.subject,
        DIASPORA_TEST_TOPIC: topic,
        DIASPORA_TEST_GROUP: shortName('g'),
        DIASPORA_TEST_COUNT: '4'
      },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    const exited = new Promise<number | null>(resolve => child.once('close', code => resolve(code)))
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const next = async (): Promise<{ base_uri: string, name: string, records: string[] }> => {
      const r = await lines.next()
      if (r.done === true) throw new Error(`the SDK script ended early (${await exited}):\n${stderr}`)
      return JSON.parse(r.value) as { base_uri: string, name: string, records: string[] }
    }
    const first = await next()
    t.same([...first.records].sort(), ['r0', 'r1', 'r2', 'r3'], 'the SDK read the records before')
    const owner = ownerOf(first.name)
    const victim = owner === undefined ? undefined : byId.get(owner)
    t.ok(victim, `the SDK's instance ${first.name} names a node`)
    if (!victim) return
    const survivors = cluster.nodes.filter(n => n !== victim)
    victim.child.kill('SIGKILL')
    await victim.exited
    const instancePath = new URL(first.base_uri).pathname
    for (const node of survivors) {
      const res = await call(node.url, user, 'GET', `${instancePath}/subscription`)
      t.equal(res.status, 404, `${node.id} answers the dead node's instance with 404`)
      t.equal((await res.json() as { error_code: number }).error_code, 40403, 'and 40403')
    }
    child.stdin.write('go\n')
    const second = await next()
    t.equal(await exited, 0, `the SDK script exits 0:\n${stderr}`)
    t.equal(second.name, first.name, `the SDK created its instance again on a live node, under the same id (${second.name})`)
    t.equal(second.base_uri, first.base_uri, 'and the same base_uri')
    t.same([...second.records].sort(), ['r0', 'r1', 'r2', 'r3'], 'and read on (nothing committed: from the start)')
    // Once its entry has expired (NODE_EXPIRY_MS 3 s), the others no longer try it: still 40403.
    await sleep(3500)
    const expired = await call(nth(survivors, 0).url, user, 'GET', `${instancePath}/subscription`)
    t.equal(expired.status, 404, 'after the dead node expired: 404')
    t.equal((await expired.json() as { error_code: number }).error_code, 40403, 'and 40403')
  })

  t.test('SIGTERM: the node leaves the directory first, then its instances leave their groups', async t => {
    const live = cluster.nodes.filter(n => n.child.exitCode === null && n.child.signalCode === null)
    t.ok(live.length >= 2, 'two nodes left')
    const [leaving, staying] = live as [typeof live[0], typeof live[0]]
    const user = await newUser(t, cluster, staying.url)
    const topic = await newTopic(t, cluster, user)
    const group = shortName('g')
    const created = await call(leaving.url, user, 'POST', `${user.ns}/consumers/${group}`, { 'auto.offset.reset': 'earliest' })
    const { instance_id: id } = await created.json() as { instance_id: string }
    t.equal(ownerOf(id), leaving.id)
    t.equal((await createNamed(leaving.url, user, group, 'named')).status, 200, 'a named instance on the leaving node')
    const instance = `${user.ns}/consumers/${group}/instances/${id}`
    t.equal((await call(staying.url, user, 'POST', `${instance}/subscription`, { topics: [topic] })).status, 204)
    await produce(staying.url, user, topic, 'x')
    t.same(await readThrough(staying.url, user, instance, 1), ['x'], 'read through the other node')
    const admin = testKafka().admin()
    await admin.connect()
    t.teardown(() => admin.disconnect())
    const kafkaGroup = `${user.ns}.${group}`
    t.equal((await admin.describeGroups([kafkaGroup])).groups[0]?.members.length, 1, 'the instance is a member of its group')

    // A long poll forwarded to the leaving node: it returns (drained) rather than being cut.
    const poll = call(staying.url, user, 'GET', `${instance}/records?timeout=20000`, undefined, { accept: BINARY })
    await sleep(300)
    leaving.child.kill('SIGTERM')
    const polled = await poll
    t.equal(polled.status, 200, 'the forwarded long poll returned 200 when the node drained')
    t.same(await leaving.exited, { code: 0, signal: null }, 'the node exited 0 within its grace period')
    const msgs = leaving.lines.map(l => {
      try { return (JSON.parse(l) as { msg?: string }).msg } catch { return undefined }
    })
    const left = msgs.indexOf('left the node directory')
    t.ok(left >= 0 && left < msgs.indexOf('closed'), 'it left the node directory, then closed')
    const items = (await rawClient(t).send(new ScanCommand({
      TableName: cluster.env.NODES_TABLE_NAME, ConsistentRead: true
    }))).Items ?? []
    t.notOk(items.some(i => i.node_id?.S === leaving.id), 'its entry is gone from the node directory')
    const claims = (await rawClient(t).send(new ScanCommand({
      TableName: cluster.env.INSTANCES_TABLE_NAME, ConsistentRead: true
    }))).Items ?? []
    t.notOk(claims.some(i => i.node_id?.S === leaving.id), 'its name claims are released')
    const renamed = await createNamed(staying.url, user, group, 'named')
    t.same([renamed.status, renamed.id], [200, 'named'], 'its named instance is created again on the other node')
    const { groups } = await admin.describeGroups([kafkaGroup])
    t.same(groups[0]?.members, [], 'its instance left the group')
    const gone = await call(staying.url, user, 'GET', `${instance}/subscription`)
    t.equal(gone.status, 404, 'its instance answers 404 on the other node')
    t.equal((await gone.json() as { error_code: number }).error_code, 40403)
  })
})
