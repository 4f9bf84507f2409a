import t from 'tap'
import { build } from '../helpers/app.js'

t.test('smoke', async t => {
  const { app, globus } = await build(t)
  const token = globus.userToken()
  const h = { authorization: `Bearer ${token}` }
  let r = await app.inject({ method: 'POST', url: '/api/v3/user', headers: h })
  console.log(r.statusCode, r.body)
  const ns = r.json().namespace
  r = await app.inject({ method: 'POST', url: `/api/v3/${ns}/abc`, headers: h })
  console.log(r.statusCode, r.body)
  r = await app.inject({ method: 'POST', url: `/api/v3/${ns}/abc`, headers: { ...h, 'content-type': 'application/json' }, payload: '' })
  console.log(r.statusCode, r.body)
  r = await app.inject({ method: 'POST', url: `/api/v3/${ns}/abd`, headers: { ...h, 'content-type': 'application/json' }, payload: { num_partitions: 2, configs: { 'retention.ms': 1000 } } })
  console.log(r.statusCode, r.body)
  r = await app.inject({ method: 'GET', url: '/api/v3/namespace', headers: h })
  console.log(r.statusCode, r.body)
  r = await app.inject({ method: 'PUT', url: `/api/v3/${ns}/abd/recreate`, headers: h })
  console.log(r.statusCode, r.body)
  r = await app.inject({ method: 'DELETE', url: `/api/v3/${ns}/abc`, headers: h })
  console.log(r.statusCode, r.body)
  r = await app.inject({ method: 'DELETE', url: '/api/v3/user', headers: h })
  console.log(r.statusCode, r.body)
  r = await app.inject({ method: 'POST', url: '/api/v3/a.b/abc', headers: h })
  console.log(r.statusCode, r.body)
  t.pass()
})
