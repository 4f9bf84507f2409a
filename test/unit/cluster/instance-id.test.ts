import t from 'tap'
import { instanceIdFor, ownerOf } from '../../../plugins/cluster/instance-id.js'
import { MEMBER_NAME_RE } from '../../../plugins/namespaces/names.js'

t.test('a generated instance id names its node and stays a valid instance name', async t => {
  const generated = instanceIdFor('n1')
  t.match(generated, /^n1\.\.rest-consumer-[0-9a-f-]{36}$/)
  t.equal(ownerOf(generated), 'n1')
  t.ok(MEMBER_NAME_RE.test(generated), 'valid under the instance name pattern')
})

t.test('a requested name is the id, as Confluent\'s (its uniqueness is a claim)', async t => {
  t.equal(instanceIdFor('node-a', 'worker-1'), 'worker-1')
  t.equal(instanceIdFor('n2', 'n1..rest-consumer-x'), 'n1..rest-consumer-x', 'the SDK re-creates under the id it was given')
  t.equal(instanceIdFor('n1', 'x'.repeat(128)).length, 128, 'the whole 128 characters')
  t.throws(() => instanceIdFor('n1', 'x'.repeat(129)), { statusCode: 422, message: /1–128 characters/ })
})

t.test('ids that name no node', async t => {
  t.equal(ownerOf('worker-1'), undefined, 'a plain name')
  t.equal(ownerOf('..x'), undefined, 'nothing before the separator')
  t.equal(ownerOf('a_b..x'), undefined, 'not a node id (underscore)')
  t.equal(ownerOf('a.b..x'), undefined, 'a dot inside the part before the separator: no node id')
})
