import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createConnection } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from 'redis'
import { startStack, type Stack } from './fixtures/stack.ts'
import { startCloakroom, type CloakroomProcess } from './fixtures/cloakroom.ts'

const CSRF = { 'x-csrf': '1' }
/**
 * Access tokens live 9 s and are refreshed in their last 3 s: 6.2 s after a login or refresh the token
 * is due, and not before (long enough for the drain, the Redis check and a successor's startup).
 */
const DUE_AFTER_MS = 6200
const DUE_SESSIONS = 5
const CALLS_PER_DUE_SESSION = 8
const FRESH_CALLS = 10
/** How long the echo upstream holds each answer: the requests are still in flight when SIGTERM lands. */
const UPSTREAM_DELAY_MS = 500

let stack: Stack
let successor: CloakroomProcess | undefined
before(async () => { stack = await startStack({ accessTokenTtl: 9, config: { tokens: { refreshBefore: '3s' } } }) })
after(async () => {
  await successor?.stop()
  await stack.stop()
})

const cookieOf = (client: Awaited<ReturnType<Stack['login']>>['client']) => `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`

interface Outcome { readonly path: string; readonly status: number | string; readonly complete: boolean; readonly bearer: string; readonly ms: number }

/** One API call; `complete` when the body is all its Content-Length promised and is the echo of this very request. */
async function call(base: string, cookie: string, path: string): Promise<Outcome> {
  const started = Date.now()
  try {
    // Bounded, so a request the drain drops or forgets is a failure with a name, not a stuck suite.
    const response = await fetch(`${base}${path}`, { headers: { ...CSRF, cookie }, signal: AbortSignal.timeout(15_000) })
    const body = Buffer.from(await response.arrayBuffer())
    let complete = false
    let bearer = ''
    if (response.status === 200) {
      const seen = JSON.parse(body.toString()) as { url: string; headers: Record<string, string> }
      complete = String(body.length) === response.headers.get('content-length') && seen.url === path
      bearer = seen.headers['authorization'] ?? ''
    }
    return { path, status: response.status, complete, bearer, ms: Date.now() - started }
  } catch (error) {
    return { path, status: `failed: ${(error as Error).message} ${String((error as { cause?: { code?: string } }).cause?.code ?? '')}`, complete: false, bearer: '', ms: Date.now() - started }
  }
}

/** Resolves with how a fresh TCP connection to `port` went: 'refused', or 'accepted'. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve('accepted') })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED' ? 'refused' : `error ${error.code}`))
  })
}

const tally = (outcomes: readonly Outcome[]) => {
  const counts = new Map<string, number>()
  for (const { status, complete } of outcomes) counts.set(`${status}${complete ? ' complete' : ''}`, (counts.get(`${status}${complete ? ' complete' : ''}`) ?? 0) + 1)
  return [...counts].map(([key, count]) => `${count}× ${key}`).join(', ')
}

describe('SIGTERM under load', () => {
  test(`${DUE_SESSIONS * CALLS_PER_DUE_SESSION + FRESH_CALLS} requests in flight (refreshes among them): all finish 200 with their full body, exit 0, then connections are refused, and every session record survives intact`, async (t) => {
    const dueClients = []
    for (let i = 0; i < DUE_SESSIONS; i++) dueClients.push((await stack.login()).client)
    const due = dueClients.map(cookieOf)
    const bearersBefore = await Promise.all(due.map(async (cookie) => (await call(stack.cloakroom.url, cookie, '/api/before')).bearer))
    await sleep(DUE_AFTER_MS)
    const fresh = cookieOf((await stack.login()).client)

    // Every due session refreshes first; the IdP rotates its refresh token, then holds its answer for 300 ms.
    stack.idp.setTokenDelay(300, 'after')
    const refreshesBefore = stack.idp.grants['refresh_token'] ?? 0
    const { port } = new URL(stack.cloakroom.url)
    const calls = [
      ...due.flatMap((cookie, s) => Array.from({ length: CALLS_PER_DUE_SESSION }, (_, i) => call(stack.cloakroom.url, cookie, `/api/due/${s}/${i}?delay=${UPSTREAM_DELAY_MS}`))),
      ...Array.from({ length: FRESH_CALLS }, (_, i) => call(stack.cloakroom.url, fresh, `/api/fresh/${i}?delay=${UPSTREAM_DELAY_MS}`)),
    ]
    // SIGTERM once every due session's refresh grant is done at the IdP (its answer still held back)
    // and the fresh session's calls sit at the upstream: everything is mid-flight.
    const waitStart = Date.now()
    while ((stack.idp.grants['refresh_token'] ?? 0) < refreshesBefore + DUE_SESSIONS || stack.upstream.seen.filter((s) => s.url.startsWith('/api/fresh/')).length < FRESH_CALLS) {
      assert.ok(Date.now() - waitStart < 5000, 'the burst reached the IdP and the upstream')
      await sleep(5)
    }
    const atSigterm = { atUpstream: stack.upstream.seen.filter((s) => /^\/api\/(due|fresh)\//.test(s.url)).length }
    const sigtermAt = Date.now()
    // The drain is bounded at 10 s: no exit 15 s after SIGTERM is a failure, not a stuck suite.
    const exited = Promise.race([
      stack.cloakroom.stop().then((code) => ({ code, ms: Date.now() - sigtermAt })),
      sleep(15_000, { code: 'no exit within 15 s', ms: 15_000 }),
    ])
    await sleep(100)
    const duringDrain = await connectOutcome(Number(port))
    const outcomes = await Promise.all(calls)
    const { code, ms: exitMs } = await exited
    stack.idp.setTokenDelay(0)
    const afterExit = await connectOutcome(Number(port))
    const refreshes = (stack.idp.grants['refresh_token'] ?? 0) - refreshesBefore

    t.diagnostic(`in flight at SIGTERM: ${calls.length} (${atSigterm.atUpstream} at the upstream, the rest waiting on ${DUE_SESSIONS} refreshes); refresh grants at the IdP: ${refreshes}`)
    t.diagnostic(`outcomes: ${tally(outcomes)}; slowest ${Math.max(...outcomes.map((o) => o.ms))} ms`)
    t.diagnostic(`exit code ${code} ${exitMs} ms after SIGTERM; a new connection while draining: ${duringDrain}; after exit: ${afterExit}`)

    assert.deepEqual(outcomes.filter((o) => o.status !== 200 || !o.complete), [], 'every in-flight request completed with 200 and its full body')
    assert.equal(code, 0)
    assert.equal(duringDrain, 'refused', 'no new connection is accepted while draining')
    assert.equal(afterExit, 'refused')
    assert.equal(refreshes, DUE_SESSIONS, 'exactly one refresh grant per due session')
    const dueBearers = due.map((_, s) => new Set(outcomes.filter((o) => o.path.startsWith(`/api/due/${s}/`)).map((o) => o.bearer)))
    assert.ok(dueBearers.every((set, s) => set.size === 1 && !set.has(bearersBefore[s] ?? '')), 'each due session used one new token for all its calls')

    // Redis: every key expires, every session record has its full shape.
    const redis = createClient({ url: stack.redis.url })
    await redis.connect()
    const shapes: string[] = []
    try {
      for (const key of await redis.keys('*')) {
        const ttl = await redis.pTTL(key)
        assert.ok(ttl > 0, `${key} has a TTL (${ttl})`)
        if (!key.includes(':session:')) continue
        const fields = await redis.hGetAll(key)
        shapes.push(Object.keys(fields).sort().join('+'))
        assert.ok(/^\d+$/.test(fields['version'] ?? '') && (fields['data'] ?? '').length > 0, `${key} is a whole record`)
      }
    } finally {
      await redis.quit()
    }
    t.diagnostic(`session records in Redis: ${shapes.length} (${[...new Set(shapes)].join(', ')})`)
    assert.ok(shapes.length >= DUE_SESSIONS + 1)

    // A new instance on the same Redis opens every session, with the token the drained instance stored...
    successor = await startCloakroom({ ...stack.config, listen: stack.config['listen'] as { port: number }, publicUrl: String(stack.config['publicUrl']) })
    // (On a slow machine the successor may start after those tokens fell due: then it refreshes them
    // with the stored refresh tokens, which proves the same; the IdP's grant count tells which.)
    const grantsBeforeReopen = stack.idp.grants['refresh_token'] ?? 0
    const reopened = await Promise.all([...due, fresh].map((cookie) => call(successor?.url ?? '', cookie, '/api/after-restart')))
    const reopenGrants = (stack.idp.grants['refresh_token'] ?? 0) - grantsBeforeReopen
    const freshBearers = new Set(outcomes.filter((o) => o.path.startsWith('/api/fresh/')).map((o) => o.bearer))
    const storedBearers = [...dueBearers, freshBearers]
    const kinds = reopened.map((o, s) => (o.bearer === bearersBefore[s] ? 'pre-burst token' : storedBearers[s]?.has(o.bearer) === true ? 'stored token' : 'newly refreshed'))
    t.diagnostic(`successor ${Date.now() - sigtermAt} ms after SIGTERM: the ${kinds.length} sessions used ${[...new Set(kinds)].map((k) => `${kinds.filter((x) => x === k).length}× ${k}`).join(', ')}; refresh grants ${reopenGrants}`)
    assert.deepEqual(reopened.map((o) => o.status), Array(DUE_SESSIONS + 1).fill(200))
    assert.equal(kinds.filter((k) => k === 'pre-burst token').length, 0, 'no session fell back to its token from before the burst (a lost write)')
    assert.equal(kinds.filter((k) => k === 'newly refreshed').length, reopenGrants, 'every token the successor did not find stored came from exactly one refresh grant')
    // ...and the rotated refresh token was stored too: the next refresh of every session succeeds.
    await sleep(DUE_AFTER_MS)
    const refreshedAgain = await Promise.all(due.map((cookie) => call(successor?.url ?? '', cookie, '/api/after-second-refresh')))
    t.diagnostic(`successor on the same Redis: ${tally(reopened)}; after the next refresh: ${tally(refreshedAgain)}`)
    assert.deepEqual(refreshedAgain.map((o) => o.status), Array(DUE_SESSIONS).fill(200))
    assert.ok(refreshedAgain.every((o, s) => !dueBearers[s]?.has(o.bearer)), 'each session got a newer token from its stored refresh token')
  })
})
