// The closing lines of `npm test` (scripts/test.ts), read by people, log scrapers and .ci/run. Plain module.

export interface TapSummary { total: number, pass: number, fail: number, skip: number, todo: number }

/** tap's closing line, `# { total: 12, pass: 10, fail: 1, skip: 1 }` (zero counts left out; ANSI colours around it). */
export function parseTapSummary (output: string): TapSummary | undefined {
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
  const lines = [...plain.matchAll(/^# \{ total: \d+[^}\n]*\}\s*$/gm)]
  const last = lines[lines.length - 1]?.[0]
  if (last === undefined) return undefined
  const field = (name: string): number => Number(new RegExp(`\\b${name}: (\\d+)`).exec(last)?.[1] ?? 0)
  return { total: field('total'), pass: field('pass'), fail: field('fail'), skip: field('skip'), todo: field('todo') }
}

/** The one plain summary line: `tests: N passed, N failed, N skipped` (.ci/run matches exactly this shape). */
export function summaryLine (c: { passed: number, failed: number, skipped: number }): string {
  return `tests: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`
}

/** The counts of a summary line, or undefined if the text is not one. */
export function parseSummaryLine (line: string): { passed: number, failed: number, skipped: number } | undefined {
  const m = /^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/.exec(line.trim())
  return m === null ? undefined : { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) }
}
