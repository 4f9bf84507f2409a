import { Kafka, logLevel } from 'kafkajs'
import { unsecuredJwt } from '../test/helpers/broker.js'
async function tryToken (label: string, token: string) {
  const admin = new Kafka({ brokers: ['127.0.0.1:9094'], retry: { retries: 0 }, logLevel: logLevel.NOTHING, sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: token }) } }).admin()
  try { await admin.connect(); await admin.listTopics(); console.log(label, 'OK', token) } catch (e) { console.log(label, 'FAIL', (e as Error).message, token) } finally { await admin.disconnect() }
}
const raw = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64').replace(/=+$/, '')
const iat = Math.floor(Date.now() / 1000)
await tryToken('helper tricky', unsecuredJwt('a>b?c~d>>>???éü😀'))
await tryToken('raw std +/', `${raw({ alg: 'none' })}.${raw({ sub: '>>>???~~~', iat, exp: iat + 3600 })}.`)
await tryToken('raw url -_', `${raw({ alg: 'none' })}.${Buffer.from(JSON.stringify({ sub: '>>>???~~~', iat, exp: iat + 3600 })).toString('base64url')}.`)
