import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { startRedisCluster } from './fixtures/redis-cluster.ts'
import { redisCli } from './fixtures/redis-server.ts'
import { startRedisSentinel } from './fixtures/redis-sentinel.ts'
import { startStack, type Stack } from './fixtures/stack.ts'

// A Redis master dies (SIGKILL) while three Cloakroom instances serve API calls for logged-in
// users; Redis fails over to a replica by itself (Cluster: the replica's election; Sentinel: the
// sentinels' vote). What a user sees: 200, or for a few seconds SPEC's 503 `store_unavailable`,
// then 200 again with the same session, from every instance, without restarting anything.

const CSRF = { 'x-csrf': '1' }
const SESSIONS = 9
/** Cloakroom's bound on one store call (commandTimeoutMs, default 2000). */
const STORE_DEADLINE_MS = 2000
/**
 * The slowest answer allowed: a request makes at most two store calls one after the other (read the
 * session, slide its idle timeout), each cut off at the store deadline, plus a second of a busy machine.
 */
const SLOWEST_ANSWER_MS = 2 * STORE_DEADLINE_MS + 1000
/** A call that has not answered after this counts as a hang. */
const HANG_MS = 10_000
/**
 * From the kill to the last 503. Redis fails over in ~2-3 s here (node timeout / down-after 1 s,
 * then the replica's or the sentinels' election). node-redis follows later: a cluster client
 * refreshes its slots only once a node has been reconnecting for 5 s (its default
 * topologyRefreshOnReconnectionAttemptStrategy), and reconnect attempts are up to 2 s apart
 * (Cloakroom's strategy), so ~5.5 s; a sentinel client asks the sentinels again every second
 * while they flag the master down, and a call waits for that (up to the 2 s store deadline)
 * instead of failing at once, so ~4.5 s. 20 s leaves room for a missed refresh on a loaded
 * two-core machine, and still fails a client that never recovers without a restart.
 */
const RECOVERY_BOUND_MS = 20_000
/** Recovered: no error for this long, and every session answered 200 on every instance since. */
const QUIET_MS = 2000

interface Sample {
  readonly session: number
  readonly instance: number
  readonly started: number
  readonly ended: number
  /** The HTTP status, 'reset' when the call failed without a response, 'hang' past HANG_MS. */
  readonly status: number | 'reset' | 'hang'
  readonly code?: string
  readonly contentType?: string | null
  readonly retryAfter?: string | null
  /** What the upstream saw as Authorization (200 only). */
  readonly bearer?: string
  readonly setCookie: readonly string[]
}

interface User { readonly cookie: string; readonly bearer: string }

async function call(stack: Stack, user: Pick<User, 'cookie'>, session: number, instance: number, path: string): Promise<Sample> {
  const started = Date.now()
  const url = `${stack.instances[instance]?.url}${path}`
  try {
    const response = await fetch(url, { headers: { ...CSRF, cookie: user.cookie }, signal: AbortSignal.timeout(HANG_MS) })
    const text = await response.text()
    const base = {
      session, instance, started, ended: Date.now(), status: response.status,
      contentType: response.headers.get('content-type'), retryAfter: response.headers.get('retry-after'), setCookie: response.headers.getSetCookie(),
    }
    if (response.status === 200) return { ...base, bearer: (JSON.parse(text) as { headers: Record<string, string> }).headers['authorization'] ?? '' }
    return { ...base, code: (JSON.parse(text) as { code?: string }).code ?? '' }
  } catch (error) {
    const hang = error instanceof Error && error.name === 'TimeoutError'
    return { session, instance, started, ended: Date.now(), status: hang ? 'hang' : 'reset', setCookie: [] }
  }
}

/**
 * Logs `count` browsers in (through the first instance) and reads each one's Bearer token through
 * the API; `afterEach` runs after each login, before the next starts.
 */
async function loginUsers(stack: Stack, count: number, afterEach: (i: number) => Promise<void> = async () => {}): Promise<User[]> {
  const users: User[] = []
  for (let i = 0; i < count; i++) {
    const { client } = await stack.login()
    const value = client.cookies(stack.cloakroom.url).get('cloakroom')
    assert.ok(value !== undefined, 'logged in')
    const cookie = `cloakroom=${value}`
    const first = await call(stack, { cookie }, i, i % stack.instances.length, '/api/before')
    assert.equal(first.status, 200)
    users.push({ cookie, bearer: first.bearer ?? '' })
    await afterEach(i)
  }
  return users
}

/** One client per user, calling the API back to back, each call on the next instance in turn, until `stop()`. */
function traffic(stack: Stack, users: readonly User[]): { samples: Sample[]; stop(): Promise<Sample[]> } {
  const samples: Sample[] = []
  let running = true
  let n = 0
  const loops = users.map(async (user, session) => {
    for (let instance = session % stack.instances.length; running; instance = (instance + 1) % stack.instances.length) {
      samples.push(await call(stack, user, session, instance, `/api/failover/${n++}`))
      await sleep(40)
    }
  })
  return {
    samples,
    async stop() {
      running = false
      await Promise.all(loops)
      return samples.sort((a, b) => a.started - b.started)
    },
  }
}

const failed = (sample: Sample): boolean => sample.status !== 200

/**
 * Waits until `failedOver()` says Redis has a new master and the calls say Cloakroom has caught
 * up: nothing but 200 for QUIET_MS, and every session answered 200 on every instance meanwhile.
 * Gives up RECOVERY_BOUND_MS + QUIET_MS after the kill.
 */
async function waitForRecovery(samples: readonly Sample[], users: number, instances: number, killedAt: number, failedOver: () => Promise<boolean>): Promise<number | undefined> {
  let redisDone: number | undefined
  while (Date.now() - killedAt < RECOVERY_BOUND_MS + QUIET_MS + 1000) {
    await sleep(100)
    if (redisDone === undefined && await failedOver().catch(() => false)) redisDone = Date.now()
    if (redisDone === undefined) continue
    const lastFailure = Math.max(killedAt, ...samples.filter(failed).map((s) => s.ended))
    if (Date.now() - lastFailure < QUIET_MS) continue
    const fine = new Set(samples.filter((s) => s.started > lastFailure && s.status === 200).map((s) => `${s.session}/${s.instance}`))
    if (fine.size === users * instances) return redisDone
  }
  return undefined
}

function tally(samples: readonly Sample[]): string {
  const counts = new Map<string, number>()
  for (const { status, code } of samples) {
    const key = code === undefined ? String(status) : `${status} ${code}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].map(([key, count]) => `${count}× ${key}`).join(', ') || 'none'
}

/** First error's start to last error's end, relative to the kill: the window users saw errors in. */
function windowOf(samples: readonly Sample[], killedAt: number): { from: number; to: number; length: number } | undefined {
  const errors = samples.filter(failed)
  if (errors.length === 0) return undefined
  const from = Math.min(...errors.map((s) => s.started)) - killedAt
  const to = Math.max(...errors.map((s) => s.ended)) - killedAt
  return { from, to, length: to - from }
}

const describeWindow = (w: ReturnType<typeof windowOf>): string =>
  w === undefined ? 'no error' : `${w.length} ms of 503 (from ${w.from} to ${w.to} ms after the kill)`

/** The causes the instances logged for store_unavailable since `since`, numbers and addresses blurred, with counts. */
function storeCauses(stack: Stack, since: number): Map<string, number> {
  const causes = new Map<string, number>()
  for (const instance of stack.instances) {
    for (const line of instance.output().split('\n')) {
      if (!line.includes('store_unavailable')) continue
      let entry: { time?: number; cause?: string }
      try {
        entry = JSON.parse(line) as typeof entry
      } catch {
        continue
      }
      if ((entry.time ?? 0) < since || entry.cause === undefined) continue
      const cause = entry.cause.replace(/\d+/g, 'N')
      causes.set(cause, (causes.get(cause) ?? 0) + 1)
    }
  }
  return causes
}

/** Prints the outcome, then asserts what a user may see during and after a failover. */
async function judge(t: TestContext, stack: Stack, users: readonly User[], samples: readonly Sample[], timeline: {
  readonly topology: string
  readonly killedAt: number
  readonly redisFailedOverAt: number | undefined
  /** Sessions whose keys lived on the killed master (all for Sentinel). */
  readonly affected: ReadonlySet<number>
}): Promise<void> {
  const { killedAt, affected } = timeline
  const window = windowOf(samples, killedAt)
  const after = samples.filter((s) => s.started > killedAt)
  const slowest = Math.max(...after.map((s) => s.ended - s.started))
  t.diagnostic(`${timeline.topology}: ${samples.length} calls from ${users.length} sessions over ${stack.instances.length} instances: ${tally(samples)}`)
  t.diagnostic(`  Redis named a new master ${timeline.redisFailedOverAt === undefined ? 'never (within the bound)' : `${timeline.redisFailedOverAt - killedAt} ms`} after the kill (as polled every 100 ms)`)
  t.diagnostic(`  window: ${describeWindow(window)}; slowest answer after the kill ${slowest} ms`)
  for (let instance = 0; instance < stack.instances.length; instance++) {
    t.diagnostic(`  instance ${instance}: ${describeWindow(windowOf(samples.filter((s) => s.instance === instance), killedAt))}; ${tally(after.filter((s) => s.instance === instance))}`)
  }
  t.diagnostic(`  sessions on the killed master: ${[...affected].sort((a, b) => a - b).join(', ')}: ${describeWindow(windowOf(samples.filter((s) => affected.has(s.session)), killedAt))}`)
  if (affected.size < users.length) t.diagnostic(`  sessions on the other masters: ${describeWindow(windowOf(samples.filter((s) => !affected.has(s.session)), killedAt))}`)
  for (const [cause, count] of storeCauses(stack, killedAt)) t.diagnostic(`  logged cause ×${count}: ${cause}`)
  const retryAfter = [...new Set(samples.filter((s) => s.status === 503).map((s) => s.retryAfter ?? '(none)'))]
  t.diagnostic(`  Retry-After on the 503s: ${retryAfter.join(', ') || '-'}`)

  assert.ok(samples.filter((s) => s.ended < killedAt).length > 0, 'traffic before the kill')
  assert.deepEqual(samples.filter((s) => s.ended < killedAt && s.status !== 200), [], 'all 200 before the kill')
  assert.deepEqual(samples.filter((s) => s.status !== 200 && s.status !== 503), [], 'nothing but 200 and 503: no 500, no 401, no reset, no hang')
  for (const sample of samples.filter((s) => s.status === 503)) {
    assert.equal(sample.code, 'store_unavailable')
    assert.equal(sample.contentType, 'application/problem+json')
  }
  assert.ok(slowest <= SLOWEST_ANSWER_MS, `every call answered within ${SLOWEST_ANSWER_MS} ms (slowest ${slowest} ms)`)
  assert.deepEqual(samples.flatMap((s) => s.setCookie), [], 'a failover never clears or replaces a session cookie')
  // Redis Cluster (cluster-require-full-coverage yes, the default) answers CLUSTERDOWN for every
  // slot from when the dead master is marked FAIL until its replica is promoted: sessions on the
  // other masters see 503 for that stretch, but not after Redis is whole again.
  const othersLast = Math.max(-Infinity, ...samples.filter((s) => failed(s) && !affected.has(s.session)).map((s) => s.ended))
  if (timeline.redisFailedOverAt !== undefined) {
    assert.ok(othersLast <= timeline.redisFailedOverAt + 2000, `sessions on the surviving masters fail only until Redis has failed over (last ${othersLast - killedAt} ms after the kill)`)
  }

  assert.ok(timeline.redisFailedOverAt !== undefined, 'Redis failed over')
  assert.ok(window === undefined || window.to <= RECOVERY_BOUND_MS, `the 503s end within ${RECOVERY_BOUND_MS} ms of the kill (last ${window?.to} ms)`)
  // Sessions intact: every session created before the kill, on every instance, with the very
  // tokens it had (the upstream sees the same Bearer): nobody had to log in again.
  for (const [session, user] of users.entries()) {
    for (let instance = 0; instance < stack.instances.length; instance++) {
      const sample = await call(stack, user, session, instance, '/api/after')
      assert.equal(sample.status, 200, `session ${session} on instance ${instance} after the failover`)
      assert.equal(sample.bearer, user.bearer, `session ${session} keeps its tokens`)
    }
  }
  assert.ok(samples.filter((s) => s.status === 200).every((s) => s.bearer === users[s.session]?.bearer), 'every 200 carried the session\'s own token')
}

const port = (url: string): string => new URL(url).port

test('Redis Cluster: a master killed under traffic; its replica takes over and every session works again, with no restart', async (t) => {
  const cluster = await startRedisCluster({ replicasPerMaster: 1, nodeTimeoutMs: 1000 })
  let stack: Stack | undefined
  t.after(async () => { await stack?.stop(); await cluster.stop() })
  stack = await startStack({ instances: 3, logLevel: 'info', config: { store: { type: 'redis-cluster', nodes: cluster.nodes } } })

  // Which master holds each session: the one where a new session key appeared after its login.
  const sessionKeys = (url: string): Promise<string[]> => redisCli(['-p', port(url), '--raw', 'KEYS', 'cloakroom:session:*']).then((out) => out.split('\n').filter(Boolean))
  const masterOf: string[] = []
  const known = new Set<string>()
  const users = await loginUsers(stack, SESSIONS, async (i) => {
    for (const url of cluster.nodes) {
      const fresh = (await sessionKeys(url)).filter((key) => !known.has(key))
      fresh.forEach((key) => known.add(key))
      if (fresh.length > 0) masterOf[i] = url
    }
  })
  assert.equal(known.size, SESSIONS, 'one session key per login')
  // Every session written to its master's replica before that master dies.
  await cluster.waitForReplicas()
  // The master holding the most sessions dies.
  const perMaster = cluster.nodes.map((url) => masterOf.filter((at) => at === url).length)
  const victim = cluster.nodes[perMaster.indexOf(Math.max(...perMaster))] ?? ''
  const affected = new Set([...users.keys()].filter((i) => masterOf[i] === victim))
  const victimSlot = (await redisCli(['-p', port(victim), '--raw', 'CLUSTER', 'KEYSLOT', (await sessionKeys(victim))[0] ?? ''])).trim()
  t.diagnostic(`sessions per master: ${perMaster.join('/')}; killing ${victim}`)
  assert.ok(affected.size > 0, 'some sessions live on the master that dies')

  const survivor = cluster.nodes.find((url) => url !== victim) ?? ''
  const load = traffic(stack, users)
  await sleep(1000)
  const killedAt = Date.now()
  await cluster.kill(victim)
  const replicaOfVictim = async (): Promise<boolean> => {
    // Failed over: a live, connected master other than the victim serves the slot of a session the victim held.
    const nodes = await redisCli(['-p', port(survivor), 'CLUSTER', 'NODES'])
    const slot = Number(victimSlot)
    return nodes.split('\n').some((line) => {
      const [, address = '', flags = '', , , , , link = '', ...ranges] = line.trim().split(' ')
      if (!flags.split(',').includes('master') || flags.includes('fail') || address.startsWith(`127.0.0.1:${port(victim)}@`) || link !== 'connected') return false
      return ranges.some((range) => {
        const [from = -1, to = from] = range.split('-').map(Number)
        return slot >= from && slot <= to
      })
    })
  }
  const redisFailedOverAt = await waitForRecovery(load.samples, users.length, stack.instances.length, killedAt, replicaOfVictim)
  await sleep(500)
  const samples = await load.stop()

  await judge(t, stack, users, samples, { topology: 'Redis Cluster, 3 masters + 3 replicas, node timeout 1 s', killedAt, redisFailedOverAt, affected })
})

test('Redis Sentinel: the primary killed under traffic; the sentinels promote its replica and every session works again, with no restart', async (t) => {
  const sentinel = await startRedisSentinel({ replicas: 1, sentinels: 3, downAfterMs: 1000, failoverTimeoutMs: 3000 })
  let stack: Stack | undefined
  t.after(async () => { await stack?.stop(); await sentinel.stop() })
  stack = await startStack({ instances: 3, logLevel: 'info', config: { store: { type: 'redis-sentinel', sentinels: sentinel.sentinels, masterName: sentinel.masterName } } })

  const users = await loginUsers(stack, SESSIONS)
  await sentinel.waitForReplicas()
  const load = traffic(stack, users)
  await sleep(1000)
  const killedAt = Date.now()
  await sentinel.kill(sentinel.master)
  const promoted = async (): Promise<boolean> => (await sentinel.currentMaster()) !== sentinel.master
  const redisFailedOverAt = await waitForRecovery(load.samples, users.length, stack.instances.length, killedAt, promoted)
  await sleep(500)
  const samples = await load.stop()
  t.diagnostic(`master ${sentinel.master} killed; sentinels now name ${await sentinel.currentMaster()}`)

  // One master holds every session.
  await judge(t, stack, users, samples, { topology: 'Redis Sentinel, primary + 1 replica, 3 sentinels, down-after 1 s', killedAt, redisFailedOverAt, affected: new Set(users.keys()) })
})
