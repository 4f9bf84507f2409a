/**
 * The local dev login through the real entry point (issue 13): `server.ts` as a child process in
 * AUTH_MODE=dev listens on loopback only, prints its token on stderr and never in its log (stdout), refuses a
 * HOST beyond loopback without DEV_ALLOW_REMOTE=true and a guessable DEV_TOKEN, and never echoes a secret in
 * those refusals.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_FLAGS } from '../../node-flags.js'
import { brokers } from '../helpers/broker.js'
import { recordSecret, testLogSink } from '../../scripts/log-leaks.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

interface Run { stdout: string, stderr: string, code: number | null, url: string | undefined }

/**
 * Runs `server.ts` with `env` until it listens (then stops it with SIGTERM) or exits on its own; the log
 * (stdout) goes to the run's log files for the end-of-run secret check.
 */
async function runServer (t: { teardown (fn: () => unknown): void }, env: Record<string, string>): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), 'diaspora-dev-login-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const child = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', DEFAULT_SERVERS: brokers().join(','), METADATA_STORE: path.join(dir, 'metadata.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const sink = testLogSink('dev-login-server')
  let stdout = ''
  let stderr = ''
  let url: string | undefined
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
    const m = /Server listening at (http:\/\/[^"\s]+)/.exec(stdout)
    if (m && url === undefined) {
      url = m[1]
      child.kill('SIGTERM')
    }
  })
  const code = await new Promise<number | null>(resolve => child.once('close', (c) => resolve(c)))
  for (const line of stdout.split('\n')) if (line !== '') sink?.write(line)
  return { stdout, stderr, code, url }
}

t.test('AUTH_MODE=dev: loopback only, the token on stderr, never in the log', async t => {
  const run = await runServer(t, { AUTH_MODE: 'dev', LOG_LEVEL: 'trace' })
  t.match(run.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'listens on 127.0.0.1 without HOST')
  const m = /Authorization: Bearer ([A-Za-z0-9_-]{43})"/.exec(run.stderr)
  t.ok(m, 'the banner with the curl line is on stderr')
  const token = (m as RegExpExecArray)[1] as string
  recordSecret(token)
  t.notOk(run.stdout.includes(token), 'the token is in no log line')
  t.match(run.stdout, /printed on stderr, not logged/, 'the log says where it is')
  t.equal(run.code, 0, 'a clean exit on SIGTERM')
})

t.test('AUTH_MODE=dev beyond loopback: refused without DEV_ALLOW_REMOTE=true, loud with it', async t => {
  const devToken = randomBytes(32).toString('base64')
  recordSecret(devToken)
  const refused = await runServer(t, { AUTH_MODE: 'dev', HOST: '0.0.0.0', DEV_TOKEN: devToken })
  t.equal(refused.code, 1)
  t.equal(refused.url, undefined, 'never listened')
  t.match(refused.stderr, /HOST: AUTH_MODE=dev listens on loopback only \(got "0\.0\.0\.0"\).*DEV_ALLOW_REMOTE=true/)
  t.notOk(refused.stderr.includes(devToken), 'the refusal does not echo the token')

  const allowed = await runServer(t, { AUTH_MODE: 'dev', HOST: '0.0.0.0', DEV_ALLOW_REMOTE: 'true', DEV_TOKEN: devToken })
  t.match(allowed.url, /^http:\/\/[^/]+:\d+$/, 'listens')
  t.match(allowed.stderr, /!!! WARNING: AUTH_MODE=dev listens beyond loopback/)
  t.match(allowed.stdout, /"level":40.*AUTH_MODE=dev listens beyond loopback/, 'and warns in the log')
  t.notOk(allowed.stdout.includes(devToken), 'the token is in no log line')
})

t.test('a guessable DEV_TOKEN stops the start, says how to make one and does not echo it', async t => {
  for (const weak of ['my-local-dev-token-0001', 'my-local-dev-token-0001-my-local-dev-token-0001']) {
    recordSecret(weak)
    const run = await runServer(t, { AUTH_MODE: 'dev', DEV_TOKEN: weak })
    t.equal(run.code, 1, weak.length < 32 ? 'too short' : 'too guessable')
    t.match(run.stderr, /DEV_TOKEN: .*openssl rand -base64 32/)
    t.notOk(run.stderr.includes(weak), 'the refusal does not echo the token')
  }
})
