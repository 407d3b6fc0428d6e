/**
 * Cloakroom's memory with many sessions: does its RSS stay flat over 100,000 logins and 1,000,000
 * API calls (sessions live in Redis)? And what does Redis hold per session?
 *
 *   node bench/rss.ts [--logins 100000] [--calls 1000000] [--cpu 0] [--login-concurrency 16]
 *                     [--connections 64] [--threads 2] [--run dist|src] [--node-options "..."]
 *                     [--out bench/results/rss-<date>.txt]
 *
 * Pins itself (all threads) to --cpu first, so everything it starts shares that core: redis-server,
 * Cloakroom (a child process, LOG_LEVEL=warn, sessions in Redis; built from src/ into a temp folder
 * and run as `node dist/cli.js`, as in production, or with `--run src` as the e2e suites run it), wrk. In this process: oidc-provider (demo/idp.ts, its default in-memory adapter, whose
 * ~1,000-entry bound keeps its memory flat), the login client, and a target that answers at once.
 *
 * Logins follow the real code flow: /auth/login → oidc-provider's authorization endpoint → its
 * interaction (finished without a page, for user-<n>: each login is a user of its own, so each has
 * its own index sets in Redis, as in production) → back to /auth/callback with the code →
 * Cloakroom's token request → session in Redis. Then wrk sends the API calls (`token: user` route,
 * session cookie + X-CSRF), round-robin over every session, in chunks (a Lua counter stops each
 * thread at its share).
 *
 * Cloakroom's memory is sampled every 5% of the logins and of the calls: VmRSS from
 * /proc/<pid>/status as it is, then the live heap, through a preload (`--expose-gc` and an IPC
 * listener: process.memoryUsage() after a full GC). Cloakroom's source is not changed. After the
 * calls and a quiet minute: RSS by kind of mapping (/proc/<pid>/smaps) and the size of V8's spaces.
 * `--node-options` goes to Cloakroom's node only (`--max-semi-space-size=8` bounds V8's young generation).
 * At the end, what Redis holds: used_memory per session, and MEMORY USAGE by kind of key.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startIdp } from '../demo/idp.ts'
import { createCookieClient } from '../e2e/fixtures/cookie-client.ts'
import { freePort } from '../e2e/fixtures/free-port.ts'
import { redisCli, startRedis } from '../e2e/fixtures/redis-server.ts'

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '100000' },
    calls: { type: 'string', default: '1000000' },
    cpu: { type: 'string', default: '0' },
    'login-concurrency': { type: 'string', default: '16' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string' },
    // 'dist' (default): built from src/ into a temp folder and run as `node dist/cli.js`, as in production;
    // 'src': `node src/cli.ts` as the e2e suites run it (type stripping costs some 30 MB of RSS more).
    run: { type: 'string', default: 'dist' },
    'node-options': { type: 'string', default: '' },
  },
})
const LOGINS = Number(args.logins)
const CALLS = Number(args.calls)
const THREADS = Number(args.threads)
const STEPS = 20
const started = new Date()
const outFile = args.out ?? fileURLToPath(new URL(`results/rss-${started.toISOString().slice(0, 10)}.txt`, import.meta.url))

execFileSync('taskset', ['-a', '-cp', args.cpu, String(process.pid)], { stdio: 'ignore' })

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** A problem code in an error page or body (docs/errors.md). */
const CODE = /\b(?:unauthenticated|session_expired|csrf_required|origin_mismatch|bad_request|not_found|idp_unavailable|store_unavailable|upstream_unavailable|rate_limited|invalid_\w+|server_error)\b/
const CLIENT = { id: 'cloakroom-rss', secret: 'rss-client-secret-0123456789' }
// Answers 'memory' with process.memoryUsage() after a full GC; the channel does not keep Cloakroom alive.
// With it, the size of each of V8's spaces (space_size: what V8 holds for it).
const PRELOAD = `data:text/javascript,${encodeURIComponent("process.on('message',(m)=>{if(m==='memory'){globalThis.gc();process.send({...process.memoryUsage(),spaces:Object.fromEntries(process.getBuiltinModule('v8').getHeapSpaceStatistics().map((s)=>[s.space_name,s.space_size]))})}});process.channel?.unref()")}`

// Lua for wrk: args = cookies file, first call's index, calls per thread. Thread n sends calls
// [first + (n-1)·share, first + n·share), one session after another, and stops after its share.
const LUA = `
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("n", #threads)
end
function init(args)
  cookies = {}
  for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
  share = tonumber(args[3])
  at = (tonumber(args[2]) + (n - 1) * share) % #cookies
  answered, bad, statuses = 0, 0, {}
  wrk.headers["X-CSRF"] = "1"
end
function request()
  wrk.headers["Cookie"] = cookies[at + 1]
  at = (at + 1) % #cookies
  return wrk.format("GET", "/api/rss")
end
function response(status)
  answered = answered + 1
  if status ~= 200 then
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
  if answered == share then
    io.write("STOPPED\\n")
    io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency)
  local answered, bad = 0, 0
  for _, thread in ipairs(threads) do
    answered = answered + thread:get("answered")
    bad = bad + thread:get("bad")
  end
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do io.write(string.format("STATUS %d %d\\n", status, count)) end
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d connect %d read %d write %d timeout %d\\n", answered, bad, summary.duration, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.timeout))
end
`

/**
 * Runs wrk; its stdout and stderr together once it exits 0. A thread that stopped does not end wrk
 * (it sleeps out its duration): once every thread said STOPPED, SIGINT has it report and exit.
 */
async function wrk(argv: readonly string[], threads: number): Promise<string> {
  const child = spawn('wrk', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  child.once('exit', () => process.off('exit', killOnExit))
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    if (output.split('STOPPED').length - 1 === threads) child.kill('SIGINT')
  })
  // A script wrk cannot load is reported on stderr, and wrk carries on without it: stop it there.
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    child.kill('SIGKILL')
  })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${output}`)
  return output
}

interface Sample {
  readonly logins: number
  readonly calls: number
  readonly rssMb: number
  /** Live (used after a full GC), and committed (what V8 holds from the OS, the young generation included). */
  readonly heapMb: number
  readonly heapTotalMb: number
  readonly externalMb: number
  readonly at: number
  /** The machine's 1-minute load average then (other processes share it). */
  readonly load: number
}

const dir = await mkdtemp(join(tmpdir(), 'cloakroom-rss-'))
const target = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'))
})
await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
const port = await freePort()
const publicUrl = `http://127.0.0.1:${port}`
const redis = await startRedis()
const idp = await startIdp({
  interactions: 'auto',
  accessTokenTtl: 24 * 3600,
  // Registered for back-channel logout, so ID tokens carry a sid and each session has its sid index too.
  clients: [{
    clientId: CLIENT.id, clientSecret: CLIENT.secret, redirectUris: [`${publicUrl}/auth/callback`], postLogoutRedirectUris: [`${publicUrl}/`],
    backchannelLogoutUri: `${publicUrl}/auth/backchannel-logout`,
  }],
})
let cloakroom: ChildProcess | undefined
let output = ''
const lines: string[] = []
const report = (line = '') => {
  console.log(line)
  lines.push(line)
}

try {
  const config = {
    listen: { host: '127.0.0.1', port },
    publicUrl,
    oidc: { issuer: idp.issuer, clientId: CLIENT.id, clientSecret: CLIENT.secret, scopes: ['openid', 'profile', 'email', 'offline_access'] },
    // Every session outlives the run: none expires while it is measured.
    session: { secrets: ['rss-bench-session-secret-0123456789-abcdefghij'], idleTimeout: '24h', absoluteTimeout: '48h' },
    store: { type: 'redis', url: redis.url },
    login: { ratePerMinute: 1_000_000_000 },
    routes: [{ path: '/api', target: `http://127.0.0.1:${(target.address() as AddressInfo).port}`, token: 'user' }],
  }
  // The source measured is the work tree's as it is now (others may commit during a long run).
  const commit = spawnSync('git', ['log', '-1', '--format=%h (%cI)'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim()
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length
  let cli = join(ROOT, 'src', 'cli.ts')
  if (args.run === 'dist') {
    // Built outside the work tree (its dist/ is left alone), resolving packages through a link to node_modules.
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist'), '--declaration', 'false'], { stdio: 'inherit' })
    // What dist/ reads beside it, as in the repository and the image (the browser helper in client/).
    for (const beside of ['node_modules', 'client']) symlinkSync(join(ROOT, beside), join(dir, beside))
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
    cli = join(dir, 'dist', 'cli.js')
  }
  const configFile = join(dir, 'cloakroom.yaml')
  await writeFile(configFile, JSON.stringify(config, null, 2))
  cloakroom = spawn(process.execPath, [...args['node-options'].split(' ').filter(Boolean), '--expose-gc', '--import', PRELOAD, cli, '--config', configFile],
    { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, LOG_LEVEL: 'warn' } })
  // Interrupted, it leaves nothing running: redis-server dies with us by itself, Cloakroom and wrk by these.
  process.once('exit', () => cloakroom?.kill('SIGKILL'))
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping`)
      process.exit(128)
    })
  }
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-20_000) }
  cloakroom.stdout?.on('data', keep)
  cloakroom.stderr?.on('data', keep)
  for (const deadline = Date.now() + 30_000; !(await fetch(`${publicUrl}/healthz`).then((r) => r.ok, () => false));) {
    if (cloakroom.exitCode !== null || Date.now() > deadline) throw new Error(`Cloakroom did not start:\n${output}`)
    await sleep(50)
  }
  const pid = cloakroom.pid ?? 0
  const child = cloakroom

  let lastSpaces: Record<string, number> = {}
  async function sample(logins: number, calls: number): Promise<Sample> {
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
    child.send('memory')
    const [memory] = await once(child, 'message', { signal: AbortSignal.timeout(10_000) }) as [NodeJS.MemoryUsage & { spaces: Record<string, number> }]
    lastSpaces = memory.spaces
    return { logins, calls, rssMb: rssKb / 1024, heapMb: memory.heapUsed / 2 ** 20, heapTotalMb: memory.heapTotal / 2 ** 20, externalMb: memory.external / 2 ** 20, at: performance.now(), load: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]) }
  }
  const redisInfo = async (section: string, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(await redisCli(['-p', String(redis.port), 'INFO', section]))?.[1])
  const usedMemoryBefore = await redisInfo('memory', 'used_memory')

  // Each login is user-<n>: the interaction hop that logs someone in runs alone, with the IdP set to that user.
  let exclusive: Promise<unknown> = Promise.resolve()
  function asUser<T>(user: string, operation: () => Promise<T>): Promise<T> {
    const run = exclusive.then(() => {
      idp.setUser(user)
      return operation()
    })
    exclusive = run.catch(() => {})
    return run
  }
  async function login(n: number): Promise<string> {
    const client = createCookieClient()
    let url = `${publicUrl}/auth/login?returnTo=%2F`
    for (let hop = 0; hop < 12; hop++) {
      const response = url.startsWith(`${idp.issuer}/interaction/`) ? await asUser(`user-${n}`, () => client.request(url)) : await client.request(url)
      const body = await response.text()
      const location = response.headers.get('location')
      const step = new URL(url).pathname.replace(/\/interaction\/.*/, '/interaction').replace(/\/auth\/[\w-]{20,}$/, '/auth/<uid>')
      if (response.status >= 400 || location === null) throw new Error(`${step} answered ${response.status}${CODE.exec(body)?.[0] === undefined ? '' : ` ${CODE.exec(body)?.[0]}`}`)
      if (url.startsWith(`${publicUrl}/auth/callback`)) {
        const cookie = client.cookies(publicUrl).get('cloakroom')
        if (cookie === undefined) throw new Error(`${step} answered ${response.status} without a session cookie`)
        return `cloakroom=${cookie}`
      }
      url = new URL(location, url).href
    }
    throw new Error('never reached the callback')
  }
  // A login that fails (a 503 under load is worth a retry, as the README tells SPAs) is tried again,
  // up to five times; every failure is counted by where and why, and reported.
  const loginFailures = new Map<string, number>()
  async function loginRetrying(n: number): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await login(n)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        loginFailures.set(reason, (loginFailures.get(reason) ?? 0) + 1)
        if (attempt === 5) throw new Error(`login ${n} failed 5 times, last: ${reason}`)
        await sleep(1000)
      }
    }
  }

  const samples: Sample[] = [await sample(0, 0)]
  console.log(`Cloakroom pid ${pid} on CPU ${args.cpu}: ${samples[0]?.rssMb.toFixed(1)} MB RSS at start; ${LOGINS} logins, ${args['login-concurrency']} at a time`)
  const cookies: string[] = new Array<string>(LOGINS)
  const loginStep = Math.max(1, Math.ceil(LOGINS / STEPS))
  const loginStart = performance.now()
  let next = 0
  for (let done = 0; done < LOGINS; done = Math.min(LOGINS, done + loginStep)) {
    const end = Math.min(LOGINS, done + loginStep)
    await Promise.all(Array.from({ length: Number(args['login-concurrency']) }, async () => {
      while (next < end) {
        const n = next++
        cookies[n] = await loginRetrying(n)
      }
    }))
    const s = await sample(end, 0)
    samples.push(s)
    const seconds = (s.at - loginStart) / 1000
    console.log(`${end} logins in ${seconds.toFixed(0)} s (${(end / seconds).toFixed(0)}/s): RSS ${s.rssMb.toFixed(1)} MB, live heap ${s.heapMb.toFixed(1)} MB, committed ${s.heapTotalMb.toFixed(1)} MB`)
  }
  const loginSeconds = (performance.now() - loginStart) / 1000
  const cookieFile = join(dir, 'cookies.txt')
  writeFileSync(cookieFile, `${cookies.join('\n')}\n`)
  const script = join(dir, 'calls.lua')
  writeFileSync(script, LUA)

  const callStep = Math.max(THREADS, Math.ceil(CALLS / STEPS / THREADS) * THREADS)
  const callStart = performance.now()
  let calls = 0
  let failures = 0
  const notOk = new Map<string, number>()
  const callLatency: string[] = []
  while (calls < CALLS) {
    const share = Math.ceil(Math.min(callStep, CALLS - calls) / THREADS)
    // Not spawnSync: the target and the IdP answer from this process's event loop.
    const output = await wrk(['-t', String(THREADS), '-c', args.connections, '-d', '3600s', '--timeout', '10s', '-s', script, `${publicUrl}/api/rss`, '--', cookieFile, String(calls), String(share)], THREADS)
    const result = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(output)
    if (result === null) throw new Error(`wrk: ${output}`)
    const [answered, bad, durationUs, socketErrors, p50, p99] = result.slice(1).map(Number) as [number, number, number, number, number, number]
    calls += answered
    failures += bad + socketErrors
    for (const [, status = '', count] of output.matchAll(/^STATUS (\d+) (\d+)$/gm)) notOk.set(status, (notOk.get(status) ?? 0) + Number(count))
    if (bad + socketErrors > 0) console.log(`chunk ending at ${calls} calls: ${bad} answers not 200, socket errors: ${/connect \d+ read \d+ write \d+ timeout \d+/.exec(output)?.[0]}`)
    const s = await sample(LOGINS, calls)
    samples.push(s)
    callLatency.push(`${calls}: ${(answered / (durationUs / 1e6)).toFixed(0)}/s p50 ${(p50 / 1000).toFixed(1)} ms p99 ${(p99 / 1000).toFixed(1)} ms`)
    console.log(`${calls} calls (${failures} failed; this chunk ${(answered / (durationUs / 1e6)).toFixed(0)}/s, p50 ${(p50 / 1000).toFixed(1)} ms, p99 ${(p99 / 1000).toFixed(1)} ms): RSS ${s.rssMb.toFixed(1)} MB, live heap ${s.heapMb.toFixed(1)} MB, committed ${s.heapTotalMb.toFixed(1)} MB`)
    if (answered === 0) throw new Error(`wrk answered nothing: ${output}`)
  }
  const callSeconds = (performance.now() - callStart) / 1000
  // And once more after a quiet minute, with nothing in flight: what stays when the load is gone.
  await sleep(60_000)
  const idle = await sample(LOGINS, calls)
  // Where the resident memory is: V8's heap and Node's own allocations are anonymous mappings; glibc's
  // main arena is [heap]; file-backed pages are code and libraries.
  const rssBy = new Map<string, number>()
  let mapping = ''
  // Pages V8 gave back with madvise(MADV_FREE): still counted in RSS until the kernel needs them.
  let lazyFreeMb = 0
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (head !== null) mapping = head[1] === '' ? 'anonymous' : head[1]?.startsWith('/') === true ? 'file-backed' : head[1] ?? ''
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) rssBy.set(mapping, (rssBy.get(mapping) ?? 0) + Number(rss[1]) / 1024)
    const lazy = /^LazyFree:\s+(\d+) kB/.exec(line)
    if (lazy !== null) lazyFreeMb += Number(lazy[1]) / 1024
  }

  // What Redis holds.
  const redisCommands = (input: string) => spawnSync('redis-cli', ['-p', String(redis.port)], { input, encoding: 'utf8', maxBuffer: 1 << 30 }).stdout.trim().split('\n')
  const keys = redisCommands('KEYS *\n')
  const kinds = new Map<string, string[]>()
  for (const key of keys) {
    const kind = key.replace(/^cloakroom:/, '').replace(/^(index:sub|index:sid|[a-z-]+).*$/, '$1')
    const members = kinds.get(kind) ?? []
    kinds.set(kind, members)
    members.push(key)
  }
  const usedMemory = await redisInfo('memory', 'used_memory')
  const sessions = kinds.get('session')?.length ?? 0
  const perSession = usedMemory / sessions
  const perSessionDelta = (usedMemory - usedMemoryBefore) / sessions
  const kindLines = [...kinds].map(([kind, members]) => {
    const sampled = members.slice(0, 500)
    const sizes = redisCommands(sampled.map((key) => `MEMORY USAGE ${key} SAMPLES 0\n`).join('')).map(Number)
    return `  ${kind}: ${members.length} keys, MEMORY USAGE ${(sizes.reduce((a, b) => a + b, 0) / sizes.length).toFixed(0)} bytes each (mean of ${sizes.length})`
  })
  const dataLengths = redisCommands((kinds.get('session') ?? []).slice(0, 500).map((key) => `HSTRLEN ${key} data\n`).join('')).map(Number)

  const at = (logins: number, calls: number) => samples.find((s) => s.logins === logins && s.calls === calls)
  const HEADER = ['RSS (MB)', 'live heap', 'heap committed', 'external']
  const cells = (s: Sample | undefined) => (s === undefined ? HEADER.map(() => '-') : [s.rssMb, s.heapMb, s.heapTotalMb, s.externalMb].map((mb) => mb.toFixed(1)))
  const row = (label: string, values: string[]) => `| ${label.padEnd(26)} | ${values.map((v, i) => v.padStart(HEADER[i]?.length ?? 0)).join(' | ')} |`
  const nearest = (calls: number) => samples.filter((s) => s.logins === LOGINS).reduce((a, b) => (Math.abs(b.calls - calls) < Math.abs(a.calls - calls) ? b : a))
  const mid = nearest(CALLS / 2)
  const end = samples.at(-1) as Sample
  const loginsMid = at(Math.ceil(LOGINS / 2 / loginStep) * loginStep, 0) ?? mid
  const loginsEnd = at(LOGINS, 0) as Sample
  const signed = (mb: number) => `${mb >= 0 ? '+' : ''}${mb.toFixed(1)} MB`
  const growth = (from: Sample, to: Sample) => `RSS ${signed(to.rssMb - from.rssMb)} (${((to.rssMb / from.rssMb - 1) * 100).toFixed(1)}%), live heap ${signed(to.heapMb - from.heapMb)}`
  // Flat: RSS within 5% (at least 5 MB) and the live heap within 2 MB; a single sample's RSS moves by more than the heap does.
  const flat = (from: Sample, to: Sample) => (to.rssMb - from.rssMb < Math.max(5, 0.05 * from.rssMb) && to.heapMb - from.heapMb < 2 ? 'flat' : 'GREW')
  const range = (of: Sample[]) => `${Math.min(...of.map((s) => s.rssMb)).toFixed(1)}–${Math.max(...of.map((s) => s.rssMb)).toFixed(1)} MB`

  report(`Cloakroom RSS with sessions in Redis — ${started.toISOString()}`)
  report(`commit ${commit}${dirty > 0 ? ` (+ ${dirty} uncommitted change(s) in src/)` : ''}, run as ${args.run === 'dist' ? 'node dist/cli.js (built for this run)' : 'node src/cli.ts'}${args['node-options'] === '' ? '' : ` with ${args['node-options']}`}; node ${process.version}; ${spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ').slice(0, 3).join(' ')}; ${cpus().length} × ${cpus()[0]?.model ?? '?'}; everything on CPU ${args.cpu}`)
  report(`logins: ${LOGINS} through the code flow against oidc-provider, ${args['login-concurrency']} at a time, in ${loginSeconds.toFixed(0)} s (${(LOGINS / loginSeconds).toFixed(0)}/s, IdP and login client sharing the core with Cloakroom and Redis)`)
  report(`login attempts that failed and were tried again: ${loginFailures.size === 0 ? 'none' : [...loginFailures].map(([reason, count]) => `${count} × ${reason}`).join('; ')}`)
  report(`load average (1 min) at the samples: ${Math.min(...samples.map((s) => s.load)).toFixed(1)} to ${Math.max(...samples.map((s) => s.load)).toFixed(1)} (2 cores; others' processes included)`)
  report(`calls: ${calls} (${failures} not 200${notOk.size === 0 ? '' : `: ${[...notOk].map(([status, count]) => `${count} × ${status}`).join(', ')}`}) with wrk, ${THREADS} threads, ${args.connections} connections, round-robin over the sessions, in ${callSeconds.toFixed(0)} s (${(calls / callSeconds).toFixed(0)}/s)`)
  report()
  report(row('Cloakroom after', HEADER))
  report(row('-'.repeat(26), HEADER.map((h) => '-'.repeat(h.length))))
  for (const fraction of [0, 0.1, 0.5, 1]) {
    const logins = Math.round(LOGINS * fraction)
    report(row(`${logins.toLocaleString('en')} logins`, cells(fraction === 0 ? samples[0] : at(logins, 0))))
  }
  for (const fraction of [0, 0.25, 0.5, 1]) {
    const s = nearest(CALLS * fraction)
    report(row(`${s.calls.toLocaleString('en')} calls`, cells(s)))
  }
  report(row('then a minute idle', cells(idle)))
  report()
  report(`verdict, logins: ${growth(loginsMid, loginsEnd)} from ${loginsMid.logins.toLocaleString('en')} to ${LOGINS.toLocaleString('en')} logins: ${flat(loginsMid, loginsEnd)}`)
  report(`verdict, calls: ${growth(mid, end)} from ${mid.calls.toLocaleString('en')} to ${end.calls.toLocaleString('en')} calls: ${flat(mid, end)}`)
  const callSamples = samples.filter((s) => s.calls > 0)
  report(`RSS over the calls' first half ${range(callSamples.filter((s) => s.calls <= mid.calls))}, second half ${range(callSamples.filter((s) => s.calls > mid.calls))}`)
  report(`RSS by mapping after the idle minute: ${[...rssBy].filter(([, mb]) => mb >= 0.5).sort((a, b) => b[1] - a[1]).map(([kind, mb]) => `${kind} ${mb.toFixed(1)} MB`).join(', ')}${process.env['MALLOC_ARENA_MAX'] === undefined ? '' : ` (MALLOC_ARENA_MAX=${process.env['MALLOC_ARENA_MAX']})`}; of all that, LazyFree (given back, reclaimed only under memory pressure) ${lazyFreeMb.toFixed(1)} MB`)
  report(`V8's spaces after the idle minute: ${Object.entries(lastSpaces).filter(([, bytes]) => bytes >= 2 ** 19).map(([name, bytes]) => `${name.replace(/_space$/, '')} ${(bytes / 2 ** 20).toFixed(1)} MB`).join(', ')}`)
  report(`peak RSS (VmHWM) ${(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024).toFixed(1)} MB`)
  report()
  report(`Redis: used_memory ${(usedMemory / 2 ** 20).toFixed(1)} MB for ${sessions} sessions = ${perSession.toFixed(0)} bytes per session ` +
    `(${(perSessionDelta).toFixed(0)} counting only what the logins added to the ${(usedMemoryBefore / 2 ** 20).toFixed(1)} MB of an empty Redis)`)
  report(`Redis memory per 10,000 sessions: ${(perSession * 10_000 / 2 ** 20).toFixed(1)} MB (used_memory; the process's RSS is higher by the allocator's overhead and fragmentation)`)
  report(`keys by kind:`)
  for (const line of kindLines) report(line)
  report(`  a session's sealed record ('data' field): ${(dataLengths.reduce((a, b) => a + b, 0) / dataLengths.length).toFixed(0)} characters on average (opaque 43-character access token from oidc-provider; a JWT access token adds about its own length × 4/3)`)
  report()
  report(`every sample (logins, calls: RSS / live heap / heap committed, MB):`)
  report(samples.map((s) => `${s.logins},${s.calls}: ${s.rssMb.toFixed(1)}/${s.heapMb.toFixed(1)}/${s.heapTotalMb.toFixed(1)}`).join('; '))
  report(`wrk chunks: ${callLatency.join('; ')}`)
  mkdirSync(join(outFile, '..'), { recursive: true })
  writeFileSync(outFile, `${lines.join('\n')}\n`)
  console.log(`\nwritten to ${outFile}`)
} finally {
  if (cloakroom !== undefined && cloakroom.exitCode === null) {
    const exited = once(cloakroom, 'exit')
    cloakroom.kill('SIGTERM')
    await Promise.race([exited, sleep(12_000)])
    if (cloakroom.exitCode === null) cloakroom.kill('SIGKILL')
  }
  await Promise.all([idp.stop(), redis.stop(), new Promise((resolve) => target.close(resolve))])
  await rm(dir, { recursive: true, force: true })
}
