/**
 * What open event streams cost: one Cloakroom (Redis store) holding `--streams` GET /auth/events
 * streams of `--sessions` sessions, idle for `--idle` seconds, then every session logged out at once.
 *
 *   node bench/streams.ts [--streams 10000] [--sessions 334] [--idle 60] [--server-cpu 0] [--client-cpu 1]
 *
 * Prints Cloakroom's RSS and heap before and with the streams open, its CPU while they idle (the
 * keep-alive comments every 25 s included), and how long the `ended` events took to reach every
 * stream after the logouts were sent.
 */
import { execFileSync } from 'node:child_process'
import { request, type IncomingMessage } from 'node:http'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startStack } from '../e2e/fixtures/stack.ts'

const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '10000' },
    sessions: { type: 'string', default: '334' },
    idle: { type: 'string', default: '60' },
    'server-cpu': { type: 'string', default: '0' },
    'client-cpu': { type: 'string', default: '1' },
  },
})
const streams = Number(args.streams)
const sessionCount = Number(args.sessions)
const perSession = Math.ceil(streams / sessionCount)
if (perSession > 32) throw new Error('at most 32 streams per session on one instance: give more --sessions')

// The stack (and Cloakroom, its child) on the server CPU; this process (the browsers) moves to the client CPU after.
execFileSync('taskset', ['-a', '-cp', args['server-cpu'], String(process.pid)], { stdio: 'ignore' })
const stack = await startStack({ config: { login: { ratePerMinute: 100_000 }, session: { secrets: ['bench-session-secret-0123456789-abcdefghij'], idleTimeout: '1h' } }, logLevel: 'warn' })
const pid = Number(execFileSync('pgrep', ['-f', '-n', 'src/cli.ts']).toString().trim())
execFileSync('taskset', ['-a', '-cp', args['client-cpu'], String(process.pid)], { stdio: 'ignore' })
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())

function memory(): { rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 }
}
function cpuSeconds(): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

try {
  const cookies: string[] = []
  for (let i = 0; i < sessionCount; i++) cookies.push(`cloakroom=${(await stack.login()).client.cookies(stack.cloakroom.url).get('cloakroom')}`)
  const { port } = new URL(stack.cloakroom.url)
  const before = memory()
  console.log(`${sessionCount} sessions logged in; Cloakroom RSS ${before.rss.toFixed(1)} MB before any stream`)

  let ended = 0
  let endedAll: () => void = () => {}
  const allEnded = new Promise<void>((resolve) => { endedAll = resolve })
  const responses: IncomingMessage[] = []
  const open = (cookie: string) => new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/auth/events', agent: false, headers: { cookie, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`))
      responses.push(res)
      let seen = ''
      res.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
        if (seen.includes('event: ended')) {
          seen = ''
          if (++ended === streams) endedAll()
        } else if (seen.length > 4096) seen = seen.slice(-64)
      })
      resolve()
    })
    req.on('error', reject)
    req.end()
  })
  const opening = performance.now()
  for (let i = 0; i < streams; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, streams - i) }, (_, j) => open(cookies[Math.floor((i + j) / perSession)] ?? '')))
  }
  const opened = memory()
  console.log(`${streams} streams open in ${((performance.now() - opening) / 1000).toFixed(1)} s: Cloakroom RSS ${opened.rss.toFixed(1)} MB (+${(opened.rss - before.rss).toFixed(1)} MB, ${(((opened.rss - before.rss) * 1024 * 1024) / streams / 1024).toFixed(1)} KB a stream)`)

  const cpuBefore = cpuSeconds()
  await new Promise((resolve) => setTimeout(resolve, Number(args.idle) * 1000))
  const idleCpu = cpuSeconds() - cpuBefore
  console.log(`idle ${args.idle} s with ${streams} streams: Cloakroom CPU ${idleCpu.toFixed(2)} s (${((100 * idleCpu) / Number(args.idle)).toFixed(2)} % of a core); RSS ${memory().rss.toFixed(1)} MB`)

  const sent = performance.now()
  await Promise.all(cookies.map((cookie) => fetch(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1' } })))
  const logoutsDone = performance.now()
  await Promise.race([allEnded, new Promise((resolve) => setTimeout(resolve, 30_000))])
  console.log(`${sessionCount} logouts sent at once, answered in ${((logoutsDone - sent) / 1000).toFixed(2)} s; ended reached ${ended} of ${streams} streams ${((performance.now() - sent) / 1000).toFixed(2)} s after the first logout was sent`)
  for (const res of responses) res.destroy()
} finally {
  await stack.stop()
}
