import { createServer, type Server } from 'node:http'
import type { HostPort } from '../config/index.ts'

/** Counters in the Prometheus text format, labelled by one value each. Kept in process memory. */
export interface Metrics {
  inc(name: MetricName, label: string): void
  render(): string
}

const HELP = {
  cloakroom_http_responses_total: ['status', 'HTTP responses by status class'],
  cloakroom_logins_total: ['result', 'Completed or refused logins'],
  cloakroom_token_refreshes_total: ['result', 'Refresh token grants sent to the issuer, by outcome'],
} as const

export type MetricName = keyof typeof HELP

export function createMetrics(): Metrics {
  const counts = new Map<MetricName, Map<string, number>>()
  return {
    inc(name, label) {
      const series = counts.get(name) ?? new Map<string, number>()
      counts.set(name, series)
      series.set(label, (series.get(label) ?? 0) + 1)
    },
    render() {
      const lines: string[] = []
      for (const [name, [labelName, help]] of Object.entries(HELP) as Array<[MetricName, readonly [string, string]]>) {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`)
        for (const [label, value] of counts.get(name) ?? []) lines.push(`${name}{${labelName}="${label}"} ${value}`)
      }
      return `${lines.join('\n')}\n`
    },
  }
}

/** GET /metrics on its own listener (metrics.listen), apart from the public port. */
export async function serveMetrics(metrics: Metrics, listen: HostPort): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => resolve())
  })
  return server
}
