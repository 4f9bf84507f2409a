/**
 * Knows whether a produce request left this process. kafkajs' errors cannot say it: after a request is lost
 * with its connection, kafkajs' reconnect attempt may throw "connection refused" instead, which would look
 * like "nothing sent". So the producer's sockets are made by this factory, which counts every Kafka Produce
 * request (API key 0) written to any of them (producer.ts `requestsWritten`). The produce engine compares the
 * count before and after a failed send:
 * unchanged means no record can have reached a broker, so the failure is a safe-to-retry 503; otherwise the
 * outcome is unknown (500/50003). Plain module.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { ISocketFactory } from 'kafkajs'

const KEEP_ALIVE_DELAY = 60_000
const PRODUCE_API_KEY = 0

export interface ProduceWireCounter {
  readonly socketFactory: ISocketFactory
  /** Produce requests written so far (all sockets of this factory). */
  readonly produceWrites: number
}

/** Does this buffer start a Kafka request with the Produce API key? (int32 size, int16 api key, …) */
export function isProduceRequest (chunk: unknown): boolean {
  return Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === PRODUCE_API_KEY
}

export function produceWireCounter (): ProduceWireCounter {
  let writes = 0
  // The same sockets as kafkajs' own factory (src/network/socketFactory.js), with write observed.
  const socketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket = ssl
      ? tls.connect(Object.assign({ host, port }, net.isIP(host) ? {} : { servername: host }, ssl), onConnect)
      : net.connect({ host, port }, onConnect)
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY)
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
    // Counted before the write: a write that fails half-way counts as sent (the safe side).
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (isProduceRequest(chunk)) writes++
      return write(chunk, ...rest)
    }) as typeof socket.write
    return socket
  }
  return { socketFactory, get produceWrites () { return writes } }
}
