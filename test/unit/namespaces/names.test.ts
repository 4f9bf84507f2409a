import t from 'tap'
import { ApiError } from '../../../plugins/errors/errors.js'
import {
  defaultNamespace,
  isValidMemberName,
  isValidName,
  kafkaGroup,
  kafkaTopic,
  metricName,
  userTopic
} from '../../../plugins/namespaces/names.js'

t.test('name rule: 3–32 of letters, digits, - and _, alphanumeric at both ends', async t => {
  for (const ok of ['abc', 'ABC', 'a-b', 'a_b', 'a1_-2z', 'x'.repeat(32), '123', 'ns-0123456789ab']) {
    t.ok(isValidName(ok), `${ok} is valid`)
  }
  for (const bad of ['', 'ab', 'x'.repeat(33), '-ab', 'ab-', '_ab', 'ab_', 'a.b', 'a b', 'a/b', 'ä-b', 'a\nb', '..', 'abc\n']) {
    t.notOk(isValidName(bad), `${JSON.stringify(bad)} is invalid`)
  }
})

t.test('group names also allow dots, up to 128 characters', async t => {
  t.ok(isValidMemberName('a'))
  t.ok(isValidMemberName('my.group-1'))
  t.ok(isValidMemberName('g'.repeat(128)))
  t.notOk(isValidMemberName('g'.repeat(129)))
  t.notOk(isValidMemberName('.g'))
  t.notOk(isValidMemberName('g/h'))
})

t.test('defaultNamespace: ns- + the last 12 characters of the subject without dashes', async t => {
  t.equal(defaultNamespace('c5d4fab4-7f0d-422e-b0c8-5c74329b52fe'), 'ns-5c74329b52fe')
  t.equal(defaultNamespace('00000000-0000-4000-8000-00000000de70'), 'ns-00000000de70')
  // The dash removal happens before taking the tail (the seed's rule): 12 characters, never a dash.
  t.equal(defaultNamespace('abcd-efgh-ijkl-mnop'), 'ns-efghijklmnop')
  t.equal(defaultNamespace('abc'), 'ns-abc')
  const err = t.throws(() => defaultNamespace('a.b')) as ApiError
  t.equal(err.statusCode, 422)
})

t.test('kafkaTopic / kafkaGroup prefix with the namespace and a dot', async t => {
  t.equal(kafkaTopic('ns-1', 'events'), 'ns-1.events')
  t.equal(kafkaGroup('ns-1', 'analysis'), 'ns-1.analysis')
  t.equal(kafkaGroup('ns-1', 'my.group'), 'ns-1.my.group')
})

t.test('kafkaTopic / kafkaGroup refuse names that could leave the namespace', async t => {
  for (const [ns, topic] of [['ns-1', 'other.events'], ['ns-1', '..'], ['ns.1', 'events'], ['ns-1', ''], ['', 'events'], ['ns-1', 'a b']]) {
    const err = t.throws(() => kafkaTopic(ns as string, topic as string)) as ApiError
    t.equal(err.statusCode, 422, `${ns}/${topic}`)
    t.equal(err.errorCode, 42204)
    t.equal(err.code, 'INVALID_NAME')
  }
  t.throws(() => kafkaGroup('ns.1', 'g'))
  t.throws(() => kafkaGroup('ns-1', 'g/../h'))
  t.throws(() => kafkaGroup('ns-1', ''))
})

t.test('userTopic strips the prefix only for topics of that namespace', async t => {
  t.equal(userTopic('ns-1', 'ns-1.events'), 'events')
  t.equal(userTopic('ns-1', 'ns-2.events'), undefined)
  t.equal(userTopic('ns-1', 'ns-10.events'), undefined, 'a longer namespace with the same start')
  t.equal(userTopic('ns-1', 'ns-1events'), undefined, 'no dot')
  t.equal(userTopic('ns-1', 'ns-1.'), undefined)
  t.equal(userTopic('ns-1', 'ns-1.a.b'), undefined, 'remainder is not a topic name')
  t.equal(userTopic('ns-1', '__consumer_offsets'), undefined)
  t.equal(userTopic('ns.1', 'ns.1.abc'), undefined, 'invalid namespace')
  t.equal(userTopic('ns-1', 'xns-1.abc'), undefined)
})

t.test('metricName: the form Kafka compares for collisions', async t => {
  t.equal(metricName('a_b.c'), metricName('a.b_c'))
  t.not(metricName('a-b.c'), metricName('a.b_c'))
})
