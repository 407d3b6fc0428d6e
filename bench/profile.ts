/**
 * Where the CPU goes under load, Cloakroom beside the floor: runs both with `--cpu-prof` behind wrk
 * (one after the other, the same load), then prints, per request, the self time of each stage (our
 * modules, each dependency, Node's internals, GC) for both, and Cloakroom's hottest functions.
 * Only samples taken while wrk measured count (not startup, not the warm-up).
 *
 *   node bench/profile.ts [--connections 32] [--duration 10] [--path /api/x] [--store redis|memory] [--dpop]
 *                         [--server-cpu 0] [--load-cpu 1] [--top 30]
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '../e2e/fixtures/free-port.ts'
import { startBenchStack } from './bench-stack.ts'
import { wrk } from './wrk.ts'

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '10' },
    path: { type: 'string', default: '/api/x' },
    store: { type: 'string', default: 'redis' },
    'server-cpu': { type: 'string', default: '0' },
    'load-cpu': { type: 'string', default: '1' },
    top: { type: 'string', default: '30' },
    dpop: { type: 'boolean', default: false },
  },
})
execFileSync('taskset', ['-a', '-cp', args['server-cpu'], String(process.pid)], { stdio: 'ignore' })

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number }
/** A measured run: its requests, and its start and end on the monotonic clock V8 stamps samples with (µs). */
interface Window { requests: number; from: number; to: number }

const dir = await mkdtemp(join(tmpdir(), 'cloakroom-profile-'))
// Read by the children at their start (this process started before it was set).
process.env['NODE_OPTIONS'] = `--cpu-prof --cpu-prof-dir=${dir}`
const bench = await startBenchStack({ sessions: 4, store: args.store === 'memory' ? 'memory' : 'redis', ...(args.dpop ? { oidc: { dpop: true } } : {}) })
const floorPort = await freePort()
const floor = spawn(process.execPath, [fileURLToPath(new URL('floor.ts', import.meta.url)), String(floorPort), `${bench.targetUrl}/base`, bench.authorization.slice(7)], { stdio: ['ignore', 'pipe', 'inherit'] })
delete process.env['NODE_OPTIONS']
await new Promise<void>((resolve) => floor.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('listening')) resolve() }))

const connections = Number(args.connections)
const microseconds = () => Number(process.hrtime.bigint() / 1000n)
async function measure(url: string): Promise<Window> {
  const run = { url, connections, threads: Math.min(4, connections), cookies: bench.cookies, cpu: args['load-cpu'] }
  await wrk({ ...run, seconds: 3 })
  const from = microseconds()
  const result = await wrk({ ...run, seconds: Number(args.duration) })
  const to = microseconds()
  console.log(`${url}, ${connections} conns: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms ${result.errors}`)
  return { requests: result.requests, from, to }
}
let windows
try {
  windows = { cloakroom: await measure(`${bench.stack.cloakroom.url}${args.path}`), floor: await measure(`http://127.0.0.1:${floorPort}/x`) }
} finally {
  const exited = new Promise((resolve) => floor.once('exit', resolve))
  floor.kill('SIGTERM')
  await exited
  await bench.stop()
}

// Each Node process writes one profile: Cloakroom's loads src/server.ts, the floor's bench/floor.ts.
const profiles = await Promise.all((await readdir(dir)).map(async (file) => JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile))
await rm(dir, { recursive: true, force: true })
const loading = (file: string) => profiles.find((p) => p.nodes.some((n) => n.callFrame.url.endsWith(file)))

/** Self time per frame id during `window`. */
function selfTimes(profile: Profile, window: Window): Map<number, number> {
  const times = new Map<number, number>()
  let at = profile.startTime
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0
    if (at >= window.from && at <= window.to) times.set(id, (times.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  return times
}
const frameName = (frame: ProfileNode['callFrame']) =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(src|bench)\//, '$1/')}:${frame.lineNumber + 1}`
/** The stage a frame belongs to: a dependency, one of our files, a Node internal module, or V8's own. */
function stage({ url, functionName }: ProfileNode['callFrame']): string {
  if (url === '') return functionName
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (dependency !== null) return dependency[1] ?? url
  const ours = /\/((?:src|bench)\/.*)$/.exec(url)
  if (ours !== null) return ours[1] ?? url
  return url.replace(/^node:internal\//, 'node:').replace(/\/[^/]*$/, '')
}
/** µs per request by `key` (stage or function), busy samples only. */
function perRequest(profile: Profile, window: Window, key: (frame: ProfileNode['callFrame']) => string): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const totals = new Map<string, number>()
  for (const [id, us] of selfTimes(profile, window)) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined || frame.functionName === '(idle)') continue
    totals.set(key(frame), (totals.get(key(frame)) ?? 0) + us / window.requests)
  }
  return totals
}

const cloakroomProfile = loading('/src/server.ts')
const floorProfile = loading('/bench/floor.ts')
if (cloakroomProfile === undefined || floorProfile === undefined) throw new Error(`missing a profile among ${profiles.length}`)
const ours = perRequest(cloakroomProfile, windows.cloakroom, stage)
const theirs = perRequest(floorProfile, windows.floor, stage)
const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)
console.log(`\nCPU per request (µs, busy samples while measured): Cloakroom ${sum(ours).toFixed(1)}, floor ${sum(theirs).toFixed(1)}\n`)
console.log(`${'stage'.padEnd(34)} ${'Cloakroom'.padStart(9)} ${'floor'.padStart(9)} ${'more'.padStart(9)}`)
const stages = [...new Set([...ours.keys(), ...theirs.keys()])].sort((a, b) => ((ours.get(b) ?? 0) - (theirs.get(b) ?? 0)) - ((ours.get(a) ?? 0) - (theirs.get(a) ?? 0)))
for (const name of stages.slice(0, 30)) {
  const a = ours.get(name) ?? 0
  const b = theirs.get(name) ?? 0
  console.log(`${name.padEnd(34)} ${a.toFixed(1).padStart(9)} ${b.toFixed(1).padStart(9)} ${(a - b).toFixed(1).padStart(9)}`)
}
console.log(`\nCloakroom's hottest functions (self µs per request)`)
for (const [name, us] of [...perRequest(cloakroomProfile, windows.cloakroom, frameName)].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
  console.log(`${us.toFixed(2).padStart(7)}  ${name}`)
}
