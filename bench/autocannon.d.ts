// The part of autocannon's programmatic API the bench uses (the package ships no types).
declare module 'autocannon' {
  interface Options {
    url: string
    method?: 'GET' | 'POST' | 'PUT'
    headers?: Record<string, string>
    body?: string | Buffer
    connections?: number
    duration?: number
    amount?: number
    pipelining?: number
    timeout?: number
    /** Replaces every `[<id>]` in the request (request line, headers, body) with a new id per request. */
    idReplacement?: boolean
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
    p99: number
    p99_9: number
  }
  interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    latency: Histogram
    requests: Histogram
    throughput: Histogram
  }
  function autocannon (options: Options): Promise<Result>
  export default autocannon
}
