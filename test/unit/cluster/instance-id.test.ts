import t from 'tap'
import { instanceIdFor, ownerOf, untagged } from '../../../plugins/cluster/instance-id.js'
import { MEMBER_NAME_RE } from '../../../plugins/namespaces/names.js'

t.test('an instance id names its node and stays a valid instance name', async t => {
  const generated = instanceIdFor('n1')
  t.match(generated, /^n1\.\.rest-consumer-[0-9a-f-]{36}$/)
  t.equal(ownerOf(generated), 'n1')
  t.ok(MEMBER_NAME_RE.test(generated), 'valid under the instance name pattern')
  t.equal(instanceIdFor('node-a', 'worker-1'), 'node-a..worker-1')
  t.equal(untagged('node-a..worker-1'), 'worker-1')
})

t.test('a name that names another node is moved to this one (the SDK re-creates under the old id)', async t => {
  t.equal(instanceIdFor('n2', 'n1..worker-1'), 'n2..worker-1')
  t.equal(instanceIdFor('n2', 'n1..rest-consumer-x'), 'n2..rest-consumer-x')
})

t.test('ids that name no node', async t => {
  t.equal(ownerOf('worker-1'), undefined, 'a plain name')
  t.equal(ownerOf('..x'), undefined, 'nothing before the separator')
  t.equal(ownerOf('a_b..x'), undefined, 'not a node id (underscore)')
  t.equal(ownerOf('a.b..x'), undefined, 'a dot inside the part before the separator: no node id')
})

t.test('a requested name too long to carry the tag: 422 naming the limit', async t => {
  t.throws(() => instanceIdFor('n1', 'x'.repeat(127)), { statusCode: 422, message: /1–124 characters/ })
  t.equal(instanceIdFor('n1', 'x'.repeat(124)).length, 128)
})
