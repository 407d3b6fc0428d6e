/**
 * Cloakroom side by side with "the floor" (bench/floor.ts: node:http + http-proxy-3 adding a fixed
 * Bearer header) and the target alone, in one run, with the servers and the load tool on different
 * cores:
 *
 *   node bench/run.ts [--warmup 10] [--duration 20] [--rounds 2] [--connections 1,32,128]
 *                     [--server-cpu 0] [--load-cpu 1] [--threads 4] [--before <git ref>] [--dpop] [--peer] [--only redis,before]
 *
 * This process pins itself (all its threads) to --server-cpu before starting anything, so what it
 * starts (oidc-provider and the target in this process; redis-server, Cloakroom and the floor as
 * children) all run on that core; wrk (Debian's) runs under `taskset -c <load-cpu>`.
 *
 * Targets: the target directly; the floor; Cloakroom `token: user` with the Redis store and with the
 * memory store (session cookie + `X-CSRF: 1`: the session read, the Bearer added); Cloakroom
 * `token: none` (the same proxy, no session); with `--dpop`, Cloakroom with `oidc.dpop` (a DPoP-bound
 * token and a proof signed per request); with `--peer`, Apache with mod_auth_openidc and Redis sessions
 * (bench/peer-mod-auth-openidc.ts); with `--before <ref>`, that commit's Cloakroom too
 * (a git worktree beside this one, sharing node_modules, the same Redis and sessions). Rounds are interleaved: every round runs every
 * connection count and every target (a warm-up, then a measured run; each round starts one target
 * further on in the list, so that none always follows the same one); the table shows the median
 * over rounds, the proxy's CPU per request read from /proc/<pid>/stat around each measured run
 * (utime + stime, in clock ticks: 10 ms granularity), the CPU of every server process together, and
 * the Redis commands per request (INFO commandstats around the run).
 *
 * Cloakroom allows 64 requests in flight per client (session, or address without one). So that 128
 * connections measure throughput and not that bound, each wrk thread is its own client: its own
 * session cookie and its own `X-Forwarded-For` address (Cloakroom runs with `trustProxy: 1` here,
 * as it would behind a load balancer). Every target gets the same request headers.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../e2e/fixtures/free-port.ts'
import { startCloakroom, type CloakroomProcess } from '../e2e/fixtures/cloakroom.ts'
import { redisCli } from '../e2e/fixtures/redis-server.ts'
import { startBenchStack } from './bench-stack.ts'
import { peerAvailable, reservePeer, startPeer, type Peer } from './peer-mod-auth-openidc.ts'
import { wrk, type WrkResult } from './wrk.ts'

const { values: args } = parseArgs({
  options: {
    warmup: { type: 'string', default: '10' },
    duration: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '1,32,128' },
    'server-cpu': { type: 'string', default: '0' },
    'load-cpu': { type: 'string', default: '1' },
    threads: { type: 'string', default: '4' },
    before: { type: 'string' },
    dpop: { type: 'boolean', default: false },
    only: { type: 'string' },
    peer: { type: 'boolean', default: false },
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

const FLOOR = 'floor (node:http + http-proxy-3)'
/** `tree`: the CPU of the process and its children (Apache's workers), reaped ones included. */
interface Target { name: string; url: string; cookies: string[]; pid: number | undefined; redisUrl?: string; tree?: boolean }
interface Sample extends WrkResult { proxyCpu: number | undefined; serversCpu: number; redisCommands: number | undefined }

// --peer: Apache with mod_auth_openidc, a client of the same IdP (registered before it starts).
if (args.peer && !peerAvailable()) throw new Error('--peer needs Debian\'s apache2 and libapache2-mod-auth-openidc (apt-get install -y apache2 libapache2-mod-auth-openidc)')
const reserved = args.peer ? await reservePeer() : undefined
const withRedis = await startBenchStack({ sessions: maxThreads, ...(reserved === undefined ? {} : { extraClients: [reserved.client] }) })
const withMemory = await startBenchStack({ sessions: maxThreads, store: 'memory' }).catch(async (error: unknown) => {
  await withRedis.stop()
  throw error
})
// --dpop: Cloakroom with oidc.dpop too (a proof signed per request), on a Redis and IdP of its own.
const withDpop = args.dpop ? await startBenchStack({ sessions: maxThreads, oidc: { dpop: true } }).catch(async (error: unknown) => {
  await Promise.all([withRedis.stop(), withMemory.stop()])
  throw error
}) : undefined
let floor: ReturnType<typeof spawn> | undefined
let before: { process: CloakroomProcess; worktree: string } | undefined
let peer: Peer | undefined
try {
  if (args.before !== undefined) before = await startBefore(args.before)
  // The floor adds a Bearer as long as the real one, so both proxies send the target the same bytes.
  const floorPort = await freePort()
  floor = spawn(process.execPath, [fileURLToPath(new URL('floor.ts', import.meta.url)), String(floorPort), `${withRedis.targetUrl}/base`, withRedis.authorization.slice(7)],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    floor?.stdout?.on('data', (chunk: Buffer) => { if (chunk.toString().includes('listening')) resolve() })
    floor?.once('exit', (code) => reject(new Error(`floor exited with ${code}`)))
  })

  if (reserved !== undefined) {
    peer = await startPeer({ port: reserved.port, issuer: withRedis.stack.idp.issuer, redisUrl: withRedis.stack.redis.url, targetUrl: withRedis.targetUrl, sessions: maxThreads })
  }

  const pids = serverProcesses()
  const pidOf = (port: string) => pids.find((p) => p.name === 'cloakroom' && p.cmdline.includes(port))?.pid ?? cloakroomPid(port)
  const targets: Target[] = [
    { name: 'target directly', url: `${withRedis.targetUrl}/base/x`, cookies: [], pid: undefined },
    { name: FLOOR, url: `http://127.0.0.1:${floorPort}/x`, cookies: [], pid: floor.pid },
    { name: 'Cloakroom, token: user, Redis', url: `${withRedis.stack.cloakroom.url}/api/x`, cookies: withRedis.cookies, pid: pidOf(withRedis.stack.cloakroom.url), redisUrl: withRedis.stack.redis.url },
    { name: 'Cloakroom, token: user, memory', url: `${withMemory.stack.cloakroom.url}/api/x`, cookies: withMemory.cookies, pid: pidOf(withMemory.stack.cloakroom.url) },
    { name: 'Cloakroom, token: none', url: `${withRedis.stack.cloakroom.url}/public/x`, cookies: [], pid: pidOf(withRedis.stack.cloakroom.url) },
    ...(withDpop === undefined ? [] : [{ name: 'Cloakroom, token: user, Redis, DPoP', url: `${withDpop.stack.cloakroom.url}/api/x`, cookies: withDpop.cookies, pid: pidOf(withDpop.stack.cloakroom.url), redisUrl: withDpop.stack.redis.url }]),
    ...(peer === undefined ? [] : [{ name: 'mod_auth_openidc (Apache, Redis sessions)', url: `${peer.url}/api/x`, cookies: peer.cookies, pid: peer.pid, tree: true, redisUrl: withRedis.stack.redis.url }]),
    ...(before === undefined ? [] : [{ name: `Cloakroom ${args.before}, token: user, Redis`, url: `${before.process.url}/api/x`, cookies: withRedis.cookies, pid: cloakroomPid(before.process.url), redisUrl: withRedis.stack.redis.url }]),
  ]
  // --only: the floor (every table's yardstick) and the targets whose names hold one of the words.
  const only = args.only?.toLowerCase().split(',')
  if (only !== undefined) {
    const chosen = targets.filter((target) => target.name === FLOOR || only.some((word) => target.name.toLowerCase().includes(word)))
    targets.splice(0, targets.length, ...chosen)
  }
  for (const target of targets) {
    const response = await fetch(target.url, { headers: { 'x-csrf': '1', ...(target.cookies[0] === undefined ? {} : { cookie: target.cookies[0] }) } })
    const body = await response.text()
    if (response.status !== 200) throw new Error(`${target.name}: ${response.status} ${body}`)
  }
  console.log(`servers on CPU ${serverCpu}: ${pids.map((p) => `${p.name}[${p.pid}] allowed ${cpusAllowed(p.pid)}`).join(', ')}`)
  console.log(`wrk on CPU ${loadCpu}; ${rounds} round(s) of ${warmup} s warm-up + ${duration} s measured, connections ${connectionCounts.join(', ')}\n`)

  const samples = new Map<string, Sample[]>()
  for (let round = 1; round <= rounds; round++) {
    // Each round starts one target further on, so none always runs right after the same neighbour.
    const shift = (round - 1) % targets.length
    const order = [...targets.slice(shift), ...targets.slice(0, shift)]
    for (const connections of connectionCounts) {
      for (const target of order) {
        const run = { url: target.url, connections, threads: Math.min(maxThreads, connections), cookies: target.cookies, cpu: loadCpu }
        await wrk({ ...run, seconds: warmup })
        const proxyTicks = () => target.pid === undefined ? 0 : target.tree === true ? treeTicks(target.pid) : cpuTicks(target.pid)
        const before = { proxy: proxyTicks(), servers: serversTicks(serverProcesses()), redis: await redisCalls(target.redisUrl) }
        const result = await wrk({ ...run, seconds: duration })
        const after = { proxy: proxyTicks(), servers: serversTicks(serverProcesses()), redis: await redisCalls(target.redisUrl) }
        const perRequest = (ticks: number) => (ticks / CLK_TCK) * 1e6 / result.requests
        const sample: Sample = {
          ...result,
          proxyCpu: target.pid === undefined ? undefined : perRequest(after.proxy - before.proxy),
          serversCpu: perRequest(after.servers - before.servers),
          // INFO itself counts once.
          redisCommands: target.redisUrl === undefined ? undefined : (after.redis - before.redis - 1) / result.requests,
        }
        const key = `${connections}\u0000${target.name}`
        samples.set(key, [...(samples.get(key) ?? []), sample])
        console.log(`round ${round}, ${String(connections).padStart(3)} conn, ${target.name}: ${sample.rps.toFixed(0)} req/s, p50 ${ms(sample.p50)}, p99 ${ms(sample.p99)}${sample.errors === '' ? '' : `, ${sample.errors}`}`)
      }
    }
  }

  const header = ['conns', 'target', 'req/s', 'rounds (req/s)', 'vs floor', 'p50', 'p99', 'proxy CPU/req', 'all servers CPU/req', 'Redis cmds/req']
  const rows: string[][] = []
  for (const connections of connectionCounts) {
    const floorRps = median((samples.get(`${connections}\u0000${FLOOR}`) ?? []).map((s) => s.rps))
    for (const target of targets) {
      const runs = samples.get(`${connections}\u0000${target.name}`) ?? []
      const rps = median(runs.map((s) => s.rps))
      // The least of the rounds too: on a shared machine, the one its neighbours disturbed least.
      const cpus = runs.map((s) => s.proxyCpu ?? 0)
      const proxyCpu = runs.every((s) => s.proxyCpu !== undefined) ? `${median(cpus).toFixed(0)} µs (least ${Math.min(...cpus).toFixed(0)})` : '-'
      const redis = runs.every((s) => s.redisCommands !== undefined) ? median(runs.map((s) => s.redisCommands ?? 0)).toFixed(3) : '-'
      const errors = runs.map((s) => s.errors).filter((e) => e !== '')
      rows.push([String(connections), target.name + (errors.length > 0 ? ` (${errors.join('; ')})` : ''), rps.toFixed(0), runs.map((s) => s.rps.toFixed(0)).join(' / '),
        `${(rps / floorRps).toFixed(2)}x`, ms(median(runs.map((s) => s.p50))), ms(median(runs.map((s) => s.p99))), proxyCpu, `${median(runs.map((s) => s.serversCpu)).toFixed(0)} µs`, redis])
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  console.log(`\n${new Date().toISOString()}, node ${process.version}, ${spawnSync('wrk', ['-v']).stdout.toString().split('\n')[0]?.trim() ?? 'wrk'}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`)
  console.log(`medians of ${rounds} round(s), ${duration} s each after ${warmup} s warm-up; servers on CPU ${serverCpu}, wrk on CPU ${loadCpu}\n`)
  console.log(line(header))
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`)
  for (const row of rows) console.log(line(row))
} finally {
  if (floor !== undefined && floor.exitCode === null) {
    const exited = new Promise((resolve) => floor?.once('exit', resolve))
    floor.kill('SIGTERM')
    await exited
  }
  await peer?.stop()
  if (before !== undefined) {
    await before.process.stop()
    execFileSync('git', ['worktree', 'remove', '--force', before.worktree], { stdio: 'ignore' })
  }
  await Promise.all([withRedis.stop(), withMemory.stop(), withDpop?.stop()])
}

/** The Cloakroom of commit `ref`, on the Redis stack's config (same Redis, secrets, sessions), on a port of its own. */
async function startBefore(ref: string): Promise<{ process: CloakroomProcess; worktree: string }> {
  const worktree = await mkdtemp(join(tmpdir(), 'cloakroom-before-'))
  await rm(worktree, { recursive: true })
  execFileSync('git', ['worktree', 'add', '--detach', worktree, ref], { stdio: 'ignore' })
  await symlink(fileURLToPath(new URL('../node_modules', import.meta.url)), join(worktree, 'node_modules'))
  const config = { ...withRedis.stack.config, listen: { host: '127.0.0.1', port: await freePort() } } as Parameters<typeof startCloakroom>[0]
  return { process: await startCloakroom(config, 'warn', join(worktree, 'src/cli.ts')), worktree }
}

/** Commands Redis has served so far, all kinds together (INFO commandstats). */
async function redisCalls(url: string | undefined): Promise<number> {
  if (url === undefined) return 0
  const stats = await redisCli(['-u', url, 'INFO', 'commandstats'])
  return [...stats.matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0)
}

/** The Cloakroom child listening on this URL's port (its config file names the port). */
function cloakroomPid(url: string): number | undefined {
  const port = new URL(url).port
  return serverProcesses().find((p) => p.name === 'cloakroom' && readFileSync(p.cmdline.split(' ').at(-1) ?? '', 'utf8').includes(`"port": ${port}`))?.pid
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
  return all.flatMap((pid) => {
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
    } catch {
      return [] // gone since listed
    }
    const name = pid === process.pid ? 'bench (idp, target)' : cmdline.includes('src/cli.ts') ? 'cloakroom' : cmdline.includes('floor.ts') ? 'floor'
      : cmdline.includes('redis-server') && !cmdline.startsWith('sh') && !cmdline.startsWith('/bin/sh') ? 'redis-server' : cmdline.split(' ')[0] ?? '?'
    return [{ pid, name, cmdline }]
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
/** A process's own CPU, its reaped children's, and its live children's (one level: Apache's workers). */
function treeTicks(pid: number): number {
  const fields = statFields(pid)
  const children = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).flatMap((entry) => {
    try {
      return Number(statFields(Number(entry))[1]) === pid ? [cpuTicks(Number(entry))] : []
    } catch {
      return []
    }
  })
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) + children.reduce((a, b) => a + b, 0)
}
/** Every server process as they are now (Apache starts and stops workers), their reaped children included. */
function serversTicks(pids: Array<{ pid: number }>): number {
  return pids.reduce((sum, { pid }) => {
    try {
      const fields = statFields(pid)
      return sum + Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
    } catch {
      return sum // gone since listed
    }
  }, 0)
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
