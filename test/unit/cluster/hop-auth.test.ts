import t from 'tap'
import { checkHop, signHop, FORWARDED_BY, FORWARD_SIGNATURE, FORWARD_TIME } from '../../../plugins/cluster/hop-auth.js'

const SECRET = 'a-cluster-secret-of-at-least-32-characters'
const req = { method: 'GET', url: '/api/v2/consumers/g/instances/n2..c/records?timeout=1000', authorization: 'Bearer tok' }

t.test('a request signed by a node for this node is forwarded', async t => {
  const headers = signHop(SECRET, req, 'n1', 'n2', 1_000_000)
  t.same(checkHop(SECRET, req, headers, 'n2', 1_000_500), { forwarded: true, from: 'n1' })
  t.same(checkHop(SECRET, req, {}, 'n2'), { forwarded: false }, 'no headers: not forwarded')
})

t.test('anything else is refused', async t => {
  const headers = signHop(SECRET, req, 'n1', 'n2', 1_000_000)
  const refused = (h: Record<string, string>, r = req, self = 'n2', now = 1_000_000): boolean => checkHop(SECRET, r, h, self, now).forwarded === 'refused'
  t.ok(refused(headers, req, 'n3'), 'signed for another node')
  t.ok(refused(headers, { ...req, method: 'DELETE' }), 'another method')
  t.ok(refused(headers, { ...req, url: '/api/v2/consumers/g/instances/n2..d/records' }), 'another path')
  t.ok(refused(headers, { ...req, authorization: 'Bearer other' }), 'another token')
  t.ok(refused(headers, req, 'n2', 1_000_000 + 31_000), 'too old')
  t.ok(refused({ ...headers, [FORWARDED_BY]: 'n3' }), 'another sender')
  t.ok(refused({ ...headers, [FORWARD_SIGNATURE]: 'AAAA' }), 'a made-up signature')
  t.ok(refused({ ...headers, [FORWARD_TIME]: 'soon' }), 'a time that is no number')
  t.ok(refused({ [FORWARDED_BY]: 'n1' }), 'incomplete headers')
  t.ok(refused(signHop('another-secret-of-at-least-32-characters!', req, 'n1', 'n2', 1_000_000)), 'another secret')
})
