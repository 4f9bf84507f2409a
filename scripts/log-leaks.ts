// The log-leak check of `npm test` (issue 13): no token, secret or password a test used may appear in any log
// line the app wrote during the run.
//
// scripts/test.ts makes a fresh run folder (.test-logs/run-<pid>/, git-ignored) and names it to the tests in
// DIASPORA_TEST_LOG_DIR. While it is set:
// - the test helpers write every app log (pino JSON lines; level trace unless a test asks otherwise) to files
//   under <run>/logs/ (testLogSink), and
// - record every secret they mint or configure (Globus stand-in tokens and client secret, SERVER_SECRET,
//   DEV_TOKEN, METRICS_TOKEN, SASL passwords, …) under <run>/secrets/ (recordSecret).
// At the end, scanLogs() looks for each recorded secret in each log file, as written and in the forms a log
// line would carry it (JSON-escaped, percent-encoded). A finding fails `npm test`; the report names the file,
// the line and a hash prefix of the secret, never the secret itself.
//
// Without DIASPORA_TEST_LOG_DIR (tap run directly, benchmarks, soak) the helpers log as before and record
// nothing. Plain module: no tap, no Fastify.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export const LOG_DIR_ENV = 'DIASPORA_TEST_LOG_DIR'

/** Shorter values are not recorded: they would match by chance ("s", "secret"), and no real token is that short. */
export const MIN_SECRET_LENGTH = 8

/** The run folder named by the environment, or undefined when logs are not collected. */
export function logDir (env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env[LOG_DIR_ENV]
  return dir === undefined || dir === '' ? undefined : dir
}

/**
 * Records a secret the tests used, so that the end-of-run check looks for it. No-op without a run folder (dir
 * null).
 */
export function recordSecret (secret: string | undefined, dir: string | null = logDir() ?? null): void {
  if (dir === null || secret === undefined || secret.length < MIN_SECRET_LENGTH) return
  const folder = path.join(dir, 'secrets')
  fs.mkdirSync(folder, { recursive: true })
  fs.appendFileSync(path.join(folder, `${process.pid}.jsonl`), `${JSON.stringify(secret)}\n`)
}

export interface LogSink {
  /** The file the lines go to. */
  readonly file: string
  write (line: string): void
}

let sinks = 0

/**
 * A pino destination (`logger: { stream }`) writing synchronously to a new file under <run>/logs/, so nothing
 * is lost when a test process exits. Undefined without a run folder (dir null).
 */
export function testLogSink (name: string, dir: string | null = logDir() ?? null): LogSink | undefined {
  if (dir === null) return undefined
  const folder = path.join(dir, 'logs')
  fs.mkdirSync(folder, { recursive: true })
  const file = path.join(folder, `${process.pid}-${++sinks}-${name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60)}.log`)
  const fd = fs.openSync(file, 'a')
  return {
    file,
    write (line: string) {
      fs.writeSync(fd, line.endsWith('\n') ? line : `${line}\n`)
    }
  }
}

/** Every secret recorded under the run folder, without duplicates. */
export function recordedSecrets (dir: string): string[] {
  const folder = path.join(dir, 'secrets')
  const found = new Set<string>()
  if (!fs.existsSync(folder)) return []
  for (const file of fs.readdirSync(folder)) {
    for (const line of fs.readFileSync(path.join(folder, file), 'utf8').split('\n')) {
      if (line === '') continue
      try {
        const value: unknown = JSON.parse(line)
        if (typeof value === 'string' && value.length >= MIN_SECRET_LENGTH) found.add(value)
      } catch {
        // A line cut short by a process killed mid-write: nothing to look for.
      }
    }
  }
  return [...found]
}

/** A short, non-reversible name for a secret in reports. */
export const secretRef = (secret: string): string => createHash('sha256').update(secret).digest('hex').slice(0, 12)

/** The forms in which a secret would show up in a log line. */
function forms (secret: string): string[] {
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])]
}

export interface Finding {
  file: string
  /** 1-based. */
  line: number
  /** secretRef() of the secret found. */
  secret: string
}

export interface ScanResult {
  files: number
  lines: number
  secrets: number
  findings: Finding[]
}

/**
 * Looks for every recorded secret in every log file of the run folder. Secrets are indexed by their first
 * MIN_SECRET_LENGTH characters, so a line is read once whatever the number of secrets (thousands of minted
 * tokens against hundreds of thousands of lines).
 */
export function scanLogs (dir: string): ScanResult {
  const secrets = recordedSecrets(dir)
  const index = new Map<string, { form: string, ref: string }[]>()
  for (const secret of secrets) {
    const ref = secretRef(secret)
    for (const form of forms(secret)) {
      const key = form.slice(0, MIN_SECRET_LENGTH)
      index.set(key, [...(index.get(key) ?? []), { form, ref }])
    }
  }
  const folder = path.join(dir, 'logs')
  const files = fs.existsSync(folder) ? fs.readdirSync(folder).sort() : []
  const result: ScanResult = { files: files.length, lines: 0, secrets: secrets.length, findings: [] }
  for (const name of files) {
    const file = path.join(folder, name)
    const lines = fs.readFileSync(file, 'utf8').split('\n')
    lines.forEach((text, i) => {
      if (text === '') return
      result.lines++
      const found = new Set<string>()
      for (let at = 0; at + MIN_SECRET_LENGTH <= text.length; at++) {
        for (const c of index.get(text.slice(at, at + MIN_SECRET_LENGTH)) ?? []) {
          if (text.startsWith(c.form, at)) found.add(c.ref)
        }
      }
      for (const secret of found) result.findings.push({ file, line: i + 1, secret })
    })
  }
  return result
}

/** The report line(s) of a scan, for the end of `npm test`; never contains a secret. */
export function describeScan (r: ScanResult, root = process.cwd()): string[] {
  const what = `${r.secrets} recorded secret${r.secrets === 1 ? '' : 's'}, ${r.files} log file${r.files === 1 ? '' : 's'}, ${r.lines} line${r.lines === 1 ? '' : 's'}`
  if (r.findings.length === 0) return [`log check: passed (${what}): no secret in any log line`]
  return [
    `log check: FAILED (${what}): ${r.findings.length} log line${r.findings.length === 1 ? '' : 's'} carry a secret:`,
    ...r.findings.slice(0, 20).map(f => `  ${path.relative(root, f.file)}:${f.line}: secret ${f.secret} (sha256 prefix)`),
    ...(r.findings.length > 20 ? [`  … and ${r.findings.length - 20} more`] : [])
  ]
}
