/**
 * build(t): the real app on a bare Fastify, configured against the local broker and a Globus stand-in,
 * closed by the test's teardown. listen: true also binds a loopback port for real-HTTP tests.
 *
 * Under `npm test` (DIASPORA_TEST_LOG_DIR set, scripts/log-leaks.ts) the app logs at level trace (or the
 * test's LOG_LEVEL) to a file of the run, and every secret of its configuration is recorded, so the end of
 * the run can check that none reached a log line. Otherwise it logs nothing unless the test sets LOG_LEVEL.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import diaspora, { serverOptions, type AppOptions } from '../../app.js'
import { loadConfig, SECRET_VARIABLES } from '../../plugins/config/config.js'
import { recordSecret, testLogSink } from '../../scripts/log-leaks.js'
import { brokers } from './broker.js'
import { createTables, dynamoEndpoint } from './dynamo.js'
import { startGlobus, type GlobusStandIn } from './globus.js'

export interface Teardown { teardown (fn: () => unknown): void }

export interface BuildOptions {
  env?: Record<string, string | undefined>
  globus?: GlobusStandIn
  listen?: boolean
  app?: Omit<AppOptions, 'env'>
  /** Collects every log line of the app (JSON), at level trace unless env.LOG_LEVEL says otherwise. */
  logLines?: string[]
}

export interface TestApp {
  app: FastifyInstance
  globus: GlobusStandIn
  /** Base URL when listening. */
  url: string
  env: Record<string, string | undefined>
}

export async function build (t: Teardown, opts: BuildOptions = {}): Promise<TestApp> {
  const globus = opts.globus ?? await startGlobus(t)
  const dir = mkdtempSync(join(tmpdir(), 'diaspora-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sink = testLogSink('app')
  const env: Record<string, string | undefined> = {
    LOG_LEVEL: sink === undefined && opts.logLines === undefined ? 'silent' : 'trace',
    DEFAULT_SERVERS: brokers().join(','),
    SERVER_CLIENT_ID: globus.clientId,
    SERVER_SECRET: globus.clientSecret,
    GLOBUS_AUTH_URL: globus.url,
    METADATA_STORE: join(dir, 'metadata.json'),
    TOPIC_DEFAULT_REPLICATION_FACTOR: '1',
    CONSUMER_SESSION_TIMEOUT_MS: '6000',
    CONSUMER_HEARTBEAT_INTERVAL_MS: '500',
    CONSUMER_FETCH_MAX_WAIT_MS: '100',
    ...opts.env
  }
  for (const name of SECRET_VARIABLES) recordSecret(env[name])
  const config = loadConfig(env)
  const level = env.LOG_LEVEL ?? 'info'
  const lines = opts.logLines
  const stream = lines === undefined ? sink : { write (line: string) { lines.push(line); sink?.write(line) } }
  const app = Fastify({
    ...serverOptions(config),
    logger: level === 'silent' ? false : stream === undefined ? { level } : { level, stream }
  })
  await app.register(fp(diaspora), { ...opts.app, env })
  t.teardown(() => app.close())
  let url = ''
  if (opts.listen) url = await app.listen({ port: 0, host: '127.0.0.1' })
  else await app.ready()
  return { app, globus, url, env }
}

/**
 * Two apps (two nodes) over one set of fresh DynamoDB tables on moto, sharing one Globus stand-in: for what
 * must hold across nodes. The AWS SDK takes the endpoint from the environment.
 */
export async function twoNodesOverDynamo (t: Teardown, env: Record<string, string>) {
  const tables = await createTables(t)
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamoEndpoint()
  const shared = { ...env, METADATA_STORE: 'dynamodb', USERS_TABLE_NAME: tables.users, NAMESPACE_TABLE_NAME: tables.namespaces, KEYS_TABLE_NAME: tables.keys }
  const nodeA = await build(t, { env: shared })
  const nodeB = await build(t, { env: shared, globus: nodeA.globus })
  return { nodeA, nodeB }
}
