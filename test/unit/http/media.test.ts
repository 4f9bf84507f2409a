import t from 'tap'
import { parseJsonBody } from '../../../plugins/http/media.js'
import { ApiError } from '../../../plugins/errors/errors.js'

const status = (fn: () => unknown): number | string => {
  try {
    fn()
    return 'no error'
  } catch (e) {
    return ApiError.is(e) ? e.statusCode : (e as Error).name
  }
}

t.test('a forbidden key behind any nesting depth is a 400, never a RangeError', async t => {
  const depth = 200_000
  const deep = '['.repeat(depth) + ']'.repeat(depth)
  t.equal(status(() => parseJsonBody(`{"value":${deep},"x":{"constructor":1}}`)), 400)
  t.equal(status(() => parseJsonBody(`{"value":${deep},"x":[{"__proto__":1}]}`)), 400)
  t.equal(status(() => parseJsonBody(`{"value":${deep},"x":"\\"constructor\\" :"}`)), 'no error', 'only a key is forbidden')
  t.equal(status(() => parseJsonBody('{"a":{"b":[1,{"__proto__":{}}]}}')), 400)
})
