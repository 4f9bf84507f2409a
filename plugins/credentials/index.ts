import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { bootstrapServers, type Config } from '../config/config.js'
import type { KafkaService } from '../kafka/kafka-service.js'
import type { CredentialBackend } from './backend.js'
import { CredentialService } from './credential-service.js'
import { IamBackend } from './iam-backend.js'
import { ScramBackend } from './scram-backend.js'
import { SecretBox } from './secret-box.js'

declare module 'fastify' {
  interface FastifyInstance {
    credentials: CredentialService
  }
}

/** The backend KAFKA_CREDENTIALS names (undefined when off). */
export function createBackend (config: Config, kafka: KafkaService): CredentialBackend | undefined {
  switch (config.KAFKA_CREDENTIALS) {
    case 'off': return undefined
    case 'scram':
      // The service's own Kafka connection does SCRAM and ACL changes: its principal must be allowed to.
      return new ScramBackend({
        admin: () => kafka.admin(),
        scram: kafka.scramUsers(`${config.KAFKA_CLIENT_ID}-credentials`)
      })
    case 'iam':
      return new IamBackend({
        accountId: config.AWS_ACCOUNT_ID ?? '',
        region: config.AWS_ACCOUNT_REGION ?? '',
        cluster: config.MSK_CLUSTER_NAME ?? ''
      })
  }
}

/**
 * Kafka credentials for native clients (`fastify.credentials`): the /api/v3/key routes and the identity side
 * of /api/v3/user. Observes the namespace service, so grants follow claims and releases.
 */
const credentialsPlugin: FastifyPluginAsync = async (fastify) => {
  const { config, kafka, namespaces } = fastify
  const backend = createBackend(config, kafka)
  const service = new CredentialService({
    mode: config.KAFKA_CREDENTIALS,
    store: namespaces.store,
    ...(backend ? { backend } : {}),
    ...(config.KEYS_ENCRYPTION_KEY !== undefined ? { box: new SecretBox(config.KEYS_ENCRYPTION_KEY) } : {}),
    endpoint: config.KAFKA_CREDENTIALS_ENDPOINT ?? bootstrapServers(config).join(','),
    logger: fastify.log.child({ component: 'credentials' })
  })
  if (backend) namespaces.observe(service)
  fastify.decorate('credentials', service)
  fastify.addHook('onClose', async () => { await service.close() })
}

export default fp(credentialsPlugin, { name: 'credentials', fastify: '5.x', dependencies: ['config', 'kafka', 'namespaces'] })
