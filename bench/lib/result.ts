/** The shape every scenario returns, and what the reporters (console, JSON, markdown, SVG) consume. */
export type ScenarioId = 'fetch' | 'latency' | 'instances' | 'overhead' | 'auth' | 'produce'
export const SCENARIOS: ScenarioId[] = ['fetch', 'latency', 'instances', 'overhead', 'auth', 'produce']

export interface Table {
  title?: string
  headers: string[]
  rows: string[][]
}

export interface Target {
  /** What is checked, e.g. "binary 1 KiB, 1 partition: proxy / kafkajs records/s". */
  name: string
  /** The goal, e.g. "≥ 0.5×". */
  goal: string
  /** The measured figure (median, with min–max). */
  measured: string
  /** Judged on the median. */
  pass: boolean
}

export interface ScenarioResult {
  id: ScenarioId
  title: string
  startedAt: string
  seconds: number
  /** Sizes, repetitions and knobs of this run. */
  settings: Record<string, unknown>
  tables: Table[]
  targets: Target[]
  /** Structured figures (medians with min/max and every run) for bench/results.json. */
  data: Record<string, unknown>
  notes: string[]
}

export interface ProfileSummary {
  label: string
  file: string
  /** Sampled ms inside the measured window, and the non-idle part of it. */
  windowMs: number
  totalMs: number
  /** Share of non-idle samples per category (project, kafkajs, fastify, node internals, GC, …). */
  categories: Array<{ name: string, pct: number }>
  /** Top self-time functions (share of non-idle samples). */
  top: Array<{ fn: string, where: string, selfPct: number, selfMs: number }>
}
