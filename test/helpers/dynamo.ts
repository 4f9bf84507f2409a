/**
 * Helpers for the DynamoDB metadata store's tests. They run against moto in server mode (AWS itself cannot
 * exist here), which `npm test` starts and names in DYNAMODB_TEST_ENDPOINT (scripts/moto.ts), with dummy
 * credentials in the environment. Every test gets tables of its own (unique names), so tests in parallel
 * never meet.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue
} from '@aws-sdk/client-dynamodb'
import { DynamoMetadataStore, type DynamoStoreOptions, type DynamoTables } from '../../plugins/namespaces/dynamo-store.js'
import type { TopicSettings } from '../../plugins/namespaces/store.js'
import type { Teardownable } from './broker.js'

export const TEST_REGION = 'us-east-1'

/** The moto endpoint of this run; a clear failure (not a skip) without one. */
export function dynamoEndpoint (): string {
  const e = process.env.DYNAMODB_TEST_ENDPOINT
  if (e === undefined || e === '') {
    throw new Error('DYNAMODB_TEST_ENDPOINT is not set: run the tests with `npm test`, which starts moto (scripts/moto.ts)')
  }
  return e
}

export const TEST_DEFAULTS: TopicSettings = { num_partitions: 1, replication_factor: 1, configs: {} }

/** A raw SDK client on the moto endpoint, destroyed at teardown. */
export function rawClient (t: Teardownable, endpoint = dynamoEndpoint()): DynamoDBClient {
  const client = new DynamoDBClient({ region: TEST_REGION, endpoint })
  t.teardown(() => client.destroy())
  return client
}

/** Fresh, unique table names (not created yet). */
export function uniqueTables (): DynamoTables {
  const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  return { users: `users-${id}`, namespaces: `namespaces-${id}`, keys: `keys-${id}` }
}

/** Create the tables as the existing service has them (on demand, one string hash key each); dropped at teardown. */
export async function createTables (t: Teardownable, tables: DynamoTables = uniqueTables()): Promise<DynamoTables> {
  const client = rawClient(t)
  const spec: Array<[string, string]> = [[tables.users, 'subject'], [tables.namespaces, 'namespace'], [tables.keys, 'subject']]
  for (const [name, key] of spec) {
    await client.send(new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }]
    }))
  }
  dropAtTeardown(t, tables)
  return tables
}

export function dropAtTeardown (t: Teardownable, tables: DynamoTables): void {
  t.teardown(async () => {
    const client = new DynamoDBClient({ region: TEST_REGION, endpoint: dynamoEndpoint() })
    for (const name of [tables.users, tables.namespaces, tables.keys]) {
      await client.send(new DeleteTableCommand({ TableName: name })).catch(() => {})
    }
    client.destroy()
  })
}

/** A store over `tables` on moto (as one node), closed at teardown. */
export async function openDynamoStore (
  t: Teardownable,
  tables: DynamoTables,
  opts: Partial<DynamoStoreOptions> = {}
): Promise<DynamoMetadataStore> {
  const store = await DynamoMetadataStore.open({
    tables,
    region: TEST_REGION,
    endpoint: dynamoEndpoint(),
    defaultSettings: TEST_DEFAULTS,
    ...opts
  })
  t.teardown(() => store.close())
  return store
}

export async function putRaw (
  client: DynamoDBClient,
  table: string,
  item: Record<string, AttributeValue>
): Promise<void> {
  await client.send(new PutItemCommand({ TableName: table, Item: item }))
}

export async function getRaw (
  client: DynamoDBClient,
  table: string,
  key: Record<string, AttributeValue>
): Promise<Record<string, AttributeValue> | undefined> {
  return (await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item
}

/**
 * A TCP relay to moto that can be cut, as a DynamoDB endpoint that stops answering. A cut relay keeps its
 * port and resets every connection: closing it would free the port for another test's listener.
 */
export async function relay (t: Teardownable): Promise<{ endpoint: string, cut: () => Promise<void> }> {
  const target = new URL(dynamoEndpoint())
  const sockets = new Set<net.Socket>()
  let cutOff = false
  const server = net.createServer(client => {
    if (cutOff) { client.resetAndDestroy(); return }
    const upstream = net.connect(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    client.pipe(upstream).pipe(client)
    const end = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address() as net.AddressInfo
  const cut = async (): Promise<void> => {
    cutOff = true
    for (const s of sockets) s.destroy()
  }
  t.teardown(async () => {
    await cut()
    await new Promise<void>(resolve => server.close(() => resolve()))
  })
  return { endpoint: `http://127.0.0.1:${addr.port}`, cut }
}

export interface FaultProxy {
  endpoint: string
  /** Requests seen, by DynamoDB operation (the X-Amz-Target suffix). */
  seen: string[]
  /** Answer the next `count` requests of `operation` (any when undefined) with `fault` instead of forwarding. */
  inject (fault: 'throttle' | 'transaction-throttle', count: number, operation?: string): void
}

/**
 * An HTTP proxy to moto that answers chosen requests with DynamoDB's throttling errors, as a busy table
 * would, and forwards the rest.
 */
export async function faultProxy (t: Teardownable): Promise<FaultProxy> {
  const target = dynamoEndpoint()
  const faults: Array<{ fault: 'throttle' | 'transaction-throttle', operation: string | undefined }> = []
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? ''
      seen.push(operation)
      const i = faults.findIndex(f => f.operation === undefined || f.operation === operation)
      if (i >= 0) {
        const [f] = faults.splice(i, 1)
        const body = f?.fault === 'throttle'
          ? { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'The level of configured provisioned throughput for the table was exceeded.' }
          : { __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException', message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError]', CancellationReasons: [{ Code: 'ThrottlingError', Message: 'Throughput exceeds the current capacity for one or more global secondary indexes.' }] }
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' })
        res.end(JSON.stringify(body))
        return
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'host' && e[0] !== 'content-length'))
      fetch(`${target}${req.url ?? '/'}`, { method: req.method, headers, body: Buffer.concat(chunks) })
        .then(async r => {
          const body = Buffer.from(await r.arrayBuffer())
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/x-amz-json-1.0' })
          res.end(body)
        }, () => { res.writeHead(502); res.end() })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const addr = server.address() as net.AddressInfo
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    seen,
    inject (fault, count, operation) { for (let i = 0; i < count; i++) faults.push({ fault, operation }) }
  }
}
