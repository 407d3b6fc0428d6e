import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startStack, type Stack } from './fixtures/stack.ts'
import { startEchoUpstream, type EchoUpstream } from './fixtures/echo-upstream.ts'
import { runAll, runCase, type Outcome } from './fixtures/raw-http.ts'
import { Builder, CLASS_NAMES, generate, type Case } from './fixtures/fuzz-cases.ts'

// Raw HTTP/1.1 bytes against one Cloakroom (SPEC "Errors", "API routes"): every request is answered
// with a status line before the socket closes, no 5xx but 502/503/504, no stack trace, and nothing
// reaches the upstream outside the route that checked it. Cases come from a seeded PRNG: a failure
// names its case number, and the same seed gives the same bytes.

const SEED = 20_250_601
const POOL = 32 // under the 64 forwarded requests one client address may have in flight
const OUTSIDE = 'OUTSIDE-MARKER-6f1c'
const DOTFILE = 'DOTFILE-MARKER-92ab'
// The routes under test; each target has its own base path, so what the upstream saw names its route.
const FORWARDED = [
  { prefix: '/public', base: '/public-base', strip: true },
  { prefix: '/api', base: '/api-base', strip: false },
  { prefix: '/open', base: '/open-base', strip: false },
] as const

let stack: Stack
let upstream: EchoUpstream
let dir: string
let cookie: string
let host: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloakroom-fuzz-'))
  const site = join(dir, 'site')
  await mkdir(site)
  await writeFile(join(dir, 'outside.txt'), OUTSIDE)
  await writeFile(join(site, '.env'), DOTFILE)
  await writeFile(join(site, 'index.html'), '<!doctype html><title>spa</title><p>the spa</p>')
  await writeFile(join(site, 'app.js'), 'export {}\n')
  upstream = await startEchoUpstream()
  stack = await startStack({
    config: {
      timeouts: { upstream: '2s' },
      routes: [
        { path: '/public', target: `${upstream.url}/public-base`, token: 'none', csrf: false, stripPath: true },
        { path: '/api', target: `${upstream.url}/api-base`, token: 'user' },
        { path: '/open', target: `${upstream.url}/open-base`, token: 'none', csrf: false },
        { path: '/', static: site, token: 'none', csrf: false },
      ],
    },
  }).catch(async (error: unknown) => {
    await Promise.all([upstream.stop(), rm(dir, { recursive: true, force: true })])
    throw error
  })
  host = new URL(stack.cloakroom.url).host
  const { client } = await stack.login()
  cookie = [...client.cookies(stack.cloakroom.url)].map(([name, value]) => `${name}=${value}`).join('; ')
})
after(async () => {
  await stack?.stop()
  await Promise.all([upstream?.stop(), rm(dir, { recursive: true, force: true })])
})

// ---------------------------------------------------------------- checks

/** Where the upstream must see a request target Cloakroom forwards: its route's base plus the path that was checked. */
function expectedAtUpstream(target: string): string | undefined {
  const q = target.indexOf('?')
  const path = q === -1 ? target : target.slice(0, q)
  const query = q === -1 || q === target.length - 1 ? '' : target.slice(q)
  const route = FORWARDED.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`))
  if (route === undefined) return undefined
  return route.base + (route.strip ? path.slice(route.prefix.length) || '/' : path) + query
}

const preview = (c: Case) => JSON.stringify(Buffer.concat(c.steps.flatMap((s) => ('bytes' in s ? [s.bytes] : []))).toString('latin1').slice(0, 160))
const tally = (statuses: readonly number[]) => [...statuses.reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<number, number>())]
  .sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')

test('a few thousand malformed and hostile requests: each answered, none past its route', { timeout: 120_000 }, async (t: TestContext) => {
  const port = Number(new URL(stack.cloakroom.url).port)
  const cases = generate(SEED, { host, cookie })
  const started = Date.now()
  const outcomes = await runAll(port, cases, POOL)
  const failures: string[] = []
  const fail = (c: Case, why: string) => failures.push(`#${c.index} ${c.name}: ${why} — sent ${preview(c)}`)

  for (const c of cases) {
    const outcome = outcomes[c.index] as Outcome
    if (outcome.failure !== undefined) fail(c, outcome.failure)
    for (const response of outcome.responses) {
      if (response.status >= 500 && ![502, 503, 504].includes(response.status)) fail(c, `status ${response.status}`)
      if ((response.status === 408 || response.status === 431) && !response.close) fail(c, `${response.status} without Connection: close`)
      if (c.name === 'slow' && response.status !== 408) fail(c, `a stalled head got ${response.status}, not 408`)
      if (/Error|\n\s+at \S+ \(/.test(response.body)) fail(c, `body ${JSON.stringify(response.body.slice(0, 120))}`)
      if (response.body.includes(OUTSIDE) || response.body.includes(DOTFILE)) fail(c, 'a file outside the static folder or a dotfile was served')
    }
  }

  const sent = new Map(cases.flatMap((c) => c.requests.map((r) => [r.id, { c, r }] as const)))
  let reached = 0
  for (const seen of upstream.seen) {
    const id = String(seen.headers['x-fuzz-id'] ?? '')
    const origin = sent.get(id)
    if (!FORWARDED.some((r) => seen.url === r.base || seen.url.startsWith(`${r.base}/`) || seen.url.startsWith(`${r.base}?`))) {
      failures.push(`upstream saw ${JSON.stringify(seen.url)} outside every route's base path (request ${id})`)
    }
    if (origin === undefined) {
      failures.push(`upstream saw ${seen.method} ${JSON.stringify(seen.url)} that no case sent as a request (smuggled? id ${JSON.stringify(id)})`)
      continue
    }
    reached++
    if (!origin.r.authed && seen.url.startsWith('/api-base')) fail(origin.c, `an unauthenticated request reached the upstream as ${seen.url}`)
    const expected = expectedAtUpstream(origin.r.target)
    if (seen.url !== expected) fail(origin.c, `checked as ${JSON.stringify(origin.r.target)} but the upstream saw ${JSON.stringify(seen.url)}`)
  }

  for (const name of CLASS_NAMES) {
    const inClass = cases.filter((c) => c.name === name)
    const answered = inClass.filter((c) => (outcomes[c.index] as Outcome).responses.length > 0).length
    const statuses = inClass.flatMap((c) => (outcomes[c.index] as Outcome).responses.map((r) => r.status))
    const extra = inClass.reduce((n, c) => n + (outcomes[c.index] as Outcome).extra, 0)
    t.diagnostic(`${name}: ${inClass.length} cases, ${answered} answered, statuses ${tally(statuses)}${name === 'smuggling' ? `, ${extra} second answers (pipelined, not smuggled)` : ''}`)
  }
  const log = stack.cloakroom.output()
  const unreadable = log.split('\n').filter((line) => line.includes('"unreadable request"')).length
  t.diagnostic(`${cases.length} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; ${reached} requests reached the upstream; ${unreadable} unreadable requests logged`)

  const health = await fetch(`${stack.cloakroom.url}/healthz`)
  assert.equal(health.status, 200, 'the process is alive')
  assert.doesNotMatch(log, /unhandled error/)
  const kinds = failures.reduce((m, f) => {
    const kind = f.replace(/^#\d+ /, '').replace(/ — sent .*$/s, '').replace(/"[^"]*"|\d+/g, '…')
    return m.set(kind, (m.get(kind) ?? 0) + 1)
  }, new Map<string, number>())
  for (const [kind, n] of kinds) t.diagnostic(`failure: ${kind} ×${n}`)
  assert.deepEqual(failures.slice(0, 30), [], `${failures.length} failures`)
})

test('a request with a 20 KB Cookie header gets 431 with Connection: close', async () => {
  const port = Number(new URL(stack.cloakroom.url).port)
  const b = new Builder(1_000_000, { host, cookie })
  const c = b.done('huge', [b.request({ target: '/public/x', headers: [`Cookie: big=${'c'.repeat(20 * 1024)}`] })])
  const { responses, failure } = await runCase(port, c)
  assert.equal(failure, undefined)
  assert.equal(responses[0]?.status, 431)
  assert.equal(responses[0]?.headers.get('connection'), 'close')
  assert.equal(responses[0]?.headers.get('content-type'), 'application/problem+json')
  assert.deepEqual(JSON.parse(responses[0]?.body ?? ''), { type: 'about:blank', title: 'Request Header Fields Too Large', status: 431, code: 'bad_request' })
})

test('CONNECT, which Cloakroom does not serve, is answered rather than dropped', async () => {
  const port = Number(new URL(stack.cloakroom.url).port)
  for (const authority of ['evil.example:443', `${host}`, '127.0.0.1:22']) {
    const b = new Builder(2_000_000, { host, cookie })
    const c = b.done('methods', [b.request({ method: 'CONNECT', target: authority })])
    const { responses, failure } = await runCase(port, c)
    assert.equal(failure, undefined, `CONNECT ${authority}`)
    assert.equal(responses[0]?.status, 400)
    assert.equal(responses[0]?.headers.get('connection'), 'close')
  }
})
