// scripts/ports.ts: ports for child processes are distinct, free, and outside the kernel's ephemeral range
// (where a parallel test's bind(0) or outgoing connection could take one before the child binds it).
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import { freePort, freePorts } from '../../../scripts/ports.js'

const range = (() => {
  try {
    return fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
  } catch {
    return undefined
  }
})()

t.test('distinct, free, below the ephemeral range', async t => {
  const ports = await freePorts(20)
  t.equal(new Set(ports).size, 20, 'distinct')
  for (const port of ports) {
    const server = net.createServer()
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
    await new Promise(resolve => server.close(resolve))
  }
  t.pass('each can be bound')
  if (range?.[0] !== undefined && range[0] >= 21000) {
    t.ok(ports.every(p => p >= 20000 && p < (range[0] ?? 0)), `all in [20000, ${range[0]})`)
  }
  t.ok((await freePort()) > 0)
})

t.test('a port in use is never handed out', async t => {
  const held: net.Server[] = []
  for (const port of await freePorts(5)) {
    const server = net.createServer()
    await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
    held.push(server)
  }
  t.teardown(() => Promise.all(held.map(s => new Promise(resolve => s.close(resolve)))))
  const taken = new Set(held.map(s => (s.address() as net.AddressInfo).port))
  const ports = await freePorts(50)
  t.notOk(ports.some(p => taken.has(p)))
})
