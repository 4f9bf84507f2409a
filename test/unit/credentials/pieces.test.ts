// The plain pieces of plugins/credentials: the sealed secrets, the SCRAM request encoding and salted password,
// the wanted ACLs and the IAM policy document.
import t from 'tap'
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { SecretBox } from '../../../plugins/credentials/secret-box.js'
import { decodeAlterScram, encodeAlterScram, saltedPassword, scramUpsertion, SCRAM_ITERATIONS } from '../../../plugins/kafka/kafkajs/scram.js'
import { principalOf, wantedAcls } from '../../../plugins/credentials/acls.js'
import { KAFKA_ACTIONS, policyDocument } from '../../../plugins/credentials/iam-backend.js'

t.test('secret box: seals, opens only for the same item and key', async t => {
  const key = randomBytes(32).toString('base64')
  const box = new SecretBox(key)
  const sealed = box.seal('s3cret-value', 'alice', 'AK1')
  t.notOk(sealed.includes('s3cret'), 'nothing of the secret shows')
  t.not(box.seal('s3cret-value', 'alice', 'AK1'), sealed, 'a fresh nonce each time')
  t.equal(box.open(sealed, 'alice', 'AK1'), 's3cret-value')
  t.throws(() => box.open(sealed, 'bob', 'AK1'), /does not open/, 'bound to the subject')
  t.throws(() => box.open(sealed, 'alice', 'AK2'), /does not open/, 'and to the access key')
  t.throws(() => new SecretBox(randomBytes(32).toString('base64')).open(sealed, 'alice', 'AK1'), /does not open/, 'and to the key')
  t.throws(() => box.open('plain text', 'alice', 'AK1'), /not in the sealed format/)
  const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAA=') ? 'BBB=' : 'AAA=')
  t.throws(() => box.open(tampered, 'alice', 'AK1'))
  t.throws(() => new SecretBox(randomBytes(16).toString('base64')), /32 bytes/)
})

t.test('SCRAM: salted password is PBKDF2-HMAC-SHA512 over the NFKC password', async t => {
  const salt = Buffer.from('salt-salt-salt')
  t.same(await saltedPassword('pencil', salt, 4096), pbkdf2Sync('pencil', salt, 4096, 64, 'sha512'))
  t.same(await saltedPassword('\u2168', salt, 4096), pbkdf2Sync('IX', salt, 4096, 64, 'sha512'), 'normalized')
  const u = await scramUpsertion('bob', 'pw')
  t.equal(u.iterations, SCRAM_ITERATIONS)
  t.ok(u.iterations >= 4096)
  t.equal(u.salt.length, 32)
  t.same(u.saltedPassword, pbkdf2Sync('pw', u.salt, u.iterations, 64, 'sha512'))
})

t.test('SCRAM: AlterUserScramCredentials v0 bytes', async t => {
  const up = { user: 'ab', iterations: 4096, salt: Buffer.from([1, 2]), saltedPassword: Buffer.from([9]) }
  t.same([...encodeAlterScram(['x'], [up])], [
    0, // header v2 tagged fields
    2, 2, 0x78, 2, 0, // deletions: 1 × (name "x", SCRAM-SHA-512, no tags)
    // upsertions: 1 × (name, mech, iterations, salt, salted, tags)
    2, 3, 0x61, 0x62, 2, 0, 0, 0x10, 0x00, 3, 1, 2, 2, 9, 0,
    0 // body tagged fields
  ])
  const reply = Buffer.from([
    0, // response header v1 tagged fields
    0, 0, 0, 0, // throttle
    3, // two results
    2, 0x78, 0, 0, 0, 0, // "x", no error, null message, no tags
    3, 0x61, 0x62, 0, 91, 3, 0x6e, 0x6f, 0 // "ab", 91, "no", no tags
  ])
  t.same(decodeAlterScram(reply), [
    { user: 'x', errorCode: 0, errorMessage: null },
    { user: 'ab', errorCode: 91, errorMessage: 'no' }
  ])
})

t.test('ACLs: prefixed topic and group grants per namespace, nothing else', async t => {
  t.equal(principalOf('u-1'), 'User:u-1')
  const acls = wantedAcls('User:u', ['ns-a', 'proj'])
  t.equal(acls.length, 10)
  t.ok(acls.every(a => a.patternType === 'PREFIXED' && a.permission === 'ALLOW' && a.host === '*' && a.principal === 'User:u'), 'PREFIXED ALLOW from anywhere')
  t.same([...new Set(acls.map(a => a.resourceName))], ['ns-a.', 'proj.'])
  t.same(acls.filter(a => a.resourceName === 'ns-a.' && a.resourceType === 'TOPIC').map(a => a.operation), ['READ', 'WRITE', 'DESCRIBE'], 'topics: READ, WRITE, DESCRIBE')
  t.same(acls.filter(a => a.resourceName === 'ns-a.' && a.resourceType === 'GROUP').map(a => a.operation), ['READ', 'DESCRIBE'], 'groups: READ, DESCRIBE')
  t.same(wantedAcls('User:u', []), [])
})

t.test('IAM policy: the existing service\'s statement with every namespace', async t => {
  const doc = JSON.parse(policyDocument({ accountId: '123456789012', region: 'us-east-1', cluster: 'c1' }, ['proj', 'ns-0123456789ab'])) as { Version: string, Statement: Array<{ Effect: string, Action: string[], Resource: string[] }> }
  t.equal(doc.Version, '2012-10-17')
  t.equal(doc.Statement.length, 1)
  t.equal(doc.Statement[0]?.Effect, 'Allow')
  t.same(doc.Statement[0]?.Action, KAFKA_ACTIONS)
  t.equal(KAFKA_ACTIONS.length, 9)
  t.same(doc.Statement[0]?.Resource, [
    'arn:aws:kafka:us-east-1:123456789012:group/c1/*',
    'arn:aws:kafka:us-east-1:123456789012:cluster/c1/*',
    'arn:aws:kafka:us-east-1:123456789012:transactional-id/c1/*',
    'arn:aws:kafka:us-east-1:123456789012:topic/c1/*/ns-0123456789ab.*',
    'arn:aws:kafka:us-east-1:123456789012:topic/c1/*/proj.*'
  ])
})
