/**
 * A refresh storm: 1,000 sessions whose access tokens are all due at once, three instances, three
 * concurrent calls per session (one to each instance). Asserts exactly one refresh grant per session,
 * counted at the IdP, every call 200, and every upstream request carrying its session's new token;
 * reports the storm's wall time, requests/s, latency and where the CPU went (t.diagnostic).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { IdpOptions } from '../demo/idp.ts'
import { redisCli } from './fixtures/redis-server.ts'
import { startStack, type Stack } from './fixtures/stack.ts'

const CSRF = { 'x-csrf': '1' }
const SESSIONS = 1000
const INSTANCES = 3
const LOGIN_CONCURRENCY = 16
/** Requests in flight during the storm: a session's three go out together, so about a hundred sessions at a time. */
const IN_FLIGHT = 300
/**
 * Access tokens live 100 s and are refreshed in their last 94 s: each one is due 6 s after its login
 * (its first API call comes right after, well before), so all are due 6 s after the last login, and
 * none has expired by then (logins take well under 94 s).
 */
const TOKEN_TTL = 100
const REFRESH_BEFORE = 94
const DUE_AFTER_MS = (TOKEN_TTL - REFRESH_BEFORE) * 1000 + 1000

/** Runs `task(0…count-1)` with at most `concurrency` of them at a time, in order of their index. */
async function pool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++
      results[index] = await task(index)
    }
  }))
  return results
}

const cpuMs = ({ user, system }: NodeJS.CpuUsage) => (user + system) / 1000

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

/** CPU seconds (user + system) used so far by `pid`, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** The pids of this process's descendants whose command line contains `marker`. */
function descendants(marker: string): number[] {
  const parents = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      parents.set(Number(entry), Number(readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]))
    } catch { /* it exited meanwhile */ }
  }
  const isOurs = (pid: number): boolean => {
    for (let at = parents.get(pid); at !== undefined && at > 1; at = parents.get(at)) if (at === process.pid) return true
    return false
  }
  return [...parents.keys()].filter((pid) => isOurs(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker))
}

/** Calls so far of each Redis command (INFO commandstats), by name. */
async function redisCommands(stack: Stack): Promise<Record<string, number>> {
  const stats = await redisCli(['-p', String(stack.redis.port), 'INFO', 'commandstats'])
  return Object.fromEntries([...stats.matchAll(/^cmdstat_(\w+(?:\|\w+)?):calls=(\d+)/gm)].map(([, name = '', calls]) => [name, Number(calls)]))
}

interface Session { readonly cookie: string; readonly tokenBefore: string }
interface Answer { readonly session: number; readonly instance: number; readonly status: number; readonly startedMs: number; readonly ms: number; readonly body: string }

describe('a refresh storm: 1,000 sessions due at once over three instances', () => {
  let stack: Stack
  before(async () => {
    // startStack hands its idp options to startIdp as they are (its type names those other suites use).
    // Without unboundedStore the IdP would have forgotten most of the 1,000 grants before their refresh.
    const idp: NonNullable<Parameters<typeof startStack>[0]>['idp'] & Pick<IdpOptions, 'unboundedStore'> = { unboundedStore: true, rotateRefreshTokens: true }
    stack = await startStack({
      instances: INSTANCES,
      accessTokenTtl: TOKEN_TTL,
      // The echo upstream shares this process's event loop with the IdP: at the storm's peak it answers
      // seconds late, which the stack's 2 s upstream timeout would turn into 504s that say nothing of refresh.
      config: { tokens: { refreshBefore: `${REFRESH_BEFORE}s` }, login: { ratePerMinute: 1_000_000 }, timeouts: { upstream: '30s' } },
      idp,
      logLevel: 'warn',
    })
  })
  after(async () => { await stack.stop() })

  test('3,000 requests cost exactly 1,000 refresh grants at the IdP; every one is 200 and carries its session\'s new token', async (t) => {
    const loginStart = performance.now()
    const sessions = await pool(SESSIONS, LOGIN_CONCURRENCY, async (i): Promise<Session> => {
      const { client } = await stack.login()
      const cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
      // One call right after login, long before the token is due: the token every later call must not carry.
      const response = await fetch(`${stack.instances[i % INSTANCES]?.url}/api/before/${i}`, { headers: { ...CSRF, cookie } })
      assert.equal(response.status, 200, await response.clone().text())
      const { headers } = await response.json() as { headers: Record<string, string> }
      return { cookie, tokenBefore: headers['authorization'] ?? '' }
    })
    const loginSeconds = (performance.now() - loginStart) / 1000
    const lastLogin = performance.now()
    t.diagnostic(`logins: ${SESSIONS} in ${loginSeconds.toFixed(1)} s (${(SESSIONS / loginSeconds).toFixed(0)}/s, ${LOGIN_CONCURRENCY} at a time, each with one API call)`)
    assert.equal(new Set(sessions.map((s) => s.tokenBefore)).size, SESSIONS, 'every session has its own access token')
    assert.ok(sessions.every((s) => s.tokenBefore.startsWith('Bearer ')))
    assert.equal(stack.idp.grants['refresh_token'] ?? 0, 0, 'no token was due during the logins')
    assert.ok(loginSeconds < REFRESH_BEFORE - 5, `logins took ${loginSeconds.toFixed(1)} s: the first tokens would expire before the storm`)

    await sleep(Math.max(0, lastLogin + DUE_AFTER_MS - performance.now()))
    assert.equal(stack.idp.grants['refresh_token'] ?? 0, 0)

    // Open the upstream connections first, as steady traffic would have: 60 at a time per instance (an
    // address without a session may have 64 in flight) on a token: none route, so nothing is refreshed;
    // Cloakroom keeps up to 64 per target. Otherwise each instance opens some hundred at the storm's
    // start, and this process, its event loop saturated by the IdP, accepts some of them only ~10 s
    // later: that, not the refresh, would be the p99.
    const warmCpu = process.cpuUsage()
    await Promise.all(stack.instances.map((instance) => pool(240, 60, async (n) => {
      const response = await fetch(`${instance.url}/public/warm/${n}`)
      assert.equal(response.status, 200)
      await response.arrayBuffer()
    })))
    // This process's CPU for one call without a refresh (the client's fetch, the echo upstream's answer).
    const callCpuMs = cpuMs(process.cpuUsage(warmCpu)) / (INSTANCES * 240)
    const commandsBefore = await redisCommands(stack)
    const pids = { cloakroom: descendants('src/cli.ts'), redis: descendants('redis-server') }
    const cpuBefore = { test: process.cpuUsage(), cloakroom: pids.cloakroom.map(cpuSeconds), redis: pids.redis.map(cpuSeconds) }
    const loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
    const loopBefore = performance.eventLoopUtilization()
    const stormStart = performance.now()
    // Session-major order: a session's three requests (one per instance) are sent together.
    const answers = await pool(SESSIONS * INSTANCES, IN_FLIGHT, async (n): Promise<Answer> => {
      const session = Math.floor(n / INSTANCES)
      const instance = stack.instances[n % INSTANCES]
      const started = performance.now()
      const response = await fetch(`${instance?.url}/api/storm/${session}/${n % INSTANCES}`, { headers: { ...CSRF, cookie: sessions[session]?.cookie ?? '' } })
      const body = await response.text()
      return { session, instance: n % INSTANCES, status: response.status, startedMs: started - stormStart, ms: performance.now() - started, body }
    })
    const stormSeconds = (performance.now() - stormStart) / 1000
    loopDelay.disable()
    const loopBusy = performance.eventLoopUtilization(loopBefore).utilization
    const testCpu = process.cpuUsage(cpuBefore.test)
    const cloakroomCpu = pids.cloakroom.map((pid, i) => cpuSeconds(pid) - (cpuBefore.cloakroom[i] ?? 0))
    const redisCpu = pids.redis.reduce((sum, pid, i) => sum + cpuSeconds(pid) - (cpuBefore.redis[i] ?? 0), 0)
    const grants = stack.idp.grants['refresh_token'] ?? 0
    const commands = await redisCommands(stack)
    const commandsDuring = Object.entries(commands).map(([name, calls]) => [name, calls - (commandsBefore[name] ?? 0)] as const).filter(([, calls]) => calls > 0)

    const latencies = answers.map((a) => a.ms).sort((a, b) => a - b)
    const statuses = new Map<number, number>()
    for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1)
    t.diagnostic(`storm: ${answers.length} requests (${IN_FLIGHT} in flight) over ${INSTANCES} instances in ${stormSeconds.toFixed(2)} s = ${(answers.length / stormSeconds).toFixed(0)} requests/s; ` +
      `latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${percentile(latencies, 100).toFixed(0)} ms`)
    const slowest = [...answers].sort((a, b) => b.ms - a.ms).slice(0, 5)
    t.diagnostic(`slowest: ${slowest.map((a) => `session ${a.session} on instance ${a.instance}, sent at ${a.startedMs.toFixed(0)} ms, ${a.ms.toFixed(0)} ms`).join('; ')}`)
    t.diagnostic(`IdP: ${grants} refresh grants (${(grants / stormSeconds).toFixed(0)}/s), ${stack.idp.revokedGrants} grants revoked; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.diagnostic(`Redis commands during the storm: ${commandsDuring.map(([name, calls]) => `${name} ${calls}`).join(', ')}`)
    const idpCpuMs = (cpuMs(testCpu) - answers.length * callCpuMs) / grants
    t.diagnostic(`IdP: about ${idpCpuMs.toFixed(1)} ms of CPU per refresh grant (this process's CPU during the storm less ${callCpuMs.toFixed(2)} ms per call for the client and the echo upstream, ` +
      `as measured on the warm-up calls), so at most some ${(1000 / idpCpuMs).toFixed(0)} grants/s on a core of its own: it ran ${(grants / stormSeconds).toFixed(0)}/s`)
    t.diagnostic(`CPU during the storm (${availableParallelism()} cores, ${(availableParallelism() * stormSeconds).toFixed(1)} s available): test process (IdP, echo upstream, client) ${(cpuMs(testCpu) / 1000).toFixed(1)} s, ` +
      `Cloakroom ${cloakroomCpu.map((s) => s.toFixed(1)).join(' + ')} s, redis-server ${redisCpu.toFixed(1)} s; ` +
      `the test process's event loop busy ${(loopBusy * 100).toFixed(0)}% of the time, its delay p50 ${(loopDelay.percentile(50) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`)

    const failed = answers.filter((a) => a.status !== 200)
    assert.deepEqual(Object.fromEntries(statuses), { 200: SESSIONS * INSTANCES }, `first failures: ${JSON.stringify(failed.slice(0, 3))}\n${stack.instances.map((i) => i.output().slice(-2000)).join('\n')}`)
    assert.equal(grants, SESSIONS, 'one refresh grant per session, counted at the IdP')
    assert.equal(stack.idp.revokedGrants, 0, 'no refresh token was presented twice')

    // What the upstream itself recorded, not what came back through Cloakroom.
    const seen = stack.upstream.seen.filter((request) => request.url.startsWith('/api/storm/'))
    assert.equal(seen.length, SESSIONS * INSTANCES)
    const tokensOf = new Map<number, Set<string>>()
    for (const request of seen) {
      const session = Number(request.url.split('/')[3])
      const authorization = String(request.headers['authorization'])
      assert.notEqual(authorization, sessions[session]?.tokenBefore, `session ${session} sent a pre-refresh token`)
      tokensOf.set(session, (tokensOf.get(session) ?? new Set()).add(authorization))
    }
    assert.equal(tokensOf.size, SESSIONS)
    for (const [session, tokens] of tokensOf) assert.equal(tokens.size, 1, `session ${session}'s three requests carried ${tokens.size} tokens`)
    const refreshed = new Set([...tokensOf.values()].flatMap((tokens) => [...tokens]))
    assert.equal(refreshed.size, SESSIONS, 'every session got a token of its own')
    assert.ok([...refreshed].every((token) => token.startsWith('Bearer ')))
  })
})
