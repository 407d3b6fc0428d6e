import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack, type Stack } from './fixtures/stack.ts'
import { openEventStream } from './fixtures/event-stream.ts'
import { freePort } from './fixtures/free-port.ts'
import { webSocketHandshake } from './fixtures/websocket.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'
import { SESSION_SECRET, type CloakroomProcess } from './fixtures/cloakroom.ts'

// GET /auth/events over two instances on one Redis: a session's end, on whichever instance and by
// whatever path, reaches its streams everywhere within a second; expiry needs no request.

const CSRF = { 'x-csrf': '1' }
const ADMIN_TOKEN = 'e2e-admin-token-0123456789-0123456789'
let stack: Stack
let a: CloakroomProcess
let b: CloakroomProcess
let adminUrl: string
before(async () => {
  const adminPort = await freePort()
  adminUrl = `http://127.0.0.1:${adminPort}`
  stack = await startStack({
    instances: 2,
    config: { session: { secrets: [SESSION_SECRET], idleTimeout: '4s' }, login: { ratePerMinute: 1000 } },
    // The admin API on instance A only: an incident responder's call ends sessions served by B.
    perInstance: (index) => index === 0 ? { admin: { listen: { host: '127.0.0.1', port: adminPort }, token: ADMIN_TOKEN } } : {},
  })
  ;[a, b] = stack.instances as [CloakroomProcess, CloakroomProcess]
})
after(async () => { await stack.stop() })

const cookieOf = (client: CookieClient) => `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
const events = (instance: CloakroomProcess, cookie: string, headers: Record<string, string> = {}) =>
  openEventStream(`${instance.url}/auth/events`, { cookie, ...headers })

describe('GET /auth/events', () => {
  test('the first event gives the deadlines; a logout on the other instance reaches the stream within a second, as ended, and the stream closes', async () => {
    const cookie = cookieOf((await stack.login()).client)
    const stream = await events(b, cookie)
    assert.equal(stream.status, 200)
    const first = await stream.next('session')
    const user = await (await fetch(`${a.url}/auth/user`, { headers: { ...CSRF, cookie } })).json() as { session: { expiresAt: number; idleExpiresAt: number } }
    assert.deepEqual(first.data, { expiresAt: user.session.expiresAt, idleExpiresAt: user.session.idleExpiresAt })
    const sent = performance.now()
    assert.equal((await fetch(`${a.url}/auth/logout`, { method: 'POST', headers: { ...CSRF, cookie } })).status, 200)
    const ended = await stream.next('ended')
    assert.deepEqual(ended.data, { reason: 'logout' })
    console.log(`ended reached the stream on the other instance ${(ended.at - sent).toFixed(0)} ms after the logout was sent`)
    assert.ok(ended.at - sent < 1000)
    await stream.closed
  })

  test('a back-channel logout from the IdP reaches the stream on the other instance as ended: backchannel', async () => {
    const { client } = await stack.login()
    const stream = await events(b, cookieOf(client))
    await stream.next('session')
    const sent = performance.now()
    await stack.logoutAtIdp(client)
    const ended = await stream.next('ended')
    assert.deepEqual(ended.data, { reason: 'backchannel' })
    assert.ok(ended.at - sent < 1000)
  })

  test('an idle session is announced as expired with no request arriving, on every instance\'s stream (open streams do not keep it alive)', async () => {
    const cookie = cookieOf((await stack.login()).client)
    const [onA, onB] = await Promise.all([events(a, cookie), events(b, cookie)])
    const { data } = await onA.next('session') as { data: { idleExpiresAt: number } }
    const [endedA, endedB] = await Promise.all([onA.next('ended', 8000), onB.next('ended', 8000)])
    assert.deepEqual([endedA.data, endedB.data], [{ reason: 'expired' }, { reason: 'expired' }])
    console.log(`expired announced on both instances ${(Date.now() / 1000 - data.idleExpiresAt).toFixed(2)} s after the idle deadline, with two streams open and no request`)
    assert.ok(Date.now() / 1000 >= data.idleExpiresAt, 'not before the deadline')
    assert.equal((await fetch(`${b.url}/api/x`, { headers: { ...CSRF, cookie } })).status, 401)
  })

  test('activity on another instance that slides the idle deadline is told to the stream', async () => {
    const cookie = cookieOf((await stack.login()).client)
    const stream = await events(b, cookie)
    const first = await stream.next('session') as { data: { idleExpiresAt: number } }
    await new Promise((resolve) => setTimeout(resolve, 1100))
    assert.equal((await fetch(`${a.url}/api/x`, { headers: { ...CSRF, cookie } })).status, 200)
    const deadline = Date.now() + 3000
    while (stream.events.filter((e) => e.event === 'session').length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    const moved = stream.events.filter((e) => e.event === 'session').at(-1) as { data: { idleExpiresAt: number } }
    assert.ok(moved.data.idleExpiresAt > first.data.idleExpiresAt, `idle deadline ${first.data.idleExpiresAt} → ${moved.data.idleExpiresAt}`)
    stream.close()
  })

  test('no session is 401; a foreign Origin or a cross-site fetch is 403 origin_mismatch; past 32 streams 429', async () => {
    assert.equal((await events(a, 'cloakroom=nope')).status, 401)
    const cookie = cookieOf((await stack.login()).client)
    assert.equal((await events(a, cookie, { origin: 'https://evil.example' })).status, 403)
    assert.equal((await events(a, cookie, { 'sec-fetch-site': 'cross-site' })).status, 403)
    const streams = await Promise.all(Array.from({ length: 32 }, () => events(a, cookie)))
    assert.deepEqual(new Set(streams.map((s) => s.status)), new Set([200]))
    const refused = await fetch(`${a.url}/auth/events`, { headers: { cookie } })
    assert.equal(refused.status, 429)
    assert.equal((await refused.json() as { code: string }).code, 'rate_limited')
    for (const stream of streams) stream.close()
  })
})

/** Logs a fresh account in, twice if asked (two browsers of one user): its sessions are its own. */
async function loginTwice(account: string): Promise<[string, string]> {
  stack.idp.setUser(account)
  try {
    return [cookieOf((await stack.login()).client), cookieOf((await stack.login()).client)]
  } finally {
    stack.idp.setUser('alice')
  }
}

describe('session management', () => {
  test('GET /auth/sessions lists the subject\'s sessions from every instance; DELETE ends another one, whose stream hears revoked', async () => {
    const [mine, other] = await loginTwice(`list-${Date.now()}`)
    const sidOf = async (cookie: string) => ((await (await fetch(`${a.url}/auth/user`, { headers: { ...CSRF, cookie } })).json()) as { session: { sid: string } }).session.sid
    const [mySid, otherSid] = [await sidOf(mine), await sidOf(other)]
    const listed = await (await fetch(`${b.url}/auth/sessions`, { headers: { ...CSRF, cookie: mine } })).json() as { sessions: Array<{ sid: string; current: boolean; userAgent: string | null; createdAt: number; lastSeenAt: number; expiresAt: number }> }
    assert.deepEqual(listed.sessions.map((s) => [s.sid, s.current]).sort(), [[mySid, true], [otherSid, false]].sort())
    for (const s of listed.sessions) {
      assert.ok(s.createdAt <= s.lastSeenAt && s.lastSeenAt < s.expiresAt)
      assert.equal(typeof s.userAgent, 'string')
    }
    const stream = await events(b, other)
    await stream.next('session')
    assert.equal((await fetch(`${a.url}/auth/sessions/${otherSid}`, { method: 'DELETE', headers: CSRF })).status, 401, 'needs a session')
    assert.equal((await fetch(`${a.url}/auth/sessions/${otherSid}`, { method: 'DELETE', headers: { cookie: mine } })).status, 403, 'needs the CSRF header')
    assert.equal((await fetch(`${a.url}/auth/sessions/${otherSid}`, { method: 'DELETE', headers: { ...CSRF, cookie: mine } })).status, 204)
    assert.deepEqual((await stream.next('ended')).data, { reason: 'revoked' })
    assert.equal((await fetch(`${b.url}/api/x`, { headers: { ...CSRF, cookie: other } })).status, 401)
    assert.equal((await fetch(`${b.url}/api/x`, { headers: { ...CSRF, cookie: mine } })).status, 200, 'the deleting session lives on')
  })

  test('DELETE of a sid that is not one of this subject\'s live sessions is 404, and ends nothing', async () => {
    const [mine] = await loginTwice(`mine-${Date.now()}`)
    const [theirs] = await loginTwice(`theirs-${Date.now()}`)
    const theirSid = ((await (await fetch(`${a.url}/auth/user`, { headers: { ...CSRF, cookie: theirs } })).json()) as { session: { sid: string } }).session.sid
    for (const sid of [theirSid, 'nope', encodeURIComponent('../x')]) {
      const response = await fetch(`${a.url}/auth/sessions/${sid}`, { method: 'DELETE', headers: { ...CSRF, cookie: mine } })
      assert.equal(response.status, 404, sid)
    }
    assert.equal((await fetch(`${a.url}/api/x`, { headers: { ...CSRF, cookie: theirs } })).status, 200)
  })

  test('POST /auth/logout with {"everywhere":true} ends every session of the subject, each stream told logout', async () => {
    const [one, two] = await loginTwice(`everywhere-${Date.now()}`)
    const stream = await events(b, two)
    await stream.next('session')
    const out = await fetch(`${a.url}/auth/logout`, { method: 'POST', headers: { ...CSRF, cookie: one, 'content-type': 'application/json' }, body: '{"everywhere":true}' })
    assert.equal(out.status, 200)
    assert.deepEqual((await stream.next('ended')).data, { reason: 'logout' })
    for (const cookie of [one, two]) assert.equal((await fetch(`${b.url}/api/x`, { headers: { ...CSRF, cookie } })).status, 401)
    const bad = await fetch(`${a.url}/auth/logout`, { method: 'POST', headers: { ...CSRF, 'content-type': 'application/json' }, body: '{"everywhere":"yes"}' })
    assert.equal(bad.status, 400)
  })
})

describe('admin API', () => {
  const admin = (method: string, query: string, token = ADMIN_TOKEN) =>
    fetch(`${adminUrl}/admin/sessions?${query}`, { method, headers: { authorization: `Bearer ${token}` } })

  test('DELETE /admin/sessions?sub= ends the subject\'s sessions: their streams on the other instance hear revoked, their WebSockets close', async () => {
    const account = `incident-${Date.now()}`
    const [one, two] = await loginTwice(account)
    const stream = await events(b, one)
    await stream.next('session')
    const socket = await webSocketHandshake(b.url, '/api/hold', { origin: stack.cloakroom.url, cookie: two })
    assert.equal(socket.status, 101)
    const listed = await (await admin('GET', `sub=${account}`)).json() as { sessions: Array<{ sid: string }> }
    assert.equal(listed.sessions.length, 2)
    const sent = performance.now()
    const ended = await admin('DELETE', `sub=${account}`)
    assert.equal(ended.status, 200)
    assert.deepEqual(await ended.json(), { ended: 2 })
    const heard = await stream.next('ended')
    assert.deepEqual(heard.data, { reason: 'revoked' })
    await Promise.race([socket.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the WebSocket outlived its session')), 1000))])
    console.log(`admin DELETE: stream told ${(heard.at - sent).toFixed(0)} ms after, WebSocket closed within ${(performance.now() - sent).toFixed(0)} ms`)
    for (const cookie of [one, two]) assert.equal((await fetch(`${b.url}/api/x`, { headers: { ...CSRF, cookie } })).status, 401)
    assert.deepEqual(await (await admin('GET', `sub=${account}`)).json(), { sessions: [] })
  })

  test('DELETE /admin/sessions?sid= ends that one session', async () => {
    const [one, two] = await loginTwice(`one-of-two-${Date.now()}`)
    const sid = ((await (await fetch(`${a.url}/auth/user`, { headers: { ...CSRF, cookie: one } })).json()) as { session: { sid: string } }).session.sid
    assert.deepEqual(await (await admin('DELETE', `sid=${encodeURIComponent(sid)}`)).json(), { ended: 1 })
    assert.equal((await fetch(`${a.url}/api/x`, { headers: { ...CSRF, cookie: one } })).status, 401)
    assert.equal((await fetch(`${a.url}/api/x`, { headers: { ...CSRF, cookie: two } })).status, 200)
  })

  test('a missing or wrong token is 401 and ends nothing; a bad query is 400; the admin API is not on the public port', async () => {
    const [cookie] = await loginTwice(`guarded-${Date.now()}`)
    const sub = ((await (await fetch(`${a.url}/auth/user`, { headers: { ...CSRF, cookie } })).json()) as { sub: string }).sub
    for (const token of ['', 'x', ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`]) assert.equal((await admin('DELETE', `sub=${sub}`, token)).status, 401, token)
    assert.equal((await fetch(`${adminUrl}/admin/sessions?sub=${sub}`, { method: 'DELETE' })).status, 401)
    assert.equal((await fetch(`${adminUrl}/admin/sessions?sub=${sub}`, { method: 'DELETE', headers: { authorization: `Basic ${ADMIN_TOKEN}` } })).status, 401)
    // The scheme name is case-insensitive.
    assert.equal((await fetch(`${adminUrl}/admin/sessions?sub=${sub}`, { headers: { authorization: `bearer ${ADMIN_TOKEN}` } })).status, 200)
    assert.equal((await admin('GET', '')).status, 400)
    assert.equal((await admin('GET', `sub=${sub}&sid=x`)).status, 400)
    assert.equal((await fetch(`${a.url}/admin/sessions?sub=${sub}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 404)
    assert.equal((await fetch(`${a.url}/api/x`, { headers: { ...CSRF, cookie } })).status, 200)
    const log = stack.instances[0]?.output() ?? ''
    assert.match(log, /"event":"admin".*"outcome":"refused"/)
    assert.doesNotMatch(log, new RegExp(ADMIN_TOKEN), 'the token is never logged')
  })
})

test('GET /auth/client.js serves the browser helper as an ES module, revalidated by its ETag', async () => {
  const response = await fetch(`${a.url}/auth/client.js`)
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8')
  assert.equal(response.headers.get('cache-control'), 'no-cache')
  const text = await response.text()
  assert.match(text, /^export function createCloakroom/m)
  assert.ok(text.length < 8 * 1024, `${text.length} bytes: a few KB`)
  const again = await fetch(`${a.url}/auth/client.js`, { headers: { 'if-none-match': response.headers.get('etag') ?? '' } })
  assert.equal(again.status, 304)
})
