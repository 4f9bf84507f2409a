/**
 * Kafka ACLs of a SCRAM principal: for each namespace it owns, PREFIXED patterns on `<namespace>.` for topics
 * (READ, WRITE, DESCRIBE) and consumer groups (READ, DESCRIBE). Nothing else: no CREATE (topics are made
 * through the HTTP API, which keeps the metadata), no cluster rights. `reconcile` makes the broker's ACLs of
 * the principal exactly the wanted set, so it is idempotent and repairs drift. Plain module.
 */
import { createRequire } from 'node:module'
import type { AclEntry, AclOperationTypes, AclResourceTypes, Admin } from 'kafkajs'

// Node's ESM view of kafkajs (CommonJS) lacks these enums as named exports: take them from require.
const {
  AclOperationTypes: Op,
  AclPermissionTypes: Permission,
  AclResourceTypes: Resource,
  ResourcePatternTypes: Pattern
} = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs')

const TOPIC_OPS = [Op.READ, Op.WRITE, Op.DESCRIBE]
const GROUP_OPS = [Op.READ, Op.DESCRIBE]

export function principalOf (user: string): string {
  return `User:${user}`
}

/** The ACLs `principal` should have for `namespaces`. */
export function wantedAcls (principal: string, namespaces: readonly string[]): AclEntry[] {
  const out: AclEntry[] = []
  for (const ns of namespaces) {
    const prefix = `${ns}.`
    for (const operation of TOPIC_OPS) out.push(entry(principal, Resource.TOPIC, prefix, operation))
    for (const operation of GROUP_OPS) out.push(entry(principal, Resource.GROUP, prefix, operation))
  }
  return out
}

function entry (
  principal: string,
  resourceType: AclResourceTypes,
  resourceName: string,
  operation: AclOperationTypes
): AclEntry {
  return {
    principal,
    host: '*',
    resourceType,
    resourceName,
    resourcePatternType: Pattern.PREFIXED,
    operation,
    permissionType: Permission.ALLOW
  }
}

function keyOf (a: AclEntry): string {
  return [a.resourceType, a.resourceName, a.resourcePatternType, a.principal, a.host, a.operation, a.permissionType].join('\u0000')
}

/** Every ACL bound to `principal`, on any resource. */
export async function currentAcls (admin: Admin, principal: string): Promise<AclEntry[]> {
  const r = await admin.describeAcls({
    resourceType: Resource.ANY,
    resourcePatternType: Pattern.ANY,
    principal,
    operation: Op.ANY,
    permissionType: Permission.ANY
  })
  const out: AclEntry[] = []
  for (const res of r.resources) {
    for (const acl of res.acls) {
      out.push({
        ...acl,
        resourceType: res.resourceType,
        resourceName: res.resourceName,
        resourcePatternType: res.resourcePatternType
      })
    }
  }
  return out
}

/** Make `principal`'s ACLs exactly those for `namespaces`: the missing ones are created, the others deleted. */
export async function reconcileAcls (
  admin: Admin,
  principal: string,
  namespaces: readonly string[]
): Promise<{ created: number, deleted: number }> {
  const wanted = wantedAcls(principal, namespaces)
  const have = await currentAcls(admin, principal)
  const haveKeys = new Set(have.map(keyOf))
  const wantedKeys = new Set(wanted.map(keyOf))
  const missing = wanted.filter(a => !haveKeys.has(keyOf(a)))
  const extra = have.filter(a => !wantedKeys.has(keyOf(a)))
  // Withdraw first: a failure half-way leaves less access, never more.
  if (extra.length > 0) await admin.deleteAcls({ filters: extra })
  if (missing.length > 0) await admin.createAcls({ acl: missing })
  return { created: missing.length, deleted: extra.length }
}
