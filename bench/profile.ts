/**
 * Where Cloakroom's CPU goes under load: runs it with `--cpu-prof` behind wrk, then prints self time
 * by stage (our modules, each dependency, Node's internals, GC) and the hottest functions.
 *
 *   node bench/profile.ts [--connections 32] [--duration 10] [--path /api/x] [--store redis|memory]
 *                         [--server-cpu 0] [--load-cpu 1] [--top 30]
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
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
  },
})
execFileSync('taskset', ['-a', '-cp', args['server-cpu'], String(process.pid)], { stdio: 'ignore' })

const dir = await mkdtemp(join(tmpdir(), 'cloakroom-profile-'))
// Read by the Cloakroom child at its start (this process started before it was set).
process.env['NODE_OPTIONS'] = `--cpu-prof --cpu-prof-dir=${dir}`
const bench = await startBenchStack({ sessions: 4, store: args.store === 'memory' ? 'memory' : 'redis' })
delete process.env['NODE_OPTIONS']
const connections = Number(args.connections)
try {
  const run = { url: `${bench.stack.cloakroom.url}${args.path}`, connections, threads: Math.min(4, connections), cookies: bench.cookies, cpu: args['load-cpu'] }
  await wrk({ ...run, seconds: 3 })
  const result = await wrk({ ...run, seconds: Number(args.duration) })
  console.log(`${args.path}, ${connections} conns: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms ${result.errors}`)
} finally {
  await bench.stop()
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

// Each Node process writes one profile: the Cloakroom child's is the one loading src/server.ts.
const profiles = await Promise.all((await readdir(dir)).map(async (file) => JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile))
const profile = profiles.find((p) => p.nodes.some((n) => n.callFrame.url.endsWith('/src/server.ts')))
if (profile === undefined) throw new Error(`no Cloakroom profile among ${profiles.length}`)
await rm(dir, { recursive: true, force: true })

const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const selfMicros = new Map<number, number>()
profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...selfMicros.entries()].filter(([id]) => byId.get(id)?.callFrame.functionName !== '(idle)').reduce((sum, [, us]) => sum + us, 0)

/** The stage a frame belongs to: a dependency, one of our files, a Node internal module, or V8's own. */
function stage({ url, functionName }: ProfileNode['callFrame']): string {
  if (url === '') return functionName
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (dependency !== null) return dependency[1] ?? url
  const ours = /\/(src\/.*)$/.exec(url)
  if (ours !== null) return ours[1] ?? url
  return url.replace(/^node:internal\//, 'node:').replace(/\/[^/]*$/, '')
}
const parentOf = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
const frameName = (frame: ProfileNode['callFrame']) =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/src\//, 'src/')}:${frame.lineNumber + 1}`
// Inclusive time of our own functions and of the dependencies' entry points: every sample counts for
// each distinct frame on its (synchronous) stack. Work after an await shows under its own callback.
const inclusive = new Map<string, number>()
for (const [id, us] of selfMicros) {
  const seen = new Set<string>()
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    const frame = byId.get(at)?.callFrame
    if (frame === undefined || frame.functionName === '(idle)') break
    if (!frame.url.includes('/src/') && !frame.url.includes('http-proxy-3')) continue
    seen.add(frameName(frame))
  }
  for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + us)
}
const stages = new Map<string, number>()
const functions = new Map<string, number>()
for (const [id, us] of selfMicros) {
  const frame = byId.get(id)?.callFrame
  if (frame === undefined || frame.functionName === '(idle)') continue
  stages.set(stage(frame), (stages.get(stage(frame)) ?? 0) + us)
  const name = frameName(frame)
  functions.set(name, (functions.get(name) ?? 0) + us)
}
const table = (title: string, entries: Map<string, number>, top: number) => {
  console.log(`\n${title} (share of ${(total / 1e6).toFixed(2)} s busy CPU)`)
  for (const [name, us] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`)
}
table('self time by stage', stages, 25)
table('hottest functions (self time)', functions, Number(args.top))
table('our functions and http-proxy-3, inclusive (synchronous part)', inclusive, Number(args.top))
