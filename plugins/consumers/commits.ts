/**
 * Commits of one consumer instance: as a member of its group (waiting, bounded, for the join: the driver cannot
 * commit for a member that is not joined) or detached (manual assignment: generation -1, only while the group has
 * no members), each answered within CONSUMER_JOIN_WAIT_MS. Commit-all commits exactly what was delivered
 * (the positions ledger), and an idle auto-commit sends nothing. Plain module.
 */
import { Errors } from '../errors/errors.js'
import { isKafkaError, type ConsumerClient, type ConsumerSession, type PartitionOffset } from '../kafka/driver.js'
import { raceTimeout, Waiters } from '../kafka/waits.js'
import type { InstanceObserver } from './instance-deps.js'
import type { Positions } from './positions.js'

export interface CommitsDeps {
  /** The group's Kafka name, and its name as the user knows it (for messages). */
  group: string
  groupName: string
  client: ConsumerClient
  positions: Positions
  joinWaitMs: number
  session (): ConsumerSession | undefined
  /** A subscription (commits as a member), not a manual assignment (detached commits). */
  asMember (): boolean
  joined (): boolean
  /** The outage under way (the session crashed and the driver rejoins), if any. */
  outage (): Error | undefined
  closed (): boolean
  /** A commit met a rebalance: the member is joining again. */
  rejoining (): void
  observer (): InstanceObserver | undefined
}

export class Commits {
  #joins = new Waiters()
  constructor (private readonly deps: CommitsDeps) {}

  /** The session joined its group (or the instance closes): commits waiting for it go on. */
  joined (): void { this.#joins.wake() }
  close (): void { this.#joins.wake() }

  /**
   * Commit what was delivered. `strict`: a failure is the caller's (else it is dropped: the auto-commit timer).
   * `skipUnchanged` (the timer): not when this very set of offsets is already committed by this instance, so idle
   * auto-committing instances send no OffsetCommit every interval.
   */
  async delivered (strict = false, skipUnchanged = false): Promise<void> {
    const { positions } = this.deps
    const list = positions.toCommit()
    if (list.length === 0) return
    if (skipUnchanged && positions.alreadyCommitted(list)) return
    try {
      await this.#commit(list)
      positions.committed(list)
    } catch (err) {
      if (strict) throw err
    }
  }

  /** Commit offsets the client named (already +1 and in Kafka names). */
  async explicit (list: PartitionOffset[]): Promise<void> {
    this.deps.positions.commitUnknown() // the group's offsets may differ from what was delivered now
    await this.#commit(list)
  }

  async #commit (list: PartitionOffset[]): Promise<void> {
    if (list.length === 0) return
    try {
      await this.withinJoinWait(this.#send(list))
    } catch (err) {
      this.deps.observer()?.commit?.(false)
      throw err
    }
    this.deps.observer()?.commit?.(true)
  }

  /**
   * A commit answers within CONSUMER_JOIN_WAIT_MS, join wait included: the driver retries a commit to a broker that
   * stopped answering for minutes (each attempt waits a whole request timeout). Past the deadline the client gets a
   * retriable error, or the outage when one is known. The abandoned attempt may still land later, which a retried
   * commit of the same offsets makes harmless.
   */
  withinJoinWait (work: Promise<void>): Promise<void> {
    const ms = this.deps.joinWaitMs
    return raceTimeout(work, ms, (): never => {
      throw this.deps.outage() ?? Errors.kafkaRetriable(`Kafka did not confirm the commit within ${ms} ms; retry the commit`)
    })
  }

  async #send (list: PartitionOffset[]): Promise<void> {
    const session = this.deps.session()
    if (this.deps.asMember()) {
      // The driver cannot commit while not joined: wait for the join (bounded), and once more if a rebalance
      // starts between the join and the commit.
      for (let attempt = 0; session?.running; attempt++) {
        await this.#awaitJoin()
        try {
          await session.commit(list)
          return
        } catch (err) {
          if (attempt > 0 || !(isKafkaError(err) && err.rejoin)) throw err
          this.deps.rejoining()
        }
      }
    }
    try {
      await this.deps.client.commitDetached(this.deps.group, list)
    } catch (err) {
      if (isKafkaError(err) && err.rejoin) {
        throw Errors.illegalState(`the group ${this.deps.groupName} has active members; a manually assigned consumer can only commit while the group is otherwise empty`)
      }
      throw err
    }
  }

  async #awaitJoin (): Promise<void> {
    if (this.deps.joined()) return
    // The session crashed and is being restarted: no join is coming soon; say why at once.
    const outage = this.deps.outage()
    if (outage) throw outage
    if (!await this.#joins.wait(this.deps.joinWaitMs)) {
      throw this.deps.outage() ?? Errors.kafkaRetriable('the consumer group is rebalancing; retry the commit')
    }
    if (this.deps.closed()) throw Errors.instanceNotFound()
  }
}
