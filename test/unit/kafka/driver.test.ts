/**
 * The kafkajs driver without a broker: a manually assigned session runs in a private group inside the
 * namespace, deleted when the client closes; kafkajs' string offsets come out as numbers; and kafkajs' errors
 * come out as the port's KafkaError with the flags the engine decides on.
 */
import t from 'tap'
import { Kafka as KafkaClient, logLevel, type Admin, type ConsumerConfig, type Kafka } from 'kafkajs'
import { KafkaError, type SessionHandlers } from '../../../plugins/kafka/driver.js'
import { kafkajsDriver } from '../../../plugins/kafka/kafkajs/driver.js'
import { toKafkaError } from '../../../plugins/kafka/kafkajs/errors.js'
import { applyKafkajsPatches } from '../../../plugins/kafka/kafkajs/patches.js'

await applyKafkajsPatches()

const handlers: SessionHandlers = { onJoin () {}, onRecords () {}, onRebalancing () {}, onCrash () {} }
const spec = { topics: ['ns.t'], fromBeginning: true, sessionTimeout: 6000, heartbeatInterval: 200, maxWaitTimeInMs: 100, maxBytes: 1048576, handlers }

/** A kafkajs client that never connects, noting the group of each consumer made. */
function client (groups: string[]): Kafka {
  const real = new KafkaClient({ clientId: 'unit', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING })
  return {
    consumer: (cfg: ConsumerConfig) => { groups.push(cfg.groupId); return real.consumer(cfg) }
  } as unknown as Kafka
}

t.test('fixed partitions run in a private group inside the real one\'s name, deleted on close', async t => {
  const groups: string[] = []
  const deleted: string[][] = []
  const admin = { deleteGroups: async (g: string[]) => { deleted.push(g); return [] } } as unknown as Admin
  const driver = kafkajsDriver({ createClient: () => client(groups), admin: async () => admin })
  const c = driver.connect('unit')
  const member = c.openSession({ ...spec, groupId: 'ns.g' })
  const fixed = c.openSession({ ...spec, groupId: 'ns.g', fixed: { 'ns.t': [0] } })
  t.equal(groups[0], 'ns.g', 'a subscription is a member of the real group')
  t.match(groups[1], /^ns\.g\.assign-[0-9a-f]{8}$/, 'manual assignment: a private group inside the namespace')
  await member.stop()
  await fixed.stop()
  await c.close()
  t.same(deleted, [[groups[1]]], 'the shadow group is deleted on close')
})

t.test('look-ups answer numbers, and fail with KafkaErrors', async t => {
  const admin = {
    fetchTopicOffsets: async () => [{ partition: 0, offset: '9', low: '2', high: '9' }],
    fetchOffsets: async () => [{ topic: 'ns.t', partitions: [{ partition: 0, offset: '4', metadata: null }, { partition: 1, offset: '-1', metadata: null }] }],
    fetchTopicOffsetsByTimestamp: async () => [{ partition: 0, offset: '7' }, { partition: 1, offset: '-1' }],
    fetchTopicMetadata: async () => { throw Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' }) }
  } as unknown as Admin
  const driver = kafkajsDriver({ createClient: () => client([]), admin: async () => admin })
  t.same(await driver.edges('ns.t'), [{ partition: 0, low: 2, high: 9 }])
  t.same(await driver.committedOffsets('ns.g', ['ns.t']), [{ topic: 'ns.t', partition: 0, offset: 4, metadata: null }], 'never-committed partitions left out')
  t.same([...await driver.offsetsForTimestamp('ns.t', 5)], [[0, 7]], 'no record at or after the instant: absent')
  const err = await driver.partitionCounts(['ns.x']).catch((e: unknown) => e)
  t.ok(err instanceof KafkaError && err.unknownTopic, 'unknown topic')
})

t.test('kafkajs errors as KafkaErrors: kind, rejoin, outage, retriable', async t => {
  const rebalancing = toKafkaError(Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS', retriable: true }))
  t.match(rebalancing, { kind: 'REBALANCE_IN_PROGRESS', rejoin: true, retriable: true, outage: false })
  const refused = toKafkaError(Object.assign(new Error('retries'), { name: 'KafkaJSNumberOfRetriesExceeded', originalError: Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' }) }))
  t.match(refused, { outage: true, retriable: true, rejoin: false, message: 'connect ECONNREFUSED' }, 'the innermost message')
  t.equal(toKafkaError(rebalancing), rebalancing, 'a KafkaError passes through')
})
