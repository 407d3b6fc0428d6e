/**
 * What Cloakroom costs per request, measured side by side in one run: the echo upstream alone
 * (baseline), through Cloakroom on a `token: none` route (proxying only), and on a `token: user`
 * route (session cookie unsealed, session read from Redis and decrypted, Bearer added).
 * Run by hand: `.tools/node_modules/.bin/node bench/proxy.ts [seconds] [connections]`.
 */
import autocannon from 'autocannon'
import { startStack } from '../e2e/fixtures/stack.ts'

const seconds = Number(process.argv[2] ?? 10)
const connections = Number(process.argv[3] ?? 50)

const stack = await startStack({ config: { session: { secrets: ['bench-session-secret-0123456789-abcdefghij'], idleTimeout: '1h' } }, logLevel: 'warn' })
try {
  const { client } = await stack.login()
  const cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
  const scenarios: Array<{ name: string; url: string; headers: Record<string, string> }> = [
    { name: 'upstream directly (baseline)', url: `${stack.upstream.url}/base/x`, headers: {} },
    { name: 'Cloakroom, token: none', url: `${stack.cloakroom.url}/public/x`, headers: {} },
    { name: 'Cloakroom, token: user (Redis)', url: `${stack.cloakroom.url}/api/x`, headers: { cookie, 'x-csrf': '1' } },
  ]
  const rows: string[][] = []
  let baseline = 0
  for (const scenario of scenarios) {
    const result = await autocannon({ url: scenario.url, headers: scenario.headers, connections, duration: seconds })
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${scenario.name}: ${result.non2xx} non-2xx, ${result.errors} errors`)
    baseline ||= result.requests.average
    rows.push([scenario.name, result.requests.average.toFixed(0), `${(100 * result.requests.average / baseline).toFixed(0)}%`,
      `${result.latency.p50} ms`, `${result.latency.p99} ms`, String(result.requests.total)])
  }
  const header = ['scenario', 'req/s', 'vs baseline', 'p50', 'p99', 'requests']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')
  console.log(`\n${connections} connections, ${seconds} s each, keep-alive, on ${(await import('node:os')).cpus().length} cores\n`)
  console.log(line(header))
  for (const row of rows) console.log(line(row))
} finally {
  await stack.stop()
}
