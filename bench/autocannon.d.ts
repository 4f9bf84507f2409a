// Minimal typings for autocannon (no @types package): the programmatic API the benchmarks use.
declare module 'autocannon' {
  interface Options {
    url: string
    connections?: number
    duration?: number
    /** Requests per second across all connections (default: as fast as possible). */
    overallRate?: number
    pipelining?: number
    timeout?: number
    headers?: Record<string, string>
    method?: string
  }
  interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p97_5: number
    p99: number
    p99_9: number
  }
  interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    latency: Histogram & { totalCount: number }
    requests: Histogram & { sent: number }
    throughput: Histogram
  }
  function autocannon (opts: Options): Promise<Result>
  export default autocannon
}
