/**
 * The V8 heap flags of node-flags.ts reach every way the service is started, including the two that cannot
 * import it (package.json's scripts and the Dockerfile).
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { NODE_FLAGS, hasNodeFlags } from '../../../node-flags.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** The node flags of a command line: the arguments between `node` and the script (or --import's value). */
function flagsBefore (args: string[], script: string): string[] {
  const at = args.indexOf(script)
  if (args[0] !== 'node' || at < 0) throw new Error(`not "node … ${script}": ${args.join(' ')}`)
  return args.slice(1, at)
}

t.test('package.json starts the service, dev server and soak with the flags, before the script', async t => {
  const scripts = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts
  for (const [name, script] of [['start', 'dist/server.js'], ['dev', 'server.ts'], ['soak', 'scripts/soak.ts']] as const) {
    const flags = flagsBefore((scripts[name] ?? '').split(/\s+/), script)
    for (const f of NODE_FLAGS) t.ok(flags.includes(f), `npm run ${name} passes ${f}`)
  }
})

t.test('the Dockerfile runs the service with the flags', async t => {
  const cmd = readFileSync(`${ROOT}Dockerfile`, 'utf8').split('\n').find(l => l.startsWith('CMD '))
  if (!cmd) throw new Error('no CMD in the Dockerfile')
  const flags = flagsBefore(JSON.parse(cmd.slice(4)) as string[], 'dist/server.js')
  t.same([...flags].sort(), [...NODE_FLAGS].sort())
})

t.test('hasNodeFlags tells whether a process runs with every flag', async t => {
  t.ok(hasNodeFlags([...NODE_FLAGS, '--import', 'tsx']))
  t.notOk(hasNodeFlags(['--import', 'tsx']))
  t.notOk(hasNodeFlags([NODE_FLAGS[0]]), 'one of them is not enough')
  t.ok(NODE_FLAGS.every(f => /^--[a-z-]+=\d+$/.test(f)), 'each a V8 size flag with its value')
})
