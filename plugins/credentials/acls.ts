/**
 * Kafka ACLs of a SCRAM principal: for each namespace it owns, PREFIXED patterns on `<namespace>.` for topics
 * (READ, WRITE, DESCRIBE) and consumer groups (READ, DESCRIBE). Nothing else: no CREATE (topics are made
 * through the HTTP API, which keeps the metadata), no cluster rights. `reconcile` makes the broker's ACLs of
 * the principal exactly the wanted set, so it is idempotent and repairs drift. Plain module.
 */
import type { AclBinding, KafkaAdmin } from '../kafka/admin.js'

const TOPIC_OPS = ['READ', 'WRITE', 'DESCRIBE']
const GROUP_OPS = ['READ', 'DESCRIBE']

export function principalOf (user: string): string {
  return `User:${user}`
}

/** The ACLs `principal` should have for `namespaces`. */
export function wantedAcls (principal: string, namespaces: readonly string[]): AclBinding[] {
  const out: AclBinding[] = []
  for (const ns of namespaces) {
    const prefix = `${ns}.`
    for (const operation of TOPIC_OPS) out.push(binding(principal, 'TOPIC', prefix, operation))
    for (const operation of GROUP_OPS) out.push(binding(principal, 'GROUP', prefix, operation))
  }
  return out
}

function binding (principal: string, resourceType: string, resourceName: string, operation: string): AclBinding {
  return { principal, host: '*', resourceType, resourceName, patternType: 'PREFIXED', operation, permission: 'ALLOW' }
}

function keyOf (a: AclBinding): string {
  return [a.resourceType, a.resourceName, a.patternType, a.principal, a.host, a.operation, a.permission].join('\u0000')
}

/** Make `principal`'s ACLs exactly those for `namespaces`: the missing ones are created, the others deleted. */
export async function reconcileAcls (
  admin: KafkaAdmin,
  principal: string,
  namespaces: readonly string[]
): Promise<{ created: number, deleted: number }> {
  const wanted = wantedAcls(principal, namespaces)
  const have = await admin.aclsOf(principal)
  const haveKeys = new Set(have.map(keyOf))
  const wantedKeys = new Set(wanted.map(keyOf))
  const missing = wanted.filter(a => !haveKeys.has(keyOf(a)))
  const extra = have.filter(a => !wantedKeys.has(keyOf(a)))
  // Withdraw first: a failure half-way leaves less access, never more.
  if (extra.length > 0) await admin.deleteAcls(extra)
  if (missing.length > 0) await admin.createAcls(missing)
  return { created: missing.length, deleted: extra.length }
}
