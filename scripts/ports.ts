// Free loopback TCP ports for processes the tests and scripts start (brokers, moto, service nodes, HAProxy),
// which must be told their port before they listen.
//
// A port found with bind(0) and released comes from the kernel's ephemeral range, which every other bind(0)
// and every outgoing connection of a parallel test draws from too: in the moment between release and the
// child's own bind, one of them can take it. So ports are drawn at random from below that range (Linux:
// /proc/sys/net/ipv4/ip_local_port_range), where nothing is handed out automatically, and each is checked by
// binding it. Where the range cannot be read, bind(0) is the fallback.
import fs from 'node:fs'
import net from 'node:net'

const HOST = '127.0.0.1'
/** The lowest port drawn (above the registered services most machines run). */
const LOWEST = 20000
const ATTEMPTS_PER_PORT = 50

/** The first port of the kernel's ephemeral range, when it leaves room below it. */
function ephemeralStart (): number | undefined {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    return low !== undefined && Number.isInteger(low) && low - LOWEST >= 1000 ? low : undefined
  } catch {
    return undefined
  }
}

async function listen (server: net.Server, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false)
      else reject(err)
    }
    const onListening = () => { server.off('error', onError); resolve(true) }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, HOST)
  })
}

/**
 * `count` distinct TCP ports free right now. Every listener stays open until all are taken: a port closed at
 * once may be handed out again, and two Kafka listeners on one port refuse to start.
 */
export async function freePorts (count: number): Promise<number[]> {
  const below = ephemeralStart()
  const servers: net.Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer()
      servers.push(server)
      let bound = false
      const attempts = below === undefined ? 0 : ATTEMPTS_PER_PORT
      for (let attempt = 0; !bound && attempt < attempts; attempt++) {
        bound = await listen(server, LOWEST + Math.floor(Math.random() * ((below ?? LOWEST) - LOWEST)))
      }
      if (!bound && !await listen(server, 0)) throw new Error('no free loopback port')
    }
    return servers.map(server => (server.address() as net.AddressInfo).port)
  } finally {
    await Promise.all(servers.map(server => new Promise(resolve => server.close(resolve))))
  }
}

/** A loopback port nothing listens on right now (e.g. a port to find closed). */
export async function freePort (): Promise<number> {
  return (await freePorts(1))[0] as number
}
