/**
 * The cluster's topic list, shared by every consumer instance of the process. Subscriptions re-list topics every
 * CONSUMER_PATTERN_REFRESH_MS to pick up topics created later; with one call per instance, 1,000 instances made
 * 100 Metadata requests a second, each answered with every topic of the cluster (BENCHMARKS.md, many instances).
 * A caller says how old a listing it accepts: the refresh takes one up to its interval old (and so shares it), a
 * subscribe request (maxAgeMs 0) always a new one, so that a topic created just before is seen. Plain module: no
 * Fastify, no kafkajs.
 */
export class TopicList {
  #last: { at: number, topics: Promise<string[]> } | undefined

  constructor (private readonly fetch: () => Promise<string[]>, private readonly now: () => number = Date.now) {}

  /**
   * Topic names from a listing started at most `maxAgeMs` ago (in flight or done; 0: a new one); failures are not
   * kept.
   */
  list (maxAgeMs: number): Promise<string[]> {
    const now = this.now()
    const last = this.#last
    if (last && maxAgeMs > 0 && now - last.at <= maxAgeMs) return last.topics
    const entry = { at: now, topics: this.fetch() }
    this.#last = entry
    entry.topics.catch(() => { if (this.#last === entry) this.#last = undefined })
    return entry.topics
  }
}
