/**
 * The DynamoDB table of live nodes (NODES_TABLE_NAME, hash key `node_id`), a table of its own so the existing
 * service's tables hold nothing it does not know. One item per node: `url` (S, its NODE_URL), `heartbeat`
 * (N, epoch ms of its last renewal, by its own clock) and `incarnation` (S, random per process start), so
 * that a second process started with a live node's id is refused and a restarted node takes its id back once
 * the old entry has expired. Plain module.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  UpdateItemCommand,
  waitUntilTableExists,
  type AttributeValue,
  type DynamoDBClientConfig
} from '@aws-sdk/client-dynamodb'

export interface NodeEntry {
  id: string
  url: string
  /** Epoch ms of the node's last heartbeat. */
  heartbeat: number
  /**
   * The process start it belongs to (claims of instance names name it: a restarted node holds none of the old
   * ones).
   */
  incarnation?: string
}

/** Where nodes register (the DynamoDB table; a fake in unit tests). */
export interface NodeDirectory {
  /** Enter this node; false when another incarnation holds the id and has heartbeated within `expiryMs`. */
  register (entry: NodeEntry, incarnation: string, expiryMs: number): Promise<boolean>
  /** Renew this node's heartbeat; false when the entry is no longer this incarnation's. */
  heartbeat (entry: NodeEntry, incarnation: string): Promise<boolean>
  /** Every entry (live or not). */
  list (): Promise<NodeEntry[]>
  /** Remove this node's entry (if still this incarnation's). */
  deregister (id: string, incarnation: string): Promise<void>
  close (): void
}

export interface NodeTableOptions {
  table: string
  region?: string
  endpoint?: string
  createTable?: boolean
  clientConfig?: DynamoDBClientConfig
}

type Item = Record<string, AttributeValue>

function decode (item: Item): NodeEntry | undefined {
  const id = item.node_id?.S
  const url = item.url?.S
  const heartbeat = Number(item.heartbeat?.N)
  if (id === undefined || url === undefined || !Number.isFinite(heartbeat)) return undefined
  const incarnation = item.incarnation?.S
  return { id, url, heartbeat, ...(incarnation !== undefined ? { incarnation } : {}) }
}

export class DynamoNodeTable implements NodeDirectory {
  private constructor (private readonly client: DynamoDBClient, private readonly table: string) {}

  /** Connect and check the table (creating it when asked); a missing table fails with a message naming it. */
  static async open (opts: NodeTableOptions): Promise<DynamoNodeTable> {
    const client = clusterClient(opts)
    try {
      await ensureTable(client, { table: opts.table, variable: 'NODES_TABLE_NAME', hashKey: 'node_id', what: 'where the nodes register' }, opts.createTable === true)
    } catch (err) {
      client.destroy()
      throw err
    }
    return new DynamoNodeTable(client, opts.table)
  }

  async register (entry: NodeEntry, incarnation: string, expiryMs: number): Promise<boolean> {
    try {
      await this.client.send(new PutItemCommand({
        TableName: this.table,
        Item: {
          node_id: { S: entry.id },
          url: { S: entry.url },
          heartbeat: { N: String(entry.heartbeat) },
          incarnation: { S: incarnation }
        },
        ConditionExpression: 'attribute_not_exists(node_id) OR heartbeat < :stale OR incarnation = :me',
        ExpressionAttributeValues: { ':stale': { N: String(entry.heartbeat - expiryMs) }, ':me': { S: incarnation } }
      }))
      return true
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false
      throw err
    }
  }

  async heartbeat (entry: NodeEntry, incarnation: string): Promise<boolean> {
    try {
      await this.client.send(new UpdateItemCommand({
        TableName: this.table,
        Key: { node_id: { S: entry.id } },
        UpdateExpression: 'SET heartbeat = :now, #url = :url',
        ConditionExpression: 'incarnation = :me',
        ExpressionAttributeNames: { '#url': 'url' },
        ExpressionAttributeValues: { ':now': { N: String(entry.heartbeat) }, ':url': { S: entry.url }, ':me': { S: incarnation } }
      }))
      return true
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false
      throw err
    }
  }

  async list (): Promise<NodeEntry[]> {
    const out: NodeEntry[] = []
    let start: Item | undefined
    do {
      const page = await this.client.send(new ScanCommand({
        TableName: this.table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {})
      }))
      for (const item of page.Items ?? []) {
        const e = decode(item)
        if (e) out.push(e)
      }
      start = page.LastEvaluatedKey
    } while (start !== undefined)
    return out
  }

  async deregister (id: string, incarnation: string): Promise<void> {
    try {
      await this.client.send(new DeleteItemCommand({
        TableName: this.table,
        Key: { node_id: { S: id } },
        ConditionExpression: 'incarnation = :me',
        ExpressionAttributeValues: { ':me': { S: incarnation } }
      }))
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err
    }
  }

  close (): void { this.client.destroy() }
}

/** The DynamoDB client of the cluster's tables: short timeouts (a node waiting on DynamoDB is a node not answering). */
export function clusterClient (opts: Omit<NodeTableOptions, 'table' | 'createTable'>): DynamoDBClient {
  return new DynamoDBClient({
    ...opts.clientConfig,
    ...(opts.region !== undefined ? { region: opts.region } : {}),
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    maxAttempts: 3,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 2000, requestTimeout: 3000 }
  })
}

export interface TableSpec {
  table: string
  /** The configuration variable naming it (for messages). */
  variable: string
  /** Its string hash key. */
  hashKey: string
  /** What it holds, for messages ("where the nodes register"). */
  what: string
}

/**
 * Check a table of the cluster (creating it, on demand, when asked); a missing table fails with a message naming
 * it.
 */
export async function ensureTable (client: DynamoDBClient, spec: TableSpec, create: boolean): Promise<void> {
  const { table, variable, hashKey, what } = spec
  try {
    await client.send(new DescribeTableCommand({ TableName: table }))
    return
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw startError(err, variable)
  }
  if (!create) {
    throw new Error(`The DynamoDB table ${table} (${variable}), ${what}, does not exist. Create it (on demand, ` +
      `hash key "${hashKey}" of type S), point ${variable} at an existing one, or set METADATA_CREATE_TABLES=true to let the service create it.`)
  }
  try {
    await client.send(new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: hashKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: hashKey, KeyType: 'HASH' }]
    }))
  } catch (err) {
    // Another node creates it at the same moment: wait for it like for ours.
    if (!(err instanceof ResourceInUseException)) throw startError(err, variable)
  }
  try {
    await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { TableName: table })
  } catch (err) {
    throw startError(err, variable)
  }
}

function startError (err: unknown, variable: string): Error {
  const what = err instanceof Error ? `${err.name}: ${err.message.slice(0, 300)}` : String(err)
  return new Error(`Cannot use the DynamoDB table ${variable}: ${what}. Check AWS_REGION, the credentials and AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL).`, { cause: err })
}
