/** A hand-written SVG chart of the main figures, each next to its baseline, with the targets drawn in. */
import type { Spread } from '../lib/stats.js'
import { fmt } from '../lib/stats.js'
import type { ResultsFile } from './write.js'

interface Bar { label: string, value: number, min?: number, max?: number, color: string, target?: number }
interface Group { label: string, bars: Bar[] }
interface Line { value: number, label: string }

const C = { base: '#8a8f98', binary: '#2b6cb0', json: '#2f855a', proxy: '#2b6cb0', target: '#c53030', grid: '#e2e8f0', text: '#1a202c', muted: '#4a5568' }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** The top of the axis: four equal steps of 1, 2, 2.5 or 5 × 10^k. */
function niceMax (v: number): number {
  if (!(v > 0)) return 1
  const raw = v / 4
  const p = Math.pow(10, Math.floor(Math.log10(raw)))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return 4 * m * p
  return 40 * p
}

function panel (x: number, y: number, w: number, h: number, title: string, unit: string, groups: Group[], lines: Line[] = [], legend: Array<[string, string]> = []): string {
  const out: string[] = [`<g transform="translate(${x},${y})">`]
  out.push(`<text x="0" y="14" font-size="13" font-weight="bold" fill="${C.text}">${esc(title)}</text>`)
  const left = 64
  const top = 46
  const bottom = 34
  const pw = w - left - 8
  const ph = h - top - bottom
  if (groups.length === 0 || groups.every(g => g.bars.length === 0)) {
    out.push(`<text x="${left + pw / 2}" y="${top + ph / 2}" font-size="12" text-anchor="middle" fill="${C.muted}">not run yet</text></g>`)
    return out.join('')
  }
  let lx = 0
  for (const [label, color] of legend) {
    out.push(`<rect x="${lx}" y="24" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="33" font-size="11" fill="${C.muted}">${esc(label)}</text>`)
    lx += 22 + label.length * 6
  }
  const vmax = niceMax(Math.max(...groups.flatMap(g => g.bars.flatMap(b => [b.max ?? b.value, b.value, b.target ?? 0])), ...lines.map(l => l.value)) * 1.08)
  const sy = (v: number): number => top + ph - (Math.max(0, v) / vmax) * ph
  for (let i = 0; i <= 4; i++) {
    const v = (vmax * i) / 4
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${sy(v)}" y2="${sy(v)}" stroke="${C.grid}"/>`)
    out.push(`<text x="${left - 4}" y="${sy(v) + 4}" font-size="10" text-anchor="end" fill="${C.muted}">${esc(fmt(v, 2))}</text>`)
  }
  out.push(`<text x="0" y="${top + ph / 2}" font-size="10" fill="${C.muted}" transform="rotate(-90 10 ${top + ph / 2})" text-anchor="middle">${esc(unit)}</text>`)
  const gw = pw / groups.length
  groups.forEach((g, gi) => {
    const n = g.bars.length
    const bw = Math.min(34, (gw * 0.8) / Math.max(1, n))
    const gx = left + gi * gw + (gw - bw * n) / 2
    g.bars.forEach((b, bi) => {
      const bx = gx + bi * bw
      const v = Number.isFinite(b.value) ? b.value : 0
      out.push(`<rect x="${bx + 1}" y="${sy(v)}" width="${bw - 2}" height="${Math.max(0, top + ph - sy(v))}" fill="${b.color}"><title>${esc(`${g.label} ${b.label}: ${fmt(b.value)} ${unit}`)}</title></rect>`)
      if (b.min !== undefined && b.max !== undefined && Number.isFinite(b.min) && b.max !== b.min) {
        const cx = bx + bw / 2
        out.push(`<line x1="${cx}" x2="${cx}" y1="${sy(b.min)}" y2="${sy(b.max)}" stroke="${C.text}" stroke-width="1"/>`)
        out.push(`<line x1="${cx - 3}" x2="${cx + 3}" y1="${sy(b.max)}" y2="${sy(b.max)}" stroke="${C.text}"/><line x1="${cx - 3}" x2="${cx + 3}" y1="${sy(b.min)}" y2="${sy(b.min)}" stroke="${C.text}"/>`)
      }
      if (b.target !== undefined) {
        out.push(`<line x1="${bx - 1}" x2="${bx + bw + 1}" y1="${sy(b.target)}" y2="${sy(b.target)}" stroke="${C.target}" stroke-width="2" stroke-dasharray="3,2"/>`)
      }
      out.push(`<text x="${bx + bw / 2}" y="${Math.min(sy(Math.max(v, b.max ?? v)) - 3, top + ph - 3)}" font-size="9" text-anchor="middle" fill="${C.text}">${esc(fmt(v, 2))}</text>`)
    })
    out.push(`<text x="${left + gi * gw + gw / 2}" y="${top + ph + 14}" font-size="11" text-anchor="middle" fill="${C.text}">${esc(g.label)}</text>`)
  })
  for (const l of lines) {
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${sy(l.value)}" y2="${sy(l.value)}" stroke="${C.target}" stroke-width="1.5" stroke-dasharray="6,3"/>`)
    out.push(`<text x="${left + pw}" y="${sy(l.value) - 3}" font-size="10" text-anchor="end" fill="${C.target}">${esc(l.label)}</text>`)
  }
  out.push(`<line x1="${left}" x2="${left + pw}" y1="${top + ph}" y2="${top + ph}" stroke="${C.muted}"/>`)
  out.push('</g>')
  return out.join('')
}

const bar = (label: string, s: Spread | undefined, color: string, target?: number): Bar => {
  const b: Bar = { label, value: s?.median ?? NaN, color }
  if (s) { b.min = s.min; b.max = s.max }
  if (target !== undefined) b.target = target
  return b
}

interface FetchRowData { size: number, partitions: number, kafkajs: { recordsPerSec: Spread }, binary: { recordsPerSec: Spread }, json: { recordsPerSec: Spread } }

interface ProduceData {
  throughput: Record<'kafkajs' | 'batch' | 'stream1' | 'stream4', { recordsPerSec: Spread }>
  latency: Record<'kafkajs' | 'http', { p50: number, p99: number }>
  crowds: Array<{ kind: string, rssBefore: number, rssPeak: number, rssAfter: number }>
  rssBoundMiB: number
}

export function renderChart (data: ResultsFile): string {
  const W = 1020
  const H = 980
  const pw = 330
  const ph = 300
  const parts: string[] = []
  const fetch = data.scenarios.fetch?.data as { rows: FetchRowData[] } | undefined
  for (const [i, size] of [1024, 100].entries()) {
    const rows = fetch?.rows.filter(r => r.size === size) ?? []
    const groups: Group[] = rows.map(r => ({
      label: `${r.partitions} partition${r.partitions > 1 ? 's' : ''}`,
      bars: [
        bar('kafkajs', r.kafkajs.recordsPerSec, C.base),
        bar('binary', r.binary.recordsPerSec, C.binary, size === 1024 ? r.kafkajs.recordsPerSec.median * 0.5 : undefined),
        bar('json', r.json.recordsPerSec, C.json, size === 1024 ? r.kafkajs.recordsPerSec.median * 0.4 : undefined)
      ]
    }))
    parts.push(panel(10 + i * (pw + 10), 40, pw, ph, `Fetch throughput, ${size === 1024 ? '1 KiB' : '100 B'} values${size === 1024 ? ' (red: target)' : ''}`, 'records/s',
      groups, [], [['kafkajs', C.base], ['proxy binary', C.binary], ['proxy json', C.json]]))
  }
  const lat = data.scenarios.latency?.data as { proxy: { p50: number, p99: number }, kafkajs: { p50: number, p99: number } } | undefined
  parts.push(panel(10 + 2 * (pw + 10), 40, pw, ph, 'Delivery latency, send → delivered', 'ms',
    lat
      ? [
          { label: 'p50 (target 5 ms)', bars: [{ label: 'kafkajs', value: lat.kafkajs.p50, color: C.base }, { label: 'proxy', value: lat.proxy.p50, color: C.proxy, target: 5 }] },
          { label: 'p99 (target 25 ms)', bars: [{ label: 'kafkajs', value: lat.kafkajs.p99, color: C.base }, { label: 'proxy', value: lat.proxy.p99, color: C.proxy, target: 25 }] }
        ]
      : [], [], [['kafkajs eachMessage', C.base], ['proxy long poll', C.proxy]]))
  const ov = data.scenarios.overhead?.data as { health: { rps: Spread, p99: Spread }, assignments: { rps: Spread, p99: Spread } } | undefined
  parts.push(panel(10, 40 + ph + 20, pw, ph, 'Request overhead, 50 connections', 'requests/s',
    ov
      ? [{ label: '/health (no auth)', bars: [bar('health', ov.health.rps, C.base)] }, { label: '…/assignments (auth)', bars: [bar('assignments', ov.assignments.rps, C.proxy, Math.max(8000, ov.health.rps.median * 0.5))] }]
      : [], [{ value: 8000, label: 'target 8,000/s' }], [['baseline', C.base], ['authenticated', C.proxy]]))
  const inst = data.scenarios.instances?.data as { n: number, rssPerInstance: number, idle: { cpuPct: number }, baseline: { rssPerConsumer: number, idle: { cpuPct: number } } } | undefined
  parts.push(panel(10 + pw + 10, 40 + ph + 20, pw, ph, `RSS per idle instance${inst ? ` (${inst.n} instances)` : ''}`, 'KiB',
    inst ? [{ label: 'per instance / consumer', bars: [{ label: 'kafkajs', value: inst.baseline.rssPerConsumer / 1024, color: C.base }, { label: 'service', value: inst.rssPerInstance / 1024, color: C.proxy }] }] : [],
    [{ value: 1024, label: 'target 1 MiB' }], [['plain kafkajs consumers', C.base], ['service instances', C.proxy]]))
  parts.push(panel(10 + 2 * (pw + 10), 40 + ph + 20, pw, ph, 'Process CPU while idle', '% of one core',
    inst ? [{ label: `${inst.n} idle`, bars: [{ label: 'kafkajs', value: inst.baseline.idle.cpuPct, color: C.base }, { label: 'service', value: inst.idle.cpuPct, color: C.proxy }] }] : [],
    [{ value: 25, label: 'target 25 %' }], [['plain kafkajs consumers', C.base], ['service', C.proxy]]))
  const prod = data.scenarios.produce?.data as ProduceData | undefined
  const y3 = 40 + 2 * (ph + 20)
  const t = prod?.throughput
  parts.push(panel(10, y3, pw, ph, 'Produce throughput, 1 KiB, acks=all', 'records/s',
    t
      ? [
          { label: 'kafkajs', bars: [bar('kafkajs', t.kafkajs.recordsPerSec, C.base)] },
          { label: 'batch ×500', bars: [bar('batch', t.batch.recordsPerSec, C.proxy, t.kafkajs.recordsPerSec.median * 0.8)] },
          { label: 'stream ×1', bars: [bar('stream', t.stream1.recordsPerSec, C.json, t.kafkajs.recordsPerSec.median * 0.9)] },
          { label: 'stream ×4', bars: [bar('stream ×4', t.stream4.recordsPerSec, C.json)] }
        ]
      : [], [], [['kafkajs producer', C.base], ['records:batch', C.proxy], ['streaming', C.json]]))
  const pl = prod?.latency
  parts.push(panel(10 + pw + 10, y3, pw, ph, 'One-record produce latency', 'ms',
    pl
      ? [
          { label: 'p50 (target 3 ms)', bars: [{ label: 'kafkajs', value: pl.kafkajs.p50, color: C.base }, { label: 'POST records', value: pl.http.p50, color: C.proxy, target: 3 }] },
          { label: 'p99 (target 15 ms)', bars: [{ label: 'kafkajs', value: pl.kafkajs.p99, color: C.base }, { label: 'POST records', value: pl.http.p99, color: C.proxy, target: 15 }] }
        ]
      : [], [], [['kafkajs send()', C.base], ['POST records', C.proxy]]))
  parts.push(panel(10 + 2 * (pw + 10), y3, pw, ph, 'Server RSS, 100 concurrent producers', 'MiB',
    (prod?.crowds ?? []).map(c => ({
      label: `${c.kind} per request`,
      bars: [{ label: 'before', value: c.rssBefore / 1048576, color: C.base }, { label: 'peak', value: c.rssPeak / 1048576, color: C.proxy }, { label: 'after', value: c.rssAfter / 1048576, color: C.json }]
    })),
    prod ? [{ value: prod.rssBoundMiB, label: `bound ${prod.rssBoundMiB} MiB` }] : [], [['before', C.base], ['peak', C.proxy], ['after', C.json]]))
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold" fill="${C.text}">diaspora-service benchmarks: medians, whiskers min–max, red = target (npm run bench, ${esc(data.updatedAt.slice(0, 10))})</text>`,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
