/**
 * The admin side of the port over kafkajs without a broker: topic specs and ACL bindings reach kafkajs in its
 * shapes and enums and come back in Kafka's names, kafkajs' errors come out as KafkaErrors, and the shared
 * client's port view is retired as one with its raw view. credentials-scram and management integration tests
 * cover the same calls against the real broker.
 */
import t from 'tap'
import type { Admin } from 'kafkajs'
import type { AclBinding } from '../../../plugins/kafka/admin.js'
import { KafkaError } from '../../../plugins/kafka/driver.js'
import { kafkajsAdmin } from '../../../plugins/kafka/kafkajs/admin.js'
import { KafkajsClients } from '../../../plugins/kafka/kafkajs/clients.js'
import { loadConfig } from '../../../plugins/config/config.js'

const binding: AclBinding = {
  principal: 'User:u', host: '*', resourceType: 'GROUP', resourceName: 'ns-a.', patternType: 'PREFIXED', operation: 'DESCRIBE', permission: 'ALLOW'
}

t.test('topics: one spec in kafkajs\' shape, waiting for leaders; the broker count from the cluster', async t => {
  const calls: unknown[] = []
  const admin = kafkajsAdmin({
    createTopics: async (args: unknown) => { calls.push(args); return true },
    describeCluster: async () => ({ brokers: [{}, {}, {}], controller: 1, clusterId: 'c' })
  } as unknown as Admin)
  t.equal(await admin.createTopic({ name: 'ns.t', partitions: 3, replicationFactor: 1, configs: { 'retention.ms': '1000' } }), true)
  t.same(calls, [{
    topics: [{ topic: 'ns.t', numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '1000' }] }],
    waitForLeaders: true
  }])
  t.equal(await admin.brokerCount(), 3)
})

t.test('ACLs: Kafka\'s names in, kafkajs\' enums to the broker, the same names back', async t => {
  const sent: { create?: unknown, delete?: unknown } = {}
  const admin = kafkajsAdmin({
    createAcls: async (args: unknown) => { sent.create = args; return true },
    deleteAcls: async (args: unknown) => { sent.delete = args; return { filterResponses: [] } },
    describeAcls: async () => ({
      resources: [{
        resourceType: 3,
        resourceName: 'ns-a.',
        resourcePatternType: 4,
        acls: [{ principal: 'User:u', host: '*', operation: 8, permissionType: 3 }]
      }]
    })
  } as unknown as Admin)
  const wire = { principal: 'User:u', host: '*', resourceType: 3, resourceName: 'ns-a.', resourcePatternType: 4, operation: 8, permissionType: 3 }
  await admin.createAcls([binding])
  t.same(sent.create, { acl: [wire] }, 'GROUP=3, PREFIXED=4, DESCRIBE=8, ALLOW=3')
  const read = await admin.aclsOf('User:u')
  t.same(read, [binding], 'read back in Kafka\'s names')
  await admin.deleteAcls(read)
  t.same(sent.delete, { filters: [wire] }, 'a binding read back deletes exactly itself')
  await t.rejects(admin.createAcls([{ ...binding, operation: 'FLY' }]), /Unknown ACL operation: FLY/)
})

t.test('kafkajs\' errors come out as the port\'s', async t => {
  const admin = kafkajsAdmin({
    listTopics: async () => { throw Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' }) },
    deleteTopics: async () => { throw Object.assign(new Error('gone'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' }) },
    createTopics: async () => {
      throw Object.assign(new Error('aggregate'), {
        name: 'KafkaJSAggregateError',
        errors: [{ name: 'KafkaJSCreateTopicError', type: 'INVALID_REPLICATION_FACTOR', message: 'Replication factor: 2 larger than available brokers: 1.' }]
      })
    }
  } as unknown as Admin)
  const down = await admin.listTopics().catch((e: unknown) => e)
  t.ok(down instanceof KafkaError && down.outage, 'no broker: an outage')
  const gone = await admin.deleteTopics(['ns.t']).catch((e: unknown) => e)
  t.ok(gone instanceof KafkaError && gone.unknownTopic, 'unknown topic')
  const refused = await admin.createTopic({ name: 'ns.t', partitions: 1, replicationFactor: 2, configs: {} }).catch((e: unknown) => e)
  t.match(refused, { kind: 'INVALID_REPLICATION_FACTOR', message: 'Replication factor: 2 larger than available brokers: 1.' },
    'the broker\'s reason, from inside kafkajs\' aggregate')
})

t.test('the shared client: the port view is stable until retired; a late retire spares the replacement', async t => {
  const clients = new KafkajsClients(loadConfig({ AUTH_MODE: 'dev', DEFAULT_SERVERS: '127.0.0.1:1' }))
  t.teardown(() => clients.close())
  // A kafkajs client that "connects" without a broker.
  const made: Array<Record<string, unknown>> = []
  clients.createClient = () => ({
    admin: () => {
      const raw = { connect: async () => {}, disconnect: async () => {}, listTopics: async () => ['x'] }
      made.push(raw)
      return raw
    }
  }) as never
  const first = await clients.admin()
  t.equal(await clients.admin(), first, 'one port object per connection')
  t.same(await first.listTopics(), ['x'])
  t.equal(clients.retire(first, true), true)
  const second = await clients.admin()
  t.not(second, first, 'a new client after the retire')
  t.equal(clients.retire(first, true), true, 'a late caller is told to use the new one')
  t.equal(await clients.admin(), second, 'and does not retire it')
  t.equal(made.length, 2, 'two admin clients: the retired one and its replacement')
})
