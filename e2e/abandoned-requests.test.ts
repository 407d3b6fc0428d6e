import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, type Stack } from './fixtures/stack.ts'
import { webSocketHandshake } from './fixtures/websocket.ts'

/** Access tokens live 6 s and are refreshed in their last 3 s: after 3.2 s the session's token is due. */
const TOKEN_TTL = 6
const DUE_AFTER_MS = 3200
/** Past the 64 requests in flight a session may have (SPEC "API routes"). */
const ABANDONED = 70

let stack: Stack
before(async () => {
  stack = await startStack({ accessTokenTtl: TOKEN_TTL, config: { tokens: { refreshBefore: '3s' }, timeouts: { idp: '5s' } } })
})
after(async () => {
  stack.idp.setTokenDelay(0)
  await stack.stop()
})

/** A request the browser gives up on after `ms` (a tab closed, a fetch aborted): its connection is destroyed. */
function abandon(path: string, headers: Record<string, string>, ms: number): Promise<void> {
  const { hostname, port } = new URL(stack.cloakroom.url)
  return new Promise((resolve) => {
    const req = httpRequest({ host: hostname, port, path, headers, agent: false })
    req.on('error', () => resolve())
    req.on('close', () => resolve())
    req.end()
    setTimeout(() => req.destroy(), ms)
  })
}

/** A new session (each test its own: what one leaves counted must not show in another). */
async function login(): Promise<string> {
  const { client } = await stack.login()
  return `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
}

/**
 * Lets the session's token come due, holds the IdP's token endpoint, and sends ABANDONED requests
 * built by `headers`, each given up on while it waits for the refresh; then lets the refresh finish.
 */
async function abandonDuringRefresh(path: string, headers: () => Record<string, string>): Promise<void> {
  await sleep(DUE_AFTER_MS)
  stack.idp.setTokenDelay(1500, 'before')
  const grants = stack.idp.grants['refresh_token'] ?? 0
  await Promise.all(Array.from({ length: ABANDONED }, (_, i) => abandon(`${path}/${i}`, headers(), 300)))
  stack.idp.setTokenDelay(0)
  // The refresh completes after the browsers left; then each abandoned request goes on.
  await sleep(2500)
  assert.equal((stack.idp.grants['refresh_token'] ?? 0) - grants, 1, 'the abandoned requests waited for one refresh')
}

async function sessionStillServes(cookie: string): Promise<void> {
  const after = await Promise.all(Array.from({ length: 10 }, (_, i) => fetch(`${stack.cloakroom.url}/api/after/${i}`, { headers: { 'x-csrf': '1', cookie } })))
  assert.deepEqual(after.map((response) => response.status), Array(10).fill(200), 'the session is not left at its in-flight limit')
}

test(`${ABANDONED} calls abandoned while their session's refresh waits at the IdP are not forwarded and do not stay counted in flight`, async () => {
  const cookie = await login()
  const seen = stack.upstream.seen.length
  await abandonDuringRefresh('/api/abandoned', () => ({ 'x-csrf': '1', cookie }))
  assert.equal(stack.upstream.seen.length - seen, 0, 'nothing was forwarded for a browser that had gone')
  const logged = stack.cloakroom.output().split('\n').filter((line) => line.includes('"path":"/api/abandoned/'))
  assert.equal(logged.length, ABANDONED, 'each is logged once')
  assert.ok(logged.every((line) => line.includes('"status":499')), 'as 499, not as an answer nobody got')
  await sessionStillServes(cookie)
})

test(`${ABANDONED} WebSocket upgrades abandoned the same way do not stay counted in flight either`, async () => {
  const cookie = await login()
  // Upgrades like these are accepted when nobody gives up on them.
  const accepted = await webSocketHandshake(stack.cloakroom.url, '/api/ws-check', { origin: stack.cloakroom.url, cookie })
  assert.equal(accepted.status, 101)
  accepted.socket?.destroy()
  await abandonDuringRefresh('/api/abandoned-ws', () => ({
    connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'),
    origin: stack.cloakroom.url, cookie,
  }))
  await sessionStillServes(cookie)
})
