/** Small statistics helpers: percentiles of samples, and median/min/max summaries of repeated runs. */

export interface Spread {
  median: number
  min: number
  max: number
  /** Every run's value, in run order. */
  runs: number[]
}

/** Percentile (0–100) by linear interpolation between closest ranks. NaN for no samples. */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  const a = sorted[lo] as number
  const b = sorted[hi] as number
  return a + (b - a) * (rank - lo)
}

export function median (values: readonly number[]): number {
  return percentile(values, 50)
}

/** Median, min and max of repeated runs (NaN runs are skipped). */
export function spread (runs: readonly number[]): Spread {
  const ok = runs.filter(v => Number.isFinite(v))
  if (ok.length === 0) return { median: NaN, min: NaN, max: NaN, runs: [...runs] }
  return { median: median(ok), min: Math.min(...ok), max: Math.max(...ok), runs: [...runs] }
}

export function mean (values: readonly number[]): number {
  if (values.length === 0) return NaN
  let s = 0
  for (const v of values) s += v
  return s / values.length
}

/** Round to `digits` significant digits (for display and JSON). */
export function sig (v: number, digits = 3): number {
  if (!Number.isFinite(v) || v === 0) return v
  const p = Math.pow(10, digits - Math.ceil(Math.log10(Math.abs(v))))
  return Math.round(v * p) / p
}

/** Human format: 12,345 / 1.23 / 0.0123. */
export function fmt (v: number, digits = 3): string {
  if (!Number.isFinite(v)) return 'n/a'
  const s = sig(v, digits)
  if (Math.abs(s) >= 1000) return Math.round(s).toLocaleString('en-US')
  return String(s)
}

/** "median (min–max)". */
export function fmtSpread (s: Spread, digits = 3, unit = ''): string {
  if (!Number.isFinite(s.median)) return 'n/a'
  if (s.runs.length <= 1 || s.min === s.max) return `${fmt(s.median, digits)}${unit}`
  return `${fmt(s.median, digits)}${unit} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`
}

/** Ratio of two spreads' runs, pairwise (same-run pairs), as a spread. */
export function ratioSpread (num: readonly number[], den: readonly number[]): Spread {
  const n = Math.min(num.length, den.length)
  const r: number[] = []
  for (let i = 0; i < n; i++) r.push((num[i] as number) / (den[i] as number))
  return spread(r)
}
