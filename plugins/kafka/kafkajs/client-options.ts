/** Builds kafkajs client settings from the service configuration. */
import { readFileSync } from 'node:fs'
import { logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs'
import type { ConnectionOptions } from 'node:tls'
import { bootstrapServers, type Config } from '../../config/config.js'
import type { MinimalLogger, TokenProvider } from '../options.js'

/** kafkajs log lines go to the service logger (warnings and errors only; kafkajs is chatty). */
export function kafkaLogCreator (logger: MinimalLogger) {
  return () => ({ level, log }: LogEntry) => {
    const { message, ...rest } = log
    const entry = { kafka: rest }
    if (level === logLevel.ERROR) logger.warn(entry, `kafkajs: ${message}`)
    else if (level === logLevel.WARN) logger.info(entry, `kafkajs: ${message}`)
    else logger.debug(entry, `kafkajs: ${message}`)
  }
}

function tlsOptions (c: Config): boolean | ConnectionOptions {
  if (!c.KAFKA_SSL_CA_FILE && !c.KAFKA_SSL_CERT_FILE) return true // system CAs (enough for MSK)
  const opts: ConnectionOptions = {}
  if (c.KAFKA_SSL_CA_FILE) opts.ca = [readFileSync(c.KAFKA_SSL_CA_FILE, 'utf8')]
  if (c.KAFKA_SSL_CERT_FILE) opts.cert = readFileSync(c.KAFKA_SSL_CERT_FILE, 'utf8')
  if (c.KAFKA_SSL_KEY_FILE) opts.key = readFileSync(c.KAFKA_SSL_KEY_FILE, 'utf8')
  return opts
}

function saslOptions (c: Config, tokenProvider?: TokenProvider): SASLOptions | undefined {
  const username = c.KAFKA_SASL_USERNAME ?? ''
  const password = c.KAFKA_SASL_PASSWORD ?? ''
  switch (c.KAFKA_SASL_MECHANISM) {
    case undefined: return undefined
    case 'PLAIN': return { mechanism: 'plain', username, password }
    case 'SCRAM-SHA-256': return { mechanism: 'scram-sha-256', username, password }
    case 'SCRAM-SHA-512': return { mechanism: 'scram-sha-512', username, password }
    case 'OAUTHBEARER': {
      const token = c.KAFKA_SASL_OAUTHBEARER_TOKEN ?? ''
      return { mechanism: 'oauthbearer', oauthBearerProvider: tokenProvider ?? (async () => ({ value: token })) }
    }
    case 'AWS_MSK_IAM':
      // MSK IAM is SASL OAUTHBEARER with a signed token (kafkajs' own 'aws' mechanism is something else).
      if (!tokenProvider) throw new Error('AWS_MSK_IAM needs a token provider')
      return { mechanism: 'oauthbearer', oauthBearerProvider: tokenProvider }
  }
}

export function kafkaClientConfig (
  c: Config, opts: { clientId?: string, tokenProvider?: TokenProvider, logger?: MinimalLogger } = {}
): KafkaConfig {
  const cfg: KafkaConfig = {
    clientId: opts.clientId ?? c.KAFKA_CLIENT_ID,
    brokers: bootstrapServers(c),
    connectionTimeout: c.KAFKA_CONNECTION_TIMEOUT_MS,
    requestTimeout: c.KAFKA_REQUEST_TIMEOUT_MS,
    // Few, short retries: an HTTP request must fail with a 5xx inside its own timeout, not hang on a dead broker.
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 }
  }
  if (c.KAFKA_SECURITY_PROTOCOL === 'SSL' || c.KAFKA_SECURITY_PROTOCOL === 'SASL_SSL') cfg.ssl = tlsOptions(c)
  const sasl = saslOptions(c, opts.tokenProvider)
  if (sasl) cfg.sasl = sasl
  if (opts.logger) cfg.logCreator = kafkaLogCreator(opts.logger)
  else cfg.logLevel = logLevel.NOTHING
  return cfg
}
