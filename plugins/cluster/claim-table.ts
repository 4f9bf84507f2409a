/**
 * The DynamoDB table of instance-name claims (INSTANCES_TABLE_NAME, hash key `instance_key`), a table of its own
 * like the node table. One item per explicitly named consumer instance: `instance_key` (S, `{namespace}/{group}/
 * {name}`: none of the three holds a `/`), `node_id` and `incarnation` (S, the holder: a node and its process
 * start) and `claimed_at` (N, epoch ms). Every write is conditional, so two nodes racing for one name end with
 * one holder: a new claim needs no item, a takeover needs the old holder unchanged, a release needs the caller
 * to be the holder. Plain module.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClient
} from '@aws-sdk/client-dynamodb'
import { clusterClient, ensureTable, type NodeTableOptions } from './node-table.js'

export interface Holder {
  node: string
  incarnation: string
}

export interface Claim extends Holder {
  key: string
  /** Epoch ms of the claim. */
  at: number
}

/** Where claims live (the DynamoDB table; a map in unit tests). */
export interface ClaimStore {
  /**
   * Put `claim` if the key has no claim, or (with `old`) if its claim is still `old`'s; false when the condition
   * fails.
   */
  put (claim: Claim, old?: Holder): Promise<boolean>
  /** The key's claim (a strongly consistent read), or undefined. */
  get (key: string): Promise<Claim | undefined>
  /** Delete the key's claim if `holder` holds it; false when it does not. */
  release (key: string, holder: Holder): Promise<boolean>
  close (): void
}

export class DynamoClaimTable implements ClaimStore {
  private constructor (private readonly client: DynamoDBClient, private readonly table: string) {}

  static async open (opts: NodeTableOptions): Promise<DynamoClaimTable> {
    const client = clusterClient(opts)
    try {
      await ensureTable(client, { table: opts.table, variable: 'INSTANCES_TABLE_NAME', hashKey: 'instance_key', what: 'where the nodes claim consumer instance names' }, opts.createTable === true)
    } catch (err) {
      client.destroy()
      throw err
    }
    return new DynamoClaimTable(client, opts.table)
  }

  async put (claim: Claim, old?: Holder): Promise<boolean> {
    try {
      await this.client.send(new PutItemCommand({
        TableName: this.table,
        Item: {
          instance_key: { S: claim.key },
          node_id: { S: claim.node },
          incarnation: { S: claim.incarnation },
          claimed_at: { N: String(claim.at) }
        },
        ...(old === undefined
          ? { ConditionExpression: 'attribute_not_exists(instance_key)' }
          : {
              ConditionExpression: 'node_id = :node AND incarnation = :inc',
              ExpressionAttributeValues: { ':node': { S: old.node }, ':inc': { S: old.incarnation } }
            })
      }))
      return true
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false
      throw err
    }
  }

  async get (key: string): Promise<Claim | undefined> {
    const { Item: item } = await this.client.send(new GetItemCommand({
      TableName: this.table, Key: { instance_key: { S: key } }, ConsistentRead: true
    }))
    const node = item?.node_id?.S
    const incarnation = item?.incarnation?.S
    if (node === undefined || incarnation === undefined) return undefined
    return { key, node, incarnation, at: Number(item?.claimed_at?.N ?? 0) }
  }

  async release (key: string, holder: Holder): Promise<boolean> {
    try {
      await this.client.send(new DeleteItemCommand({
        TableName: this.table,
        Key: { instance_key: { S: key } },
        ConditionExpression: 'node_id = :node AND incarnation = :inc',
        ExpressionAttributeValues: { ':node': { S: holder.node }, ':inc': { S: holder.incarnation } }
      }))
      return true
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false
      throw err
    }
  }

  close (): void { this.client.destroy() }
}
