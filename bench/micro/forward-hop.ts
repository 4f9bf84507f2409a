/**
 * Micro-benchmark of the hop between nodes (issue 15): what forwarding adds to one request, apart from the
 * owner's own work. An origin HTTP server answers every request at once (a 200 with a small JSON body, or
 * `bodyBytes` of records for the throughput pass); a second server does what a node that does not own the
 * instance does (signs the hop with signHop, forwards with Forwarder, streaming), and the owner side checks
 * the signature with checkHop. Requests go one at a time over keep-alive connections, interleaved between the
 * two paths. `npx tsx bench/micro/forward-hop.ts [requests] [bodyBytes]`
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Forwarder } from '../../plugins/cluster/forwarder.js'
import { checkHop, signHop } from '../../plugins/cluster/hop-auth.js'
import { percentile } from '../lib/stats.js'

const requests = Number(process.argv[2] ?? 5000)
const bodyBytes = Number(process.argv[3] ?? 4 * 1048576)
const SECRET = 'a-benchmark-secret-of-more-than-32-characters'
const small = Buffer.from(JSON.stringify({ partitions: [{ topic: 'events', partition: 0 }] }))
const big = Buffer.alloc(bodyBytes, 0x61)

const origin = http.createServer((req, res) => {
  const hop = checkHop(SECRET, { method: req.method ?? 'GET', url: req.url ?? '/', authorization: req.headers.authorization }, req.headers, 'owner')
  if (hop.forwarded === 'refused') { res.writeHead(401).end(); return }
  req.resume()
  const body = req.url?.startsWith('/big') ? big : small
  res.writeHead(200, { 'content-type': 'application/vnd.kafka.v2+json', 'content-length': body.length })
  res.end(body)
})
await new Promise<void>(resolve => origin.listen(0, '127.0.0.1', resolve))
const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`

const forwarder = new Forwarder({ connectTimeoutMs: 2000 }, (res, status) => { res.writeHead(status).end() })
const relay = http.createServer((req, res) => {
  const signed = signHop(SECRET, { method: req.method ?? 'GET', url: req.url ?? '/', authorization: req.headers.authorization }, 'relay', 'owner')
  forwarder.forward(req, res, originUrl, signed)
})
await new Promise<void>(resolve => relay.listen(0, '127.0.0.1', resolve))
const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
function get (base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const began = performance.now()
    http.get(`${base}${path}`, { agent, headers: { authorization: 'Bearer token' } }, res => {
      let n = 0
      res.on('data', (c: Buffer) => { n += c.length })
      res.on('end', () => { if (res.statusCode !== 200 || n === 0) reject(new Error(`status ${res.statusCode}`)); else resolve(performance.now() - began) })
    }).on('error', reject)
  })
}

for (let i = 0; i < 500; i++) { await get(originUrl, '/s'); await get(relayUrl, '/s') }
const direct: number[] = []
const hop: number[] = []
for (let i = 0; i < requests; i++) {
  direct.push(await get(originUrl, '/api/v2/consumers/g/instances/owner..c/assignments'))
  hop.push(await get(relayUrl, '/api/v2/consumers/g/instances/owner..c/assignments'))
}
const rounds = 20
let directBig = 0
let hopBig = 0
for (let i = 0; i < rounds; i++) { directBig += await get(originUrl, '/big'); hopBig += await get(relayUrl, '/big') }
const p = (v: number[], q: number): string => percentile(v, q).toFixed(3)
console.log(`requests: ${requests} each path, one at a time, keep-alive`)
console.log(`direct   p50 ${p(direct, 50)} ms  p99 ${p(direct, 99)} ms`)
console.log(`hop      p50 ${p(hop, 50)} ms  p99 ${p(hop, 99)} ms`)
console.log(`added    p50 ${(percentile(hop, 50) - percentile(direct, 50)).toFixed(3)} ms`)
console.log(`${(bodyBytes / 1048576).toFixed(0)} MiB answers: direct ${(rounds * bodyBytes / 1048576 / (directBig / 1000)).toFixed(0)} MiB/s, hop ${(rounds * bodyBytes / 1048576 / (hopBig / 1000)).toFixed(0)} MiB/s`)
agent.destroy()
forwarder.close()
relay.close()
origin.close()
