/**
 * Commits without group membership (manual assignment), through an undocumented kafkajs handle. Plain module.
 */
import { PartitionAssigners, type Consumer, type Kafka, type PartitionAssigner } from 'kafkajs'
import type { PartitionOffset } from '../driver.js'

interface CapturedBroker {
  offsetCommit (req: {
    groupId: string
    groupGenerationId: number
    memberId: string
    retentionTime?: number
    topics: Array<{ topic: string, partitions: Array<{ partition: number, offset: string, metadata?: string | null }> }>
  }): Promise<unknown>
}
interface CapturedCluster { findGroupCoordinator (req: { groupId: string }): Promise<CapturedBroker> }

/**
 * Commits without group membership (generation -1, empty member id), as Java's assign() does: accepted by the
 * broker only while the group has no active members. Uses the Cluster handle kafkajs passes to assigner
 * factories (typed in kafkajs' own d.ts, undocumented), from a consumer that connects but never runs.
 */
export class GroupCommitter {
  #consumer: Consumer
  #cluster: CapturedCluster | undefined
  #connected: Promise<void> | undefined

  constructor (kafka: Kafka, groupId: string) {
    const capture: PartitionAssigner = (config) => {
      this.#cluster = config.cluster as unknown as CapturedCluster
      return PartitionAssigners.roundRobin(config)
    }
    this.#consumer = kafka.consumer({
      groupId,
      partitionAssigners: [capture],
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 100 }
    })
  }

  async commit (groupId: string, offsets: PartitionOffset[]): Promise<void> {
    this.#connected ??= this.#consumer.connect().catch((err: unknown) => { this.#connected = undefined; throw err })
    await this.#connected
    const cluster = this.#cluster
    if (!cluster) throw new Error('kafkajs did not hand over its cluster')
    const byTopic = new Map<string, Array<{ partition: number, offset: string, metadata?: string | null }>>()
    for (const o of offsets) {
      const list = byTopic.get(o.topic) ?? []
      list.push({ partition: o.partition, offset: String(o.offset), metadata: o.metadata ?? null })
      byTopic.set(o.topic, list)
    }
    const coordinator = await cluster.findGroupCoordinator({ groupId })
    await coordinator.offsetCommit({
      groupId,
      groupGenerationId: -1,
      memberId: '',
      retentionTime: -1,
      topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
    })
  }

  async close (): Promise<void> {
    if (this.#connected) await this.#consumer.disconnect().catch(() => {})
  }
}
