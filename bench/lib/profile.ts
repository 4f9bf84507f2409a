/**
 * Summarise a V8 .cpuprofile (written by `node --cpu-prof`): self time per function and per category,
 * restricted to a time window (the measured part, without start-up), as shares of the non-idle samples.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { ProfileSummary } from './result.js'
import { ROOT } from './child.js'

interface CallFrame { functionName: string, url: string, lineNumber: number, columnNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, hitCount?: number, children?: number[] }
interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Which bucket a frame's self time goes to. */
export function category (cf: CallFrame): string {
  const fn = cf.functionName
  if (fn === '(idle)') return 'idle'
  if (fn === '(garbage collector)') return 'GC'
  if (fn === '(program)') return 'V8/native (program)'
  const url = cf.url
  if (url === '') return 'V8 builtins & generated code'
  if (url.startsWith('node:')) return 'node internals'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
    return pkg ?? 'node_modules'
  }
  const file = url.replace(/^file:\/\//, '')
  const rel = path.relative(ROOT, file)
  if (rel.startsWith('..')) return 'other'
  return `project: ${rel.split('/').slice(0, -1).join('/') || '.'}`
}

function where (cf: CallFrame): string {
  if (cf.url === '') return '(native)'
  let u = cf.url.replace(/^file:\/\//, '')
  const nm = u.lastIndexOf('/node_modules/')
  if (nm !== -1) u = u.slice(nm + '/node_modules/'.length)
  else if (u.startsWith(ROOT)) {
    // tsx-compiled TypeScript: positions are in generated code, so only the file is meaningful.
    const rel = path.relative(ROOT, u)
    if (rel.endsWith('.ts')) return rel
    u = rel
  }
  return `${u}:${cf.lineNumber + 1}`
}

export function summarizeProfile (
  file: string,
  label: string,
  window?: { fromUs: number, toUs: number },
  topN = 15
): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(prof.nodes.map(n => [n.id, n]))
  // Sample i happens at startTime + sum(timeDeltas[0..i]); it stands for the time until the next sample.
  let t = prof.startTime
  const times: number[] = []
  for (const d of prof.timeDeltas) { t += d; times.push(t) }
  let inWindow = (i: number): boolean =>
    window === undefined || ((times[i] as number) >= window.fromUs && (times[i] as number) <= window.toUs)
  let count = 0
  for (let i = 0; i < prof.samples.length; i++) if (inWindow(i)) count++
  if (count === 0) inWindow = () => true // clocks did not line up: use everything rather than nothing
  const self = new Map<ProfileNode, number>()
  const cats = new Map<string, number>()
  let total = 0
  let busy = 0
  for (let i = 0; i < prof.samples.length; i++) {
    if (!inWindow(i)) continue
    const node = byId.get(prof.samples[i] as number)
    if (!node) continue
    const next = times[i + 1]
    const dt = next !== undefined ? next - (times[i] as number) : 0
    total += dt
    const cat = category(node.callFrame)
    cats.set(cat, (cats.get(cat) ?? 0) + dt)
    if (cat === 'idle') continue
    busy += dt
    self.set(node, (self.get(node) ?? 0) + dt)
  }
  // Merge nodes of the same function (one function appears under many call paths).
  const byFn = new Map<string, { fn: string, where: string, us: number }>()
  for (const [node, us] of self) {
    const cf = node.callFrame
    const key = `${cf.functionName}\u0000${cf.url}\u0000${cf.lineNumber}`
    const e = byFn.get(key) ?? { fn: cf.functionName || '(anonymous)', where: where(cf), us: 0 }
    e.us += us
    byFn.set(key, e)
  }
  const pct = (us: number): number => busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0
  return {
    label,
    file: path.relative(ROOT, file),
    windowMs: Math.round(total / 1000),
    totalMs: Math.round(busy / 1000),
    categories: [...cats].filter(([name]) => name !== 'idle').sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, pct: pct(us) })),
    top: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map(e => ({ fn: e.fn, where: e.where, selfPct: pct(e.us), selfMs: Math.round(e.us / 1000) }))
  }
}
