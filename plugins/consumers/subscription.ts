/**
 * What a consumer instance is asked to consume (nothing, a topic list, a pattern, or fixed partitions), the
 * subscribed topics that exist now, and the periodic re-listing that picks up topics created later. Checks a
 * subscribe request the way Confluent answers it (409/40903 for mixing kinds, 422/42204 for an empty request).
 * Plain module.
 */
import { Errors } from '../errors/errors.js'
import type { TopicPartition } from '../kafka/driver.js'
import type { NamespaceMapper } from './instance.js'

export type Desired =
  | { kind: 'none' }
  | { kind: 'topics', topics: string[] }
  | { kind: 'pattern', source: string, matches (t: string): boolean }
  | { kind: 'assign', partitions: TopicPartition[] }

export interface SubscribeRequest { topics?: string[], topic_pattern?: string }

const EXCLUSIVE = 'Subscription to topics, partitions and pattern are mutually exclusive'

/**
 * The desired state a subscribe request asks for, given the current one; `undefined` for an empty topic list
 * (Confluent's unsubscribe). Kafka names, through the namespace mapping.
 */
export function parseSubscribe (
  req: SubscribeRequest, current: Desired, names: NamespaceMapper, namespace: string
): Desired | undefined {
  if (req.topics !== undefined && req.topic_pattern !== undefined) {
    throw Errors.illegalState('Subscription to topics and to a topic pattern are mutually exclusive; send one of them')
  }
  if (req.topics === undefined && req.topic_pattern === undefined) {
    throw Errors.unprocessable('A subscription needs either topics or topic_pattern', 42204)
  }
  if (current.kind === 'assign') throw Errors.illegalState(EXCLUSIVE)
  let next: Desired
  if (req.topics !== undefined) {
    if (req.topics.length === 0) return undefined
    next = { kind: 'topics', topics: [...new Set(req.topics.map(t => names.kafkaTopic(namespace, t)))] }
  } else {
    const scoped = names.scopePattern(namespace, req.topic_pattern as string)
    next = { kind: 'pattern', source: scoped.source, matches: scoped.matches }
  }
  if ((current.kind === 'topics' && next.kind === 'pattern') || (current.kind === 'pattern' && next.kind === 'topics')) {
    throw Errors.illegalState(`${EXCLUSIVE}; unsubscribe first`)
  }
  return next
}

/** Assigning while subscribed is refused (409/40903); `DELETE …/subscription` clears both. */
export function checkAssign (current: Desired): void {
  if (current.kind === 'topics' || current.kind === 'pattern') throw Errors.illegalState(EXCLUSIVE)
}

export class Subscription {
  desired: Desired = { kind: 'none' }
  /**
   * The subscribed topics that exist (a pattern: those it matches now): what the session runs, or will run once
   * the instance starts it.
   */
  topics: string[] = []
  /** Bumped by every subscribe and unsubscribe: a refresh that listed topics before a change is dropped. */
  generation = 0
  #refreshTimer: NodeJS.Timeout | undefined

  get subscribed (): boolean { return this.desired.kind === 'topics' || this.desired.kind === 'pattern' }

  set (next: Desired): void {
    this.desired = next
    this.generation++
  }

  clear (): void {
    this.set({ kind: 'none' })
    this.topics = []
    this.stopRefresh()
  }

  /** The subscribed topics among the cluster's (sorted); [] when not subscribed. */
  resolve (existing: readonly string[]): string[] {
    const d = this.desired
    const topics = d.kind === 'topics'
      ? d.topics.filter(t => existing.includes(t))
      : d.kind === 'pattern' ? existing.filter(t => d.matches(t)) : []
    return topics.sort()
  }

  /** Kafka names of the subscription (a topic list as asked, a pattern: the topics it matches now). */
  kafkaTopics (): string[] {
    const d = this.desired
    return d.kind === 'topics' ? d.topics : d.kind === 'pattern' ? this.topics : []
  }

  /**
   * Re-list the cluster's topics every `ms` (through `list`, which may share listings between instances) and hand
   * each listing to `apply` with the generation it was started in (`apply` drops it when a (re)subscribe came
   * since). The listing runs outside the instance's control chain: a broker slow to answer must not hold up the
   * commits and seeks queued behind it.
   */
  startRefresh (
    ms: number,
    list: (maxAgeMs: number) => Promise<string[]>,
    apply: (listed: string[], generation: number) => Promise<void>,
    onError: (err: unknown) => void
  ): void {
    if (this.#refreshTimer) return
    let running = false
    this.#refreshTimer = setInterval(() => {
      if (running) return
      running = true
      const generation = this.generation
      list(ms)
        .then(listed => apply(listed, generation))
        .catch(onError)
        .finally(() => { running = false })
    }, ms).unref()
  }

  stopRefresh (): void {
    clearInterval(this.#refreshTimer)
    this.#refreshTimer = undefined
  }
}
