/**
 * The kafkajs implementation of the Kafka driver port (../driver.ts): one kafkajs client per consumer
 * instance (kafkajs shares a committed-offsets cache per client that one member's join would wipe for another,
 * kafka-notes §1.3), the shared admin client for look-ups. kafkajs' string offsets become numbers here, its
 * errors KafkaErrors (errors.ts), and manual assignment gets its private shadow group here.
 */
import { randomUUID } from 'node:crypto'
import type { Admin, Kafka } from 'kafkajs'
import type { CommittedOffset, ConsumerClient, KafkaDriver, PartitionEdges } from '../driver.js'
import { kafkajsCall } from './errors.js'
import { GroupCommitter } from './group-committer.js'
import { Session } from './session.js'

export interface KafkajsDriverOptions {
  /** A new kafkajs client (KafkaService.createClient). */
  createClient (clientId: string): Kafka
  /** The shared, connected admin client; rejects with kafkajs' own error (KafkaService.connectedAdmin). */
  admin (): Promise<Admin>
}

/**
 * The private group of a manually assigned session: inside the namespace (the real group's name is the
 * prefix), so it is as isolated as the real one; deleted (best effort) when the client closes.
 */
export function shadowGroupName (groupId: string): string {
  return `${groupId}.assign-${randomUUID().slice(0, 8)}`
}

export function kafkajsDriver (opts: KafkajsDriverOptions): KafkaDriver {
  const withAdmin = <T>(fn: (admin: Admin) => Promise<T>): Promise<T> => kafkajsCall(async () => fn(await opts.admin()))
  return {
    connect (clientId: string): ConsumerClient {
      const kafka = opts.createClient(clientId)
      let committer: GroupCommitter | undefined
      const shadowGroups: string[] = []
      return {
        openSession (spec) {
          let groupId = spec.groupId
          if (spec.fixed) shadowGroups.push(groupId = shadowGroupName(spec.groupId))
          return new Session({ ...spec, groupId, kafka })
        },
        commitDetached: (groupId, offsets) =>
          kafkajsCall(() => (committer ??= new GroupCommitter(kafka, groupId)).commit(groupId, offsets)),
        async close () {
          await committer?.close()
          if (shadowGroups.length === 0) return
          const groups = shadowGroups.splice(0)
          await withAdmin(admin => admin.deleteGroups(groups)).catch(() => {})
        }
      }
    },
    listTopics: () => withAdmin(admin => admin.listTopics()),
    partitionCounts: (topics) => withAdmin(async admin => {
      const meta = await admin.fetchTopicMetadata({ topics })
      return new Map(meta.topics.map(t => [t.name, t.partitions.length]))
    }),
    committedOffsets: (groupId, topics) => withAdmin(async admin => {
      const out: CommittedOffset[] = []
      for (const t of await admin.fetchOffsets({ groupId, topics })) {
        for (const p of t.partitions) {
          const offset = Number(p.offset)
          if (offset >= 0) out.push({ topic: t.topic, partition: p.partition, offset, metadata: p.metadata ?? null })
        }
      }
      return out
    }),
    edges: (topic) => withAdmin(async admin => {
      const out: PartitionEdges[] = []
      for (const p of await admin.fetchTopicOffsets(topic)) {
        out.push({ partition: p.partition, low: Number(p.low), high: Number(p.high) })
      }
      return out
    }),
    offsetsForTimestamp: (topic, timestamp) => withAdmin(async admin => {
      const out = new Map<number, number>()
      for (const p of await admin.fetchTopicOffsetsByTimestamp(topic, timestamp)) {
        const offset = Number(p.offset)
        if (offset >= 0) out.set(p.partition, offset)
      }
      return out
    })
  }
}
