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
import { startCluster, type Cluster } from '../helpers/cluster.js'
import { BINARY, V2, shortName } from '../helpers/api.js'
import { testKafka } from '../helpers/broker.js'
import { sleep } from '../helpers/wait.js'
import { rawClient } from '../helpers/dynamo.js'
import { ScanCommand } from '@aws-sdk/client-dynamodb'
import { defaultNamespace } from '../../plugins/namespaces/names.js'
import { ownerOf } from '../../plugins/cluster/instance-id.js'
import { FORWARDED_BY, FORWARD_SIGNATURE, FORWARD_TIME, signHop } from '../../plugins/cluster/hop-auth.js'
import { ROOT } from '../../scripts/broker.js'
import { ensureVenv } from '../../scripts/venv.js'

t.setTimeout(10 * 60_000)

interface User { subject: string, token: string, ns: string }

function call (base: string, user: User, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
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
    const sub = await call(others[0]!.url, user, 'POST', `${instance}/subscription`, { topics: [topic] })
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
    const values = await readThrough(others[1]!.url, user, instance, 3)
    t.same(values.sort(), cluster.nodes.map(n => `from-${n.id}`).sort(), 'every record produced through any node, fetched through a non-owner')

    // A long poll through a non-owner waits on the owner and returns the record produced meanwhile.
    const poll = call(others[0]!.url, user, 'GET', `${instance}/records?timeout=20000`, undefined, { accept: BINARY })
    await produce(others[1]!.url, user, topic, 'late')
    const polled = await poll
    t.equal(polled.status, 200)
    t.same((await polled.json() as Array<{ value: string }>).map(r => Buffer.from(r.value, 'base64').toString()), ['late'], 'the long poll through a non-owner returned the late record')

    // Commit through one non-owner, read the committed offsets (a GET with a body) through the other.
    t.equal((await call(others[0]!.url, user, 'POST', `${instance}/offsets`)).status, 200, 'commit through a non-owner')
    const committed = await getWithBody(`${others[1]!.url}/api/v3/${instance}/offsets`, user, { partitions: [{ topic, partition: 0 }] })
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
    const theirs = await call(others[0]!.url, stranger, 'GET', `${instance}/subscription`)
    t.equal(theirs.status, 404, 'another user cannot reach the instance through a non-owner')

    t.equal((await call(others[1]!.url, user, 'DELETE', instance)).status, 204, 'delete through a non-owner')
    const gone = await call(others[0]!.url, user, 'GET', `${instance}/subscription`)
    t.equal(gone.status, 404)
    t.equal((await gone.json() as { error_code: number }).error_code, 40403)
  })

  t.test('two users race for one namespace through different nodes: one wins', async t => {
    const [a, b] = [await newUser(t, cluster, cluster.nodes[0]!.url), await newUser(t, cluster, cluster.nodes[1]!.url)] as [User, User]
    for (let round = 0; round < 5; round++) {
      const name = `race-${randomUUID().slice(0, 8)}`
      const [ra, rb] = await Promise.all([
        call(cluster.nodes[0]!.url, a, 'POST', `namespace/${name}`),
        call(cluster.nodes[1]!.url, b, 'POST', `namespace/${name}`)
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
    const created = await call(cluster.nodes[0]!.url, user, 'POST', `${user.ns}/consumers/${group}`, {})
    const { instance_id: id } = await created.json() as { instance_id: string }
    t.equal(ownerOf(id), 'n1', 'created on n1')
    const url = `/api/v3/${user.ns}/consumers/${group}/instances/${id}/subscription`
    const target = cluster.nodes[0]!
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
    t.not(ownerOf(second.name), victim.id, `the SDK created its instance again on a live node (${second.name})`)
    t.same([...second.records].sort(), ['r0', 'r1', 'r2', 'r3'], 'and read on (nothing committed: from the start)')
    // Once its entry has expired (NODE_EXPIRY_MS 3 s), the others no longer try it: still 40403.
    await sleep(3500)
    const expired = await call(survivors[0]!.url, user, 'GET', `${instancePath}/subscription`)
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
    const msgs = leaving.lines.map(l => { try { return (JSON.parse(l) as { msg?: string }).msg } catch { return undefined } })
    const left = msgs.indexOf('left the node directory')
    t.ok(left >= 0 && left < msgs.indexOf('closed'), 'it left the node directory, then closed')
    const items = (await rawClient(t).send(new ScanCommand({ TableName: cluster.env.NODES_TABLE_NAME, ConsistentRead: true }))).Items ?? []
    t.notOk(items.some(i => i.node_id?.S === leaving.id), 'its entry is gone from the node directory')
    const { groups } = await admin.describeGroups([kafkaGroup])
    t.same(groups[0]?.members, [], 'its instance left the group')
    const gone = await call(staying.url, user, 'GET', `${instance}/subscription`)
    t.equal(gone.status, 404, 'its instance answers 404 on the other node')
    t.equal((await gone.json() as { error_code: number }).error_code, 40403)
  })
})
