/**
 * The consumer instance's state machine: one state, and the transitions allowed between them. Plain module.
 */

/**
 * The instance's state. Allowed transitions (TRANSITIONS below):
 *   idle     nothing subscribed or assigned          → lazy (subscribe), joining (assign), closed
 *   lazy     subscribed, consumer not started yet    → joining / waiting (first read, commit or assignments
 *            (Java's subscribe() joins at poll())      request), idle, closed
 *   waiting  started, no session runs: no subscribed → joining (a refresh finds a topic, a retry), lazy (a start
 *            topic exists yet, or its start failed      that failed), idle, closed
 *   joining  a session runs, not in its group yet    → joined, outage, failed, waiting, joining (new session),
 *                                                      idle, closed
 *   joined   the session holds its assignment        → joining (rebalance), outage, failed, waiting, idle, closed
 *   outage   the session crashed, the driver rejoins → joined, joining (records arrived), failed, waiting, idle, closed
 *   failed   the session crashed for good            → joining (new session), waiting, idle, closed
 *   closed   final
 */
export type StateName = 'idle' | 'lazy' | 'waiting' | 'joining' | 'joined' | 'outage' | 'failed' | 'closed'
export type State = { name: Exclude<StateName, 'outage' | 'failed'> } | { name: 'outage' | 'failed', error: Error }

export const TRANSITIONS: Record<StateName, readonly StateName[]> = {
  idle: ['lazy', 'joining'],
  lazy: ['joining', 'waiting', 'idle'],
  waiting: ['joining', 'lazy', 'idle'],
  joining: ['joined', 'outage', 'failed', 'waiting', 'joining', 'idle'],
  joined: ['joining', 'outage', 'failed', 'waiting', 'idle'],
  outage: ['joined', 'joining', 'outage', 'failed', 'waiting', 'idle'],
  failed: ['joining', 'waiting', 'idle'],
  closed: []
}

/** Whether `from` may go to `to` (closed is final; any state may close, or stay where it is). */
export function allowed (from: StateName, to: StateName): boolean {
  return from !== 'closed' && (to === 'closed' || to === from || TRANSITIONS[from].includes(to))
}
