/**
 * Cloakroom side by side with "the floor" (bench/floor.ts: node:http + http-proxy-3 adding a fixed
 * Bearer header), in one run, with the servers and the load tool on different cores:
 *
 *   node bench/run.ts [--warmup 3] [--duration 10] [--rounds 2] [--connections 1,32,128]
 *                     [--server-cpu 0] [--load-cpu 1] [--threads 4]
 *
 * This process pins itself (all its threads) to --server-cpu before starting anything, so the
 * e2e stack it starts (oidc-provider and echo upstream in this process; redis-server, Cloakroom and
 * the floor as children) all run on that core; wrk (Debian's) runs under `taskset -c <load-cpu>`.
 * Targets: the echo upstream directly, the floor, Cloakroom `token: none`, Cloakroom `token: user`
 * (session cookie + `X-CSRF: 1`; the session read from Redis, the Bearer added). Every round runs
 * every connection count and every target (a warm-up, then a measured run); the table shows the
 * median over rounds, and the server CPU per request read from /proc/<pid>/stat around each
 * measured run (utime + stime, in clock ticks: 10 ms granularity).
 *
 * The target is a node:http server in this process answering at once with a small JSON echo of the
 * request; the e2e stack's own echo upstream is started but idle.
 *
 * Cloakroom allows 64 requests in flight per client (session, or address without one). So that 128
 * connections measure throughput and not that bound, each wrk thread is its own client: its own
 * session cookie and its own `X-Forwarded-For` address (Cloakroom runs with `trustProxy: 1` here,
 * as it would behind a load balancer). Every target gets the same request headers.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startStack } from '../e2e/fixtures/stack.ts'
import { freePort } from '../e2e/fixtures/free-port.ts'

const { values: args } = parseArgs({
  options: {
    warmup: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '1,32,128' },
    'server-cpu': { type: 'string', default: '0' },
    'load-cpu': { type: 'string', default: '1' },
    threads: { type: 'string', default: '4' },
  },
})
const warmup = Number(args.warmup)
const duration = Number(args.duration)
const rounds = Number(args.rounds)
const connectionCounts = args.connections.split(',').map(Number)
const maxThreads = Number(args.threads)
const serverCpu = args['server-cpu']
const loadCpu = args['load-cpu']

// Pin every thread of this process; whatever it starts from now on inherits the affinity.
execFileSync('taskset', ['-a', '-cp', serverCpu, String(process.pid)], { stdio: 'ignore' })
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())

/** Each wrk thread is one client: its own forwarded address and, given cookies, its own session. */
const LUA = `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("client", threads)
end
function init(args)
  local n = tonumber(client) or 1
  wrk.headers["X-Forwarded-For"] = "198.51.100." .. n
  wrk.headers["X-CSRF"] = "1"
  if #args > 0 then wrk.headers["Cookie"] = args[((n - 1) % #args) + 1] end
end
`

interface Target { name: string; url: string; cookies: string[]; proxy: 'cloakroom' | 'floor' | undefined }
interface Sample { rps: number; p50: number; p99: number; requests: number; errors: string; proxyCpu: number | undefined; serversCpu: number }

const dir = await mkdtemp(join(tmpdir(), 'cloakroom-bench-'))
const script = join(dir, 'clients.lua')
await writeFile(script, LUA)

// The target: answers at once with JSON naming what it received (the e2e echo upstream waits for a
// timer, at least 1 ms, and keeps every request it saw; neither belongs in a measurement).
const targetServer = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }))
  })
})
await new Promise<void>((resolve) => targetServer.listen(0, '127.0.0.1', resolve))
const targetUrl = `http://127.0.0.1:${(targetServer.address() as AddressInfo).port}`

const stack = await startStack({
  accessTokenTtl: 3600,
  config: {
    trustProxy: 1,
    session: { secrets: ['bench-session-secret-0123456789-abcdefghij'], idleTimeout: '1h' },
    routes: [
      { path: '/api', target: targetUrl, token: 'user' },
      { path: '/public', target: `${targetUrl}/base`, token: 'none', csrf: false, stripPath: true },
    ],
  },
  logLevel: 'warn',
})
let floor: ReturnType<typeof spawn> | undefined
try {
  const cookies: string[] = []
  for (let i = 0; i < maxThreads; i++) {
    const { client } = await stack.login()
    cookies.push(`cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`)
  }
  // The floor adds a Bearer as long as the real one, so both proxies send the upstream the same bytes.
  const seen = await fetch(`${stack.cloakroom.url}/api/x`, { headers: { cookie: cookies[0] ?? '', 'x-csrf': '1' } })
  const authorization = String(((await seen.json()) as { headers: Record<string, string> }).headers.authorization)
  if (!authorization.startsWith('Bearer ')) throw new Error(`token: user route sent no Bearer: ${authorization}`)

  const floorPort = await freePort()
  floor = spawn(process.execPath, [fileURLToPath(new URL('floor.ts', import.meta.url)), String(floorPort), `${targetUrl}/base`, authorization.slice(7)],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    floor?.stdout?.on('data', (chunk: Buffer) => { if (chunk.toString().includes('listening')) resolve() })
    floor?.once('exit', (code) => reject(new Error(`floor exited with ${code}`)))
  })

  const targets: Target[] = [
    { name: 'target directly', url: `${targetUrl}/base/x`, cookies: [], proxy: undefined },
    { name: 'floor (node:http + http-proxy-3)', url: `http://127.0.0.1:${floorPort}/x`, cookies: [], proxy: 'floor' },
    { name: 'Cloakroom, token: none', url: `${stack.cloakroom.url}/public/x`, cookies: [], proxy: 'cloakroom' },
    { name: 'Cloakroom, token: user', url: `${stack.cloakroom.url}/api/x`, cookies, proxy: 'cloakroom' },
  ]
  for (const target of targets) {
    const response = await fetch(target.url, { headers: { 'x-csrf': '1', ...(target.cookies[0] === undefined ? {} : { cookie: target.cookies[0] }) } })
    const body = await response.text()
    if (response.status !== 200) throw new Error(`${target.name}: ${response.status} ${body}`)
  }

  const pids = serverProcesses()
  const cloakroomPid = pids.find((p) => p.cmdline.includes('src/cli.ts'))?.pid
  const floorPid = floor.pid
  console.log(`servers on CPU ${serverCpu}: ${pids.map((p) => `${p.name}[${p.pid}] allowed ${cpusAllowed(p.pid)}`).join(', ')}`)
  console.log(`wrk on CPU ${loadCpu}; ${rounds} round(s) of ${warmup} s warm-up + ${duration} s measured, connections ${connectionCounts.join(', ')}\n`)

  const samples = new Map<string, Sample[]>()
  for (let round = 1; round <= rounds; round++) {
    for (const connections of connectionCounts) {
      for (const target of targets) {
        const threads = Math.min(maxThreads, connections)
        await wrk(target, connections, threads, warmup)
        const proxyPid = target.proxy === 'cloakroom' ? cloakroomPid : target.proxy === 'floor' ? floorPid : undefined
        const before = { proxy: proxyPid === undefined ? 0 : cpuTicks(proxyPid), servers: serversTicks(pids) }
        const result = await wrk(target, connections, threads, duration)
        const after = { proxy: proxyPid === undefined ? 0 : cpuTicks(proxyPid), servers: serversTicks(pids) }
        const perRequest = (ticks: number) => (ticks / CLK_TCK) * 1e6 / result.requests
        const sample: Sample = { ...result, proxyCpu: proxyPid === undefined ? undefined : perRequest(after.proxy - before.proxy), serversCpu: perRequest(after.servers - before.servers) }
        const key = `${connections}\u0000${target.name}`
        samples.set(key, [...(samples.get(key) ?? []), sample])
        console.log(`round ${round}, ${String(connections).padStart(3)} conn, ${target.name}: ${sample.rps.toFixed(0)} req/s, p50 ${ms(sample.p50)}, p99 ${ms(sample.p99)}${sample.errors === '' ? '' : `, ${sample.errors}`}`)
      }
    }
  }

  const header = ['conns', 'target', 'req/s', 'rounds (req/s)', 'vs floor', 'p50', 'p99', 'proxy CPU/req', 'all servers CPU/req']
  const rows: string[][] = []
  for (const connections of connectionCounts) {
    const floorRps = median((samples.get(`${connections}\u0000${targets[1]?.name}`) ?? []).map((s) => s.rps))
    for (const target of targets) {
      const runs = samples.get(`${connections}\u0000${target.name}`) ?? []
      const rps = median(runs.map((s) => s.rps))
      const proxyCpu = runs.every((s) => s.proxyCpu !== undefined) ? `${median(runs.map((s) => s.proxyCpu ?? 0)).toFixed(0)} µs` : '-'
      const errors = runs.map((s) => s.errors).filter((e) => e !== '')
      rows.push([String(connections), target.name + (errors.length > 0 ? ` (${errors.join('; ')})` : ''), rps.toFixed(0), runs.map((s) => s.rps.toFixed(0)).join(' / '),
        `${(rps / floorRps).toFixed(2)}x`, ms(median(runs.map((s) => s.p50))), ms(median(runs.map((s) => s.p99))), proxyCpu, `${median(runs.map((s) => s.serversCpu)).toFixed(0)} µs`])
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  console.log(`\n${new Date().toISOString()}, node ${process.version}, ${spawnSync('wrk', ['-v']).stdout.toString().split('\n')[0]?.trim() ?? 'wrk'}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`)
  console.log(`medians of ${rounds} round(s), ${duration} s each after ${warmup} s warm-up; servers on CPU ${serverCpu}, wrk on CPU ${loadCpu}\n`)
  console.log(line(header))
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`)
  for (const row of rows) console.log(line(row))

  /** Runs wrk once against `target`. */
  async function wrk(target: Target, connections: number, threads: number, seconds: number) {
    const argv = ['-c', loadCpu, 'wrk', '-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '--latency', '-s', script, target.url, '--', ...target.cookies]
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('taskset', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
      child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
      child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}:\n${out}`))))
    })
    return parseWrk(output)
  }
} finally {
  if (floor !== undefined && floor.exitCode === null) {
    const exited = new Promise((resolve) => floor?.once('exit', resolve))
    floor.kill('SIGTERM')
    await exited
  }
  await stack.stop()
  targetServer.closeAllConnections()
  await new Promise((resolve) => targetServer.close(resolve))
  await rm(dir, { recursive: true, force: true })
}

function parseWrk(output: string): Omit<Sample, 'proxyCpu' | 'serversCpu'> {
  const latency = (percentile: string) => {
    const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output)
    if (match === null) throw new Error(`no ${percentile}% latency in wrk output:\n${output}`)
    return Number(match[1]) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[match[2] ?? 'ms']!
  }
  const requests = /^\s*(\d+) requests in/m.exec(output)
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output)
  if (requests === null || rps === null) throw new Error(`unparsable wrk output:\n${output}`)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output)
  const socket = /Socket errors: (.*)/.exec(output)
  const errors = [non2xx === null ? '' : `${non2xx[1]} non-2xx`, socket === null ? '' : `socket errors: ${socket[1]}`].filter((e) => e !== '').join(', ')
  return { rps: Number(rps[1]), p50: latency('50'), p99: latency('99'), requests: Number(requests[1]), errors }
}

/** This process and every process under it (redis-server, Cloakroom, the floor), as they are now. */
function serverProcesses(): Array<{ pid: number; name: string; cmdline: string }> {
  const parents = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const ppid = Number(statFields(Number(entry))[1])
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)])
    } catch { /* gone */ }
  }
  const all = [process.pid]
  for (let i = 0; i < all.length; i++) all.push(...(parents.get(all[i] ?? 0) ?? []))
  return all.map((pid) => {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
    const name = pid === process.pid ? 'bench (idp, target)' : cmdline.includes('src/cli.ts') ? 'cloakroom' : cmdline.includes('floor.ts') ? 'floor'
      : cmdline.includes('redis-server') && !cmdline.startsWith('sh') && !cmdline.startsWith('/bin/sh') ? 'redis-server' : cmdline.split(' ')[0] ?? '?'
    return { pid, name, cmdline }
  })
}

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, …]; utime and stime are [11] and [12]. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}
function cpuTicks(pid: number): number {
  const fields = statFields(pid)
  return Number(fields[11]) + Number(fields[12])
}
function serversTicks(pids: Array<{ pid: number }>): number {
  return pids.reduce((sum, { pid }) => sum + cpuTicks(pid), 0)
}
function cpusAllowed(pid: number): string {
  return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?'
}
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] ?? 0 : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}
function ms(value: number): string {
  return value < 1 ? `${(value * 1000).toFixed(0)} µs` : `${value.toFixed(2)} ms`
}
