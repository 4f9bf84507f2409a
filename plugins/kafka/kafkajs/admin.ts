/**
 * The admin side of the port (../admin.ts) over one kafkajs admin client: topic specs and ACL bindings
 * translated to kafkajs' shapes and enums, every failure as a KafkaError (errors.ts).
 */
import { createRequire } from 'node:module'
import type { AclEntry, AclFilter, Admin } from 'kafkajs'
import type { AclBinding, KafkaAdmin, NewTopic } from '../admin.js'
import { kafkajsCall } from './errors.js'

// Node's ESM view of kafkajs (CommonJS) lacks these enums as named exports: take them from require.
const {
  AclOperationTypes: Operation,
  AclPermissionTypes: Permission,
  AclResourceTypes: Resource,
  ResourcePatternTypes: Pattern
} = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs')

type Enum = Readonly<Record<string, string | number>>

/** Kafka's name of a kafkajs enum value (`UNKNOWN` for one kafkajs does not name). */
function nameOf (e: Enum, value: number): string {
  for (const [k, v] of Object.entries(e)) if (v === value) return k
  return 'UNKNOWN'
}

/** The kafkajs enum value of a Kafka name; an unknown name is a programming error. */
function valueOf<T> (e: Enum, name: string, what: string): T {
  const v = e[name]
  if (typeof v !== 'number') throw new TypeError(`Unknown ACL ${what}: ${name}`)
  return v as T
}

function toEntry (a: AclBinding): AclEntry {
  return {
    principal: a.principal,
    host: a.host,
    resourceType: valueOf(Resource, a.resourceType, 'resource type'),
    resourceName: a.resourceName,
    resourcePatternType: valueOf(Pattern, a.patternType, 'pattern type'),
    operation: valueOf(Operation, a.operation, 'operation'),
    permissionType: valueOf(Permission, a.permission, 'permission')
  }
}

export function kafkajsAdmin (admin: Admin): KafkaAdmin {
  return {
    listTopics: () => kafkajsCall(() => admin.listTopics()),
    createTopic: (t: NewTopic) => kafkajsCall(() => admin.createTopics({
      topics: [{
        topic: t.name,
        numPartitions: t.partitions,
        replicationFactor: t.replicationFactor,
        configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value }))
      }],
      waitForLeaders: true
    })),
    deleteTopics: (names) => kafkajsCall(() => admin.deleteTopics({ topics: names })),
    brokerCount: () => kafkajsCall(async () => (await admin.describeCluster()).brokers.length),
    aclsOf: (principal) => kafkajsCall(async () => {
      const r = await admin.describeAcls({
        resourceType: Resource.ANY,
        resourcePatternType: Pattern.ANY,
        principal,
        operation: Operation.ANY,
        permissionType: Permission.ANY
      })
      const out: AclBinding[] = []
      for (const res of r.resources) {
        for (const acl of res.acls) {
          out.push({
            principal: acl.principal,
            host: acl.host,
            resourceType: nameOf(Resource, res.resourceType),
            resourceName: res.resourceName,
            patternType: nameOf(Pattern, res.resourcePatternType),
            operation: nameOf(Operation, acl.operation),
            permission: nameOf(Permission, acl.permissionType)
          })
        }
      }
      return out
    }),
    createAcls: (acls) => kafkajsCall(async () => { await admin.createAcls({ acl: acls.map(toEntry) }) }),
    deleteAcls: (acls) => kafkajsCall(async () => {
      await admin.deleteAcls({ filters: acls.map(toEntry) as AclFilter[] })
    })
  }
}
