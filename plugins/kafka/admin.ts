/**
 * The admin side of the Kafka port (driver.ts is the engines' side): what the namespace service asks of Kafka
 * (topics, the cluster's size) and what the credentials plugin asks (ACLs, SCRAM users), in the service's own
 * terms. ACL fields carry Kafka's own names (`TOPIC`, `PREFIXED`, `READ`, `ALLOW` …, as in Kafka's Java admin
 * client), so a binding read from the broker can be handed back to delete it. Every failure is the port's
 * KafkaError. The kafkajs adapter implements it (kafkajs/admin.ts, kafkajs/scram.ts); unit tests use fakes.
 * Plain module: no Fastify, no kafkajs.
 */

/** A topic to create. */
export interface NewTopic {
  name: string
  partitions: number
  replicationFactor: number
  /** Topic-level configs (`retention.ms` …). */
  configs: Record<string, string>
}

/** One ACL binding: a resource pattern and an access control entry, with Kafka's names. */
export interface AclBinding {
  /** `User:<name>`. */
  principal: string
  host: string
  /** `TOPIC`, `GROUP`, `CLUSTER`, `TRANSACTIONAL_ID`, `DELEGATION_TOKEN`. */
  resourceType: string
  resourceName: string
  /** `LITERAL` or `PREFIXED`. */
  patternType: string
  /** `READ`, `WRITE`, `DESCRIBE`, `ALL` … */
  operation: string
  /** `ALLOW` or `DENY`. */
  permission: string
}

export interface KafkaAdmin {
  listTopics (): Promise<string[]>
  /**
   * Create one topic and wait for its leaders; false when Kafka already had it. Kafka refusing the settings
   * fails with its error name as the kind (`INVALID_REPLICATION_FACTOR`, `INVALID_CONFIG`, `POLICY_VIOLATION`,
   * `INVALID_TOPIC_EXCEPTION` …) and the broker's explanation as the message.
   */
  createTopic (topic: NewTopic): Promise<boolean>
  /** Delete topics; a topic Kafka does not know fails with kind `UNKNOWN_TOPIC_OR_PARTITION`. */
  deleteTopics (names: string[]): Promise<void>
  brokerCount (): Promise<number>
  /** Every ACL binding of `principal`, on any resource. */
  aclsOf (principal: string): Promise<AclBinding[]>
  createAcls (acls: AclBinding[]): Promise<void>
  /** Delete exactly these bindings. */
  deleteAcls (acls: AclBinding[]): Promise<void>
}

/**
 * SCRAM-SHA-512 users (KIP-554). The service's own Kafka principal needs ALTER on the cluster. The password
 * is salted in this process: it never reaches Kafka.
 */
export interface ScramUsers {
  /** Create or replace `user`'s credential. */
  upsert (user: string, password: string): Promise<void>
  /** Delete `user`'s credential; false when it had none. */
  delete (user: string): Promise<boolean>
  close (): Promise<void>
}
