/** Plain-text and markdown rendering of tables. */
import type { Table } from './result.js'

export function textTable (t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  const out = [line(t.headers), widths.map(w => '-'.repeat(w)).join('  ')]
  for (const r of t.rows) out.push(line(r))
  return (t.title ? `${t.title}\n` : '') + out.join('\n')
}

export function markdownTable (t: Table): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|')
  const out = [`| ${t.headers.map(esc).join(' | ')} |`, `|${t.headers.map(() => '---').join('|')}|`]
  for (const r of t.rows) out.push(`| ${r.map(esc).join(' | ')} |`)
  return out.join('\n')
}
