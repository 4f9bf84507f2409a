/**
 * SCRAM users (the port's ScramUsers, ../admin.ts) through Kafka's admin API: AlterUserScramCredentials (API
 * key 51, KIP-554), which kafkajs does not implement. The request is encoded here (flexible version 0) and sent
 * over a connection of a kafkajs cluster built from the service's own client settings, so TLS, SASL and
 * re-authentication are kafkajs' tested code and only this one request body is new. The salted password
 * (PBKDF2-HMAC-SHA512) is computed here, as the Java admin client does: the password itself never leaves the
 * process.
 *
 * Why not a library: no maintained Node client of kafkajs' family implements KIP-554 (kafkajs 2.2.4 is the
 * pinned client; the librdkafka binding would add a native dependency for one request).
 * Failures are the port's KafkaError.
 */
import { pbkdf2, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import type { Kafka } from 'kafkajs'
import type { ScramUsers } from '../admin.js'
import { KafkaError } from '../driver.js'
import { toKafkaError } from './errors.js'

const require = createRequire(import.meta.url)
const pbkdf2Async = promisify(pbkdf2)

export const ALTER_USER_SCRAM_CREDENTIALS = 51
/** ScramMechanism ids of the protocol. */
export const SCRAM_SHA_512 = 2
/** Above Kafka's minimum of 4096 (and its default); each login costs the broker this many HMACs. */
export const SCRAM_ITERATIONS = 8192
/** Kafka error codes met here. */
const RESOURCE_NOT_FOUND = 91

interface EncoderT {
  writeInt8 (v: number): EncoderT
  writeInt16 (v: number): EncoderT
  writeInt32 (v: number): EncoderT
  writeUVarInt (v: number): EncoderT
  writeBuffer (b: Buffer): EncoderT
  buffer: Buffer
}
interface DecoderT {
  readInt16 (): number
  readInt32 (): number
  readUVarInt (): number
  readBytes (n: number): Buffer
  readTaggedFields (): void
}
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => EncoderT
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => DecoderT

export interface ScramUpsertion { user: string, iterations: number, salt: Buffer, saltedPassword: Buffer }
export interface ScramResult { user: string, errorCode: number, errorMessage: string | null }

/** SaltedPassword of RFC 5802 for SHA-512: Hi(password, salt, i) = PBKDF2-HMAC-SHA512, 64 bytes. */
export async function saltedPassword (password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return pbkdf2Async(password.normalize('NFKC'), salt, iterations, 64, 'sha512')
}

export async function scramUpsertion (
  user: string,
  password: string,
  iterations = SCRAM_ITERATIONS
): Promise<ScramUpsertion> {
  const salt = randomBytes(32)
  return { user, iterations, salt, saltedPassword: await saltedPassword(password, salt, iterations) }
}

function compactString (e: EncoderT, s: string): void {
  const b = Buffer.from(s, 'utf8')
  e.writeUVarInt(b.length + 1).writeBuffer(b)
}

function compactBytes (e: EncoderT, b: Buffer): void {
  e.writeUVarInt(b.length + 1).writeBuffer(b)
}

/**
 * The body of AlterUserScramCredentials v0, preceded by the empty tagged fields of request header v2: kafkajs
 * writes header v1 (api key, version, correlation id, client id), so the header's tag buffer goes first here.
 */
export function encodeAlterScram (deletions: string[], upsertions: ScramUpsertion[]): Buffer {
  return alterScramEncoder(deletions, upsertions).buffer
}

function alterScramEncoder (deletions: string[], upsertions: ScramUpsertion[]): EncoderT {
  const e = new Encoder()
  e.writeUVarInt(0) // request header v2: no tagged fields
  e.writeUVarInt(deletions.length + 1)
  for (const user of deletions) {
    compactString(e, user)
    e.writeInt8(SCRAM_SHA_512)
    e.writeUVarInt(0)
  }
  e.writeUVarInt(upsertions.length + 1)
  for (const u of upsertions) {
    compactString(e, u.user)
    e.writeInt8(SCRAM_SHA_512)
    e.writeInt32(u.iterations)
    compactBytes(e, u.salt)
    compactBytes(e, u.saltedPassword)
    e.writeUVarInt(0)
  }
  e.writeUVarInt(0) // body: no tagged fields
  return e
}

function readCompactString (d: DecoderT): string | null {
  const n = d.readUVarInt()
  return n === 0 ? null : d.readBytes(n - 1).toString('utf8')
}

/** Response header v1 (its tag buffer; kafkajs has read the correlation id) and body of v0. */
export function decodeAlterScram (payload: Buffer): ScramResult[] {
  const d = new Decoder(payload)
  d.readTaggedFields()
  d.readInt32() // throttle time
  const n = d.readUVarInt() - 1
  const out: ScramResult[] = []
  for (let i = 0; i < n; i++) {
    const user = readCompactString(d) ?? ''
    const errorCode = d.readInt16()
    const errorMessage = readCompactString(d)
    d.readTaggedFields()
    out.push({ user, errorCode, errorMessage })
  }
  return out
}

interface BrokerT {
  versions: Record<number, { minVersion: number, maxVersion: number }> | null
  connectionPool: { send (r: { request: unknown, response: unknown }): Promise<unknown> }
}
interface ClusterT {
  connect (): Promise<void>
  disconnect (): Promise<void>
  refreshMetadata (): Promise<void>
  findControllerBroker (): Promise<BrokerT>
}

/** kafkajs' private cluster factory of a Kafka object (src/index.js: PRIVATE.CREATE_CLUSTER). */
function createCluster (kafka: Kafka): ClusterT {
  const symbol = Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')
  const factory = symbol === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[symbol]
  if (typeof factory !== 'function') throw new Error('kafkajs internals changed: no cluster factory (kafkajs 2.2.4 is pinned)')
  return (factory as (o: object) => ClusterT)({ allowAutoTopicCreation: false })
}

/**
 * Creates, replaces and deletes SCRAM-SHA-512 users. The request goes to the controller broker as kafkajs
 * finds it (a KRaft broker forwards it to the active controller). The principal needs ALTER on the cluster
 * (a super user, say).
 */
export class KafkajsScramUsers implements ScramUsers {
  #kafka: Kafka
  #cluster: ClusterT | undefined

  constructor (kafka: Kafka) {
    this.#kafka = kafka
  }

  /** Create or replace `user`'s SCRAM-SHA-512 credential. */
  async upsert (user: string, password: string): Promise<void> {
    const [result] = await this.#alter([], [await scramUpsertion(user, password)])
    if (result !== undefined && result.errorCode !== 0) throw failure('create', result)
  }

  /** Delete `user`'s SCRAM-SHA-512 credential; false when it had none. */
  async delete (user: string): Promise<boolean> {
    const [result] = await this.#alter([user], [])
    if (result === undefined || result.errorCode === 0) return true
    if (result.errorCode === RESOURCE_NOT_FOUND) return false
    throw failure('delete', result)
  }

  async close (): Promise<void> {
    const cluster = this.#cluster
    this.#cluster = undefined
    await cluster?.disconnect().catch(() => {})
  }

  async #alter (deletions: string[], upsertions: ScramUpsertion[]): Promise<ScramResult[]> {
    const cluster = this.#cluster ??= createCluster(this.#kafka)
    try {
      await cluster.connect()
      await cluster.refreshMetadata()
      const broker = await cluster.findControllerBroker()
      const supported = broker.versions?.[ALTER_USER_SCRAM_CREDENTIALS]
      if (supported === undefined) {
        throw new KafkaError('The Kafka cluster does not support AlterUserScramCredentials (needs Kafka 2.7+, KRaft metadata 3.5+)', { kind: 'UNSUPPORTED_VERSION' })
      }
      const request = {
        apiKey: ALTER_USER_SCRAM_CREDENTIALS,
        apiVersion: 0,
        apiName: 'AlterUserScramCredentials',
        encode: async () => alterScramEncoder(deletions, upsertions),
        expectResponse: () => true
      }
      const response = {
        decode: async (payload: Buffer) => decodeAlterScram(payload),
        parse: async (results: ScramResult[]) => results
      }
      return await broker.connectionPool.send({ request, response }) as ScramResult[]
    } catch (err) {
      if (err instanceof KafkaError) throw err
      // A broken connection is rebuilt on the next call.
      await this.close()
      throw toKafkaError(err)
    }
  }
}

/**
 * A broker's answer other than success, without any credential in it (the broker's message names the user at
 * most). No kind: whatever Kafka's reason, the caller's request did not cause it (the service's principal
 * lacks a right, the cluster refuses), so it maps to a server-side failure.
 */
function failure (what: string, r: ScramResult): KafkaError {
  return new KafkaError(`Kafka refused to ${what} the SCRAM credential of ${r.user} (error ${r.errorCode}${r.errorMessage ? `: ${r.errorMessage}` : ''})`)
}
