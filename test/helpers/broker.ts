// Helpers for tests that talk to the local broker started by scripts/test.ts (or `npm run broker -- start`).
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs'

/** The part of a tap Test that the helpers need, so they work with any test object. */
export interface Teardownable {
  teardown (fn: () => unknown): void
}

function brokerList (value: string | undefined, fallback: string): string[] {
  return (value || fallback).split(',').map((b) => b.trim()).filter((b) => b !== '')
}

/** PLAINTEXT bootstrap servers. */
export function brokers (): string[] {
  return brokerList(process.env.KAFKA_TEST_BROKERS, '127.0.0.1:9092')
}

/** SASL_PLAINTEXT bootstrap servers (PLAIN, SCRAM-SHA-512 and OAUTHBEARER). */
export function saslBrokers (): string[] {
  return brokerList(process.env.KAFKA_TEST_SASL_BROKERS, '127.0.0.1:9094')
}

/** A kafkajs client for the PLAINTEXT listener; kafkajs logging is off unless overridden. */
export function testKafka (config: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'diaspora-test',
    brokers: brokers(),
    logLevel: logLevel.NOTHING,
    ...config
  })
}

/**
 * A name no other test (or earlier run against a kept broker) uses. Topic and group names
 * allow only [a-zA-Z0-9._-], so anything else in the prefix becomes '-'.
 */
export function uniqueName (prefix: string): string {
  const safe = prefix.replace(/[^a-zA-Z0-9._-]/g, '-')
  return `${safe}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

/** Creates a topic (waiting for its leaders) and deletes it when `t` tears down. */
export async function createTopic (t: Teardownable, name: string, partitions = 1): Promise<string> {
  const kafka = testKafka()
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({
      topics: [{ topic: name, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true
    })
  } finally {
    await admin.disconnect()
  }
  t.teardown(async () => {
    const cleanup = kafka.admin()
    await cleanup.connect()
    try {
      await cleanup.deleteTopics({ topics: [name] })
    } finally {
      await cleanup.disconnect()
    }
  })
  return name
}

// Standard base64 without '=' padding. For ASCII text that has none of '>', '?', '~' or DEL
// this is also exactly the base64url form: Kafka 3.9 decodes the token segments with the
// basic decoder and 4.x with the URL decoder, so the token must use neither '+/' nor '-_'.
function jwsSegment (value: object): string {
  const json = JSON.stringify(value).replace(/[^\x20-\x3d\x40-\x7d]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return Buffer.from(json, 'ascii').toString('base64').replace(/=+$/, '')
}

export interface UnsecuredJwtOptions {
  /** Lifetime in seconds (default one hour). */
  lifetime?: number
  /** Extra claims, e.g. `scope`. */
  claims?: Record<string, unknown>
}

/**
 * An unsecured JWS (alg none, empty signature) that Kafka's default OAUTHBEARER validator
 * accepts, for kafkajs' `oauthBearerProvider: async () => ({ value: unsecuredJwt('alice') })`.
 */
export function unsecuredJwt (sub: string, options: UnsecuredJwtOptions = {}): string {
  const iat = Math.floor(Date.now() / 1000)
  const header = jwsSegment({ alg: 'none' })
  const payload = jwsSegment({ ...options.claims, sub, iat, exp: iat + (options.lifetime ?? 3600) })
  return `${header}.${payload}.`
}
