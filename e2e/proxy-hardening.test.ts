import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, type Stack } from './fixtures/stack.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'
import { webSocketHandshake } from './fixtures/websocket.ts'

const CSRF = { 'x-csrf': '1' }

/**
 * A target whose answers the tests script: it records what it received, refuses tokens in
 * `revoked` with 401 invalid_token, and on `/cookies` or `/hop` answers with headers a target
 * must not be able to pass to the browser.
 */
interface ScriptedTarget {
  readonly url: string
  readonly seen: Array<{ url: string; method: string; headers: IncomingHttpHeaders; body: string }>
  readonly revoked: Set<string>
  /** When true, every token is refused (a target that never accepts the new one either). */
  refuseAll: boolean
  stop(): Promise<void>
}

async function startScriptedTarget(): Promise<ScriptedTarget> {
  const target = { seen: [] as ScriptedTarget['seen'], revoked: new Set<string>(), refuseAll: false }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const token = String(req.headers['authorization'] ?? '').replace(/^Bearer /, '')
      target.seen.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() })
      if (req.url?.includes('/hold') === true) return
      if (token !== '' && (target.refuseAll || target.revoked.has(token))) {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="api", error="invalid_token", error_description="revoked"' }).end('{"target":"refused"}')
        return
      }
      if (req.url?.endsWith('/cookies') === true) {
        res.setHeader('set-cookie', ['cloakroom=planted; Path=/', 'cloakroom-login-abcdef=planted; Path=/', 'theirs=kept; Path=/'])
      }
      if (req.url?.endsWith('/hop') === true) {
        res.setHeader('connection', 'x-internal')
        res.setHeader('x-internal', 'secret-hop')
        res.setHeader('keep-alive', 'timeout=5')
        res.setHeader('proxy-connection', 'keep-alive')
      }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ token, url: req.url }))
    })
  })
  // A WebSocket target that accepts every handshake and keeps the connection open.
  const upgraded = new Set<import('node:stream').Duplex>()
  server.on('upgrade', (req, socket) => {
    upgraded.add(socket)
    socket.on('close', () => upgraded.delete(socket))
    socket.on('error', () => socket.destroy())
    socket.on('end', () => socket.destroy())
    const key = String(req.headers['sec-websocket-key'])
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSet-Cookie: cloakroom=planted\r\n\r\n`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(target, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => {
      for (const socket of upgraded) socket.destroy()
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  })
}

/** A raw request, so hop-by-hop and forwarding headers go out exactly as written. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const { hostname, port, pathname, search } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: pathname + search, headers }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('hardened forwarding: hop-by-hop headers, cookies from targets, dead tokens, WebSockets, trusted proxies', () => {
  let stack: Stack
  let target: ScriptedTarget
  let client: CookieClient
  let cookie: string

  before(async () => {
    target = await startScriptedTarget()
    stack = await startStack({
      instances: 2,
      config: {
        trustProxy: 2,
        routes: [
          { path: '/api', target: target.url, token: 'user' },
          { path: '/ws', target: target.url, token: 'user' },
          { path: '/open', target: target.url, token: 'none', csrf: false },
        ],
      },
    })
    ;({ client } = await stack.login())
    cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
  })
  after(async () => {
    await stack.stop()
    await target.stop()
  })

  const seenFor = (path: string) => target.seen.filter((request) => request.url === path)

  test('plain-http publicUrl: one startup warning says it is for development only', () => {
    const warnings = stack.cloakroom.output().split('\n').filter((line) => line.includes('publicUrl is plain http'))
    assert.equal(warnings.length, 1)
    assert.match(warnings[0] ?? '', /development only/)
  })

  test('a client\'s Connection header cannot make the next proxy drop what Cloakroom set; hop-by-hop headers stay behind', async () => {
    const answer = await rawGet(`${stack.cloakroom.url}/open/hop-in`, {
      connection: 'keep-alive, X-Forwarded-For, X-Forwarded-Proto, X-Custom',
      'x-custom': 'dropped', 'keep-alive': 'timeout=1', te: 'trailers', 'proxy-authorization': 'Basic c2VjcmV0', 'proxy-connection': 'x',
    })
    assert.equal(answer.status, 200)
    const [seen] = seenFor('/open/hop-in')
    assert.ok(seen !== undefined)
    for (const name of ['x-custom', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection']) assert.equal(seen.headers[name], undefined, name)
    assert.doesNotMatch(String(seen.headers['connection']), /forwarded|custom/i, 'the Connection header that reached the target names none of them')
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(seen.headers['x-forwarded-proto'], 'http')
  })

  test('a target\'s hop-by-hop headers, and the headers its Connection names, never reach the browser', async () => {
    const answer = await rawGet(`${stack.cloakroom.url}/open/hop`, {})
    assert.equal(answer.status, 200)
    assert.equal(answer.headers['x-internal'], undefined)
    assert.equal(answer.headers['proxy-connection'], undefined)
    assert.notEqual(answer.headers['keep-alive'], 'timeout=5')
  })

  test('a target cannot set Cloakroom\'s own cookies; its other cookies pass', async () => {
    const answer = await client.request(`${stack.cloakroom.url}/api/cookies`, { headers: CSRF })
    assert.equal(answer.status, 200)
    assert.deepEqual(answer.headers.getSetCookie(), ['theirs=kept; Path=/'])
    const open = await rawGet(`${stack.cloakroom.url}/open/cookies`, {})
    assert.deepEqual(open.headers['set-cookie'], ['theirs=kept; Path=/'])
  })

  test('behind two trusted proxies, their X-Forwarded-For entries, Proto and Host pass on; the client\'s own entries do not', async () => {
    await rawGet(`${stack.cloakroom.url}/open/trusted`, {
      'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.com', forwarded: 'for=6.6.6.6',
    })
    const [seen] = seenFor('/open/trusted')
    assert.equal(seen?.headers['x-forwarded-for'], '203.0.113.7, 10.0.0.2, 127.0.0.1')
    assert.equal(seen?.headers['x-forwarded-proto'], 'https')
    assert.equal(seen?.headers['x-forwarded-host'], 'app.example.com')
    assert.equal(seen?.headers['forwarded'], undefined)
  })

  test('a token the target refuses as invalid_token is refreshed once and a GET retried with the new one', async () => {
    const first = await client.request(`${stack.cloakroom.url}/api/before`, { headers: CSRF })
    const { token: old } = (await first.json()) as { token: string }
    target.revoked.add(old)
    const grants = stack.idp.grants['refresh_token'] ?? 0
    const answer = await client.request(`${stack.cloakroom.url}/api/retried`, { headers: CSRF })
    assert.equal(answer.status, 200)
    const { token } = (await answer.json()) as { token: string }
    assert.notEqual(token, old)
    assert.equal((stack.idp.grants['refresh_token'] ?? 0) - grants, 1)
    assert.deepEqual(seenFor('/api/retried').map((request) => request.headers['authorization']), [`Bearer ${old}`, `Bearer ${token}`])
    // The refresh is logged with its outcome, never with a token.
    const lines = stack.cloakroom.output().split('\n').filter((line) => line.includes('"event":"refresh"'))
    assert.ok(lines.some((line) => line.includes('"outcome":"ok"')), 'the refresh was logged')
    assert.ok(lines.every((line) => !line.includes(old) && !line.includes(token)), 'no token in the refresh log')
    // The other instance uses the new token too: it was stored, not kept in one process.
    const other = await fetch(`${stack.instances[1]?.url}/api/other`, { headers: { ...CSRF, cookie } })
    assert.equal(((await other.json()) as { token: string }).token, token)
  })

  test('a request with a body gets the target\'s 401; the session\'s next request carries the new token', async () => {
    const current = ((await (await client.request(`${stack.cloakroom.url}/api/now`, { headers: CSRF })).json()) as { token: string }).token
    target.revoked.add(current)
    const posted = await client.request(`${stack.cloakroom.url}/api/post`, { method: 'POST', headers: { ...CSRF, 'content-type': 'application/json' }, body: '{"a":1}' })
    assert.equal(posted.status, 401)
    assert.match(String(posted.headers.get('www-authenticate')), /invalid_token/)
    assert.equal(seenFor('/api/post').length, 1, 'a body is never sent twice')
    const next = await client.request(`${stack.cloakroom.url}/api/next`, { headers: CSRF })
    assert.equal(next.status, 200)
    assert.notEqual(((await next.json()) as { token: string }).token, current)
  })

  test('a second invalid_token straight after the refresh is passed on: one refresh, one retry, never a loop', async () => {
    target.refuseAll = true
    try {
      const grants = stack.idp.grants['refresh_token'] ?? 0
      const answer = await client.request(`${stack.cloakroom.url}/api/loop`, { headers: CSRF })
      assert.equal(answer.status, 401)
      assert.equal(seenFor('/api/loop').length, 2)
      assert.equal((stack.idp.grants['refresh_token'] ?? 0) - grants, 1)
    } finally {
      target.refuseAll = false
    }
  })

  test('a WebSocket closes when its session ends: a logout on its instance at once, on another instance within the 5 s sweep', async () => {
    for (const logoutAt of [0, 1]) {
      const { client: user } = await stack.login()
      const userCookie = `cloakroom=${user.cookies(stack.cloakroom.url).get('cloakroom')}`
      const socket = await webSocketHandshake(stack.cloakroom.url, '/ws/live', { origin: stack.cloakroom.url, cookie: userCookie })
      assert.equal(socket.status, 101)
      assert.equal(socket.headers['set-cookie'], undefined, 'a target\'s Set-Cookie in the handshake is dropped too')
      let closedAt: number | undefined
      void socket.closed.then(() => { closedAt = Date.now() })
      await sleep(300)
      assert.equal(closedAt, undefined, 'open while the session lives')
      const started = Date.now()
      const logout = await fetch(`${stack.instances[logoutAt]?.url}/auth/logout`, { method: 'POST', headers: { ...CSRF, cookie: userCookie } })
      assert.equal(logout.status, 200)
      await Promise.race([socket.closed, sleep(8000)])
      assert.ok(closedAt !== undefined, 'closed')
      const elapsed = closedAt - started
      console.log(`WebSocket closed ${elapsed} ms after a logout on instance ${logoutAt}`)
      assert.ok(logoutAt === 0 ? elapsed < 500 : elapsed < 6000, `closed after ${elapsed} ms`)
    }
  })

  test('one client cannot hold every connection to a target: past 64 in flight it gets 429, others pass', async () => {
    const held = await Promise.all(Array.from({ length: 64 }, (_, i) => rawHold(`${stack.cloakroom.url}/open/hold/${i}`)))
    const refused = await rawGet(`${stack.cloakroom.url}/open/one-more`, {})
    assert.equal(refused.status, 429)
    assert.equal(refused.headers['retry-after'], '1')
    // A logged-in user is counted by session, not by address.
    const other = await client.request(`${stack.cloakroom.url}/api/other-client`, { headers: CSRF })
    assert.equal(other.status, 200)
    for (const request of held) request.destroy()
    await sleep(200)
    assert.equal((await rawGet(`${stack.cloakroom.url}/open/after`, {})).status, 200)
  })
})

/** A GET whose answer never comes (the target holds it); destroy() ends it. */
function rawHold(url: string): Promise<{ destroy(): void }> {
  const { hostname, port, pathname } = new URL(url)
  return new Promise((resolve) => {
    const req = httpRequest({ host: hostname, port, path: pathname, agent: false })
    req.on('error', () => {})
    req.end()
    setTimeout(() => resolve({ destroy: () => req.destroy() }), 50)
  })
}
