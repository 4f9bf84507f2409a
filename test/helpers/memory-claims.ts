/**
 * The claim table of instance names (plugins/cluster/claim-table.ts) in memory, with the DynamoDB table's
 * conditions (DynamoDB itself is mocked: for the logic of claims.ts and of the cluster plugin in one process).
 */
import type { Claim, ClaimStore, Holder } from '../../plugins/cluster/claim-table.js'

export class MemoryClaims implements ClaimStore {
  items = new Map<string, Claim>()
  calls = 0
  /** Run before the next put's condition is checked (a racing node's write). */
  beforePut: (() => void) | undefined
  async put (claim: Claim, old?: Holder): Promise<boolean> {
    this.calls++
    const race = this.beforePut
    this.beforePut = undefined
    race?.()
    const cur = this.items.get(claim.key)
    if (old === undefined
      ? cur !== undefined
      : (cur === undefined || cur.node !== old.node || cur.incarnation !== old.incarnation)) return false
    this.items.set(claim.key, { ...claim })
    return true
  }

  async get (key: string): Promise<Claim | undefined> { this.calls++; return this.items.get(key) }
  async release (key: string, holder: Holder): Promise<boolean> {
    this.calls++
    const cur = this.items.get(key)
    if (cur === undefined || cur.node !== holder.node || cur.incarnation !== holder.incarnation) return false
    this.items.delete(key)
    return true
  }

  close (): void {}
}
