/**
 * The V8 heap flags the service runs with: `npm start`, the Dockerfile, `npm run start:local`, `npm run dev`, the
 * soak and the benchmarks' server all pass exactly these (test/unit/node-flags.test.ts checks the places that
 * cannot import this file).
 *
 * Why: with V8's defaults the old generation's limit stays close to the small live heap of this service (25 MB),
 * and V8 starts a full collection whenever the room left under that limit is smaller than the young generation.
 * A consumer draining at 100 MB/s churns through that room in tens of milliseconds, so the server ran 30 to 47
 * mark-compacts per 200,000-record drain, about a fifth of its time, and spent twice the CPU per record
 * (BENCHMARKS.md, fetch throughput). An initial old space lets V8 skip full collections below it, and a larger
 * young generation lets short-lived records (a read's worth is buffered for a few milliseconds) die there
 * instead of being promoted. Both cost memory only when used: an idle server stays small.
 */
export const NODE_FLAGS = ['--max-semi-space-size=32', '--initial-old-space-size=128'] as const

/** Whether this process runs with them (they can only be set when a process starts). */
export function hasNodeFlags (execArgv: readonly string[] = process.execArgv): boolean {
  return NODE_FLAGS.every(f => execArgv.includes(f))
}
