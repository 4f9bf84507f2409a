/**
 * The end-of-run log check of `npm test` (scripts/log-leaks.ts) and the summary line (scripts/tap-summary.ts).
 * Each test works in a temporary run folder of its own, never in the real run's (DIASPORA_TEST_LOG_DIR), whose
 * check must stay clean.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Fastify from 'fastify'
import { describeScan, logDir, recordSecret, recordedSecrets, scanLogs, secretRef, testLogSink } from '../../../scripts/log-leaks.js'
import { parseSummaryLine, parseTapSummary, summaryLine } from '../../../scripts/tap-summary.js'

function runDir (t: { teardown (fn: () => unknown): void }): string {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'diaspora-log-check-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('a planted token in a log line is found, in every form a log line carries it', async t => {
  const dir = runDir(t)
  const token = `Ag${randomBytes(30).toString('base64')}` // may hold + and /
  const quoted = 'pa"ss\\word-with-quotes'
  recordSecret(token, dir)
  recordSecret(quoted, dir)
  const sink = testLogSink('planted', dir)
  if (sink === undefined) throw new Error('a run folder was given')
  // A real pino logger, as the app's: the token in a message, an object field and a URL.
  const app = Fastify({ logger: { level: 'info', stream: sink } })
  app.log.info('nothing to see')
  app.log.warn(`dev login: curl -H "Authorization: Bearer ${token}"`)
  app.log.info({ password: quoted }, 'a field, JSON-escaped in the line')
  app.log.info({ url: `/x?t=${encodeURIComponent(token)}` }, 'percent-encoded')
  await app.close()

  const r = scanLogs(dir)
  t.equal(r.secrets, 2)
  t.equal(r.files, 1)
  t.ok(r.lines >= 4)
  t.same(
    r.findings.map(f => [f.line, f.secret]),
    [[2, secretRef(token)], [3, secretRef(quoted)], [4, secretRef(token)]]
  )
  const report = describeScan(r, dir).join('\n')
  t.match(report, /^log check: FAILED .*3 log lines carry a secret/)
  t.match(report, /logs\/\d+-\d+-planted\.log:2: secret [0-9a-f]{12}/)
  t.notMatch(report, token.slice(0, 12), 'the report never shows a secret')
})

t.test('a clean run passes; short values are not recorded', async t => {
  const dir = runDir(t)
  recordSecret(randomBytes(32).toString('base64url'), dir)
  recordSecret('secret', dir) // too short to tell from ordinary words: not recorded
  recordSecret(undefined, dir)
  const sink = testLogSink('clean', dir) as NonNullable<ReturnType<typeof testLogSink>>
  sink.write('{"msg":"a secret word, nothing else"}')
  sink.write('{"msg":"another line"}\n')
  t.equal(recordedSecrets(dir).length, 1)
  const r = scanLogs(dir)
  t.same(r.findings, [])
  t.same(describeScan(r, dir), ['log check: passed (1 recorded secret, 1 log file, 2 lines): no secret in any log line'])
  t.same(scanLogs(runDir(t)), { files: 0, lines: 0, secrets: 0, findings: [] }, 'an empty run folder')
})

t.test('nothing is recorded or written without a run folder', async t => {
  t.equal(logDir({}), undefined)
  t.equal(logDir({ DIASPORA_TEST_LOG_DIR: '' }), undefined)
  t.equal(testLogSink('x', null), undefined)
  recordSecret('a-secret-with-no-run-folder', null)
  t.pass('no throw')
})

t.test('tap summary and the plain summary line', async t => {
  t.same(parseTapSummary('ok 1 - a\n\n# { total: 716, pass: 716 }\n# time=26327.519ms\n'), { total: 716, pass: 716, fail: 0, skip: 0, todo: 0 })
  t.same(parseTapSummary('# { total: 1, pass: 1 }\n…\n# { total: 12, pass: 9, fail: 1, skip: 1, todo: 1 }\n'), { total: 12, pass: 9, fail: 1, skip: 1, todo: 1 }, 'the last one')
  t.same(parseTapSummary('\x1b[2m# { total: 57, pass: 57 }\x1b[22m\n\x1b[2m# time=6057.373ms\x1b[22m\n'), { total: 57, pass: 57, fail: 0, skip: 0, todo: 0 }, 'through the coloured reporter')
  t.equal(parseTapSummary('not ok 1 - crashed\n'), undefined)
  const line = summaryLine({ passed: 3, failed: 1, skipped: 0 })
  t.equal(line, 'tests: 3 passed, 1 failed, 0 skipped')
  t.same(parseSummaryLine(line), { passed: 3, failed: 1, skipped: 0 })
  t.equal(parseSummaryLine('tests: 3 passed'), undefined)
})
