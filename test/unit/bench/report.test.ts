/**
 * The report writer: the generated section of BENCHMARKS.md is rendered from bench/results.json alone (the
 * current figures and each target met or missed) and spliced between its markers, leaving the hand-written text
 * around them as it was.
 */
import t from 'tap'
import { BEGIN, END, renderMarkdown, spliceGenerated, type ResultsFile } from '../../../bench/report/write.js'
import type { ScenarioResult } from '../../../bench/lib/result.js'

const run = {
  command: 'npm run bench -- auth',
  date: '2026-12-03T20:00:00.000Z',
  machine: { cpus: 2, cpuModel: 'Test CPU', memGiB: 24, node: 'v20.20.2', os: 'Linux', kafka: 'Apache Kafka 3.9.1', loadAvg: [0.5, 0.4, 0.3], commit: 'abc1234' },
  quick: false,
  seconds: 5
}
const auth: ScenarioResult = {
  id: 'auth',
  title: 'Auth',
  startedAt: run.date,
  seconds: 5,
  settings: { concurrent: 1000 },
  tables: [{ title: 'Auth single flight', headers: ['run', 'calls'], rows: [['1', '1']] }],
  targets: [
    { name: 'auth: introspection calls', goal: 'exactly 1', measured: '1', pass: true },
    { name: 'auth: cached token cost', goal: '≤ 5 µs', measured: '6 µs', pass: false }
  ],
  data: {},
  notes: ['a note']
}
const data: ResultsFile = { schema: 1, updatedAt: run.date, scenarios: { auth: { ...auth, run } }, profiles: {} }

t.test('the generated section: the run, the targets met or missed, each scenario\'s tables', async t => {
  const md = renderMarkdown(data)
  t.match(md, /^## Current figures and targets$/m)
  t.match(md, '| Auth | 2026-12-03 20:00:00 | `npm run bench -- auth` | full | 5 s |')
  t.match(md, 'commit abc1234')
  t.match(md, '| auth: introspection calls | exactly 1 | 1 | **met** |')
  t.match(md, '| auth: cached token cost | ≤ 5 µs | 6 µs | **missed** |')
  t.match(md, /^### Auth$/m)
  t.match(md, 'Auth single flight:')
  t.match(md, 'Settings: `{"concurrent":1000}`')
  t.match(md, '- a note')
  t.notMatch(md, /chart|\.svg/, 'no chart: figures and targets are tables')
})

t.test('spliceGenerated replaces only what is between the markers, or appends them', async t => {
  const before = `# Benchmarks\n\nHow to run.\n\n${BEGIN}\nold figures\n${END}\n\n## Decision log\n\n- kept\n`
  const after = spliceGenerated(before, 'new figures')
  t.equal(after, `# Benchmarks\n\nHow to run.\n\n${BEGIN}\nnew figures\n${END}\n\n## Decision log\n\n- kept\n`)
  t.equal(spliceGenerated(after, 'new figures'), after, 'idempotent')
  t.equal(spliceGenerated('# Benchmarks\n', 'figures'), `# Benchmarks\n\n${BEGIN}\nfigures\n${END}\n`, 'markers appended when absent')
})
