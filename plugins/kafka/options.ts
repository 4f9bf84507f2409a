/**
 * What a Kafka adapter is given besides the configuration: where its log lines go and, for OAUTHBEARER
 * (MSK IAM), where tokens come from. Plain module: no Fastify, no kafkajs.
 */

export interface MinimalLogger {
  error (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  debug (obj: object, msg?: string): void
}

/** An OAUTHBEARER token, asked for on every (re)authentication of every connection (msk-iam.ts caches). */
export type TokenProvider = () => Promise<{ value: string }>
