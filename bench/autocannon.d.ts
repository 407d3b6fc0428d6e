declare module 'autocannon' {
  interface Options { url: string; connections?: number; duration?: number; headers?: Record<string, string>; pipelining?: number }
  interface Histogram { average: number; p50: number; p99: number }
  interface Result { requests: Histogram & { total: number }; latency: Histogram; non2xx: number; errors: number; timeouts: number }
  export default function autocannon(options: Options): Promise<Result>
}
