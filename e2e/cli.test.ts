import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli, CLIENT_SECRET, SESSION_SECRET } from './fixtures/cloakroom.ts'
import { webSocketHandshake } from './fixtures/websocket.ts'
import { freePort } from './fixtures/free-port.ts'
import { startStack, type Stack } from './fixtures/stack.ts'

const CSRF = { 'x-csrf': '1' }

describe('cloakroom CLI', () => {
  let stack: Stack
  before(async () => { stack = await startStack() })
  after(async () => { await stack.stop() })

  test('an invalid config stops startup with one message per key, exit code 2, no secret echoed', async () => {
    const { code, stderr } = await runCli(['--config', '{config}'], {
      publicUrl: 'localhost:8080',
      oidc: { issuer: stack.idp.issuer, clientId: 'x', clientSecret: 'short-client-secret-value' , scope: ['openid'] },
      session: { secrets: ['too-short-secret'] },
      routes: [{ path: '/api', target: 'localhost:7000' }],
    })
    assert.equal(code, 2)
    assert.match(stderr, /^publicUrl: /m)
    assert.match(stderr, /^oidc\.scope: unknown key \(did you mean "scopes"\?\)/m)
    assert.match(stderr, /^session\.secrets\[0\]: must be at least 32 characters \(got 16\)/m)
    assert.match(stderr, /^routes\[0\]\.target: /m)
    assert.ok(!stderr.includes('too-short-secret') && !stderr.includes('short-client-secret-value'))
  })

  test('no config at all is a usage error (exit 2)', async () => {
    const { code, stderr } = await runCli([], undefined)
    assert.equal(code, 2)
    assert.match(stderr, /usage: cloakroom/)
  })

  test('check: exit 0 when the issuer and the store answer', async () => {
    const { code, stdout } = await runCli(['check', '--config', '{config}'], { ...stack.config, listen: { port: 0 } })
    assert.equal(code, 0, stdout)
    assert.match(stdout, /^issuer: ok /m)
    assert.match(stdout, /^store: ok \(redis\)/m)
    assert.match(stdout, /^check: ok$/m)
  })

  test('check: exit 1, within its timeouts, when the issuer and Redis are down', async () => {
    const [idpPort, redisPort] = await Promise.all([freePort(), freePort()])
    const started = Date.now()
    const { code, stdout } = await runCli(['check', '--config', '{config}'], {
      ...stack.config,
      listen: { port: 0 },
      oidc: { issuer: `http://127.0.0.1:${idpPort}`, clientId: 'x', clientSecret: CLIENT_SECRET },
      store: { type: 'redis', url: `redis://127.0.0.1:${redisPort}` },
      timeouts: { idp: '2s' },
    }, 25_000)
    assert.equal(code, 1, stdout)
    assert.match(stdout, /^issuer: FAILED/m)
    assert.match(stdout, /^store: FAILED/m)
    const elapsed = Date.now() - started
    console.log(`check with the issuer and Redis down answered in ${elapsed} ms`)
    // The issuer timeout (2 s) plus the store's startup wait and ping (5 s + 3 s), plus process start.
    assert.ok(elapsed < 14_000, `check took ${elapsed} ms`)
  })

  test('the log never holds a token, a cookie, a code or a secret', async () => {
    const { client, hops } = await stack.login()
    const api = await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })
    const token = ((await api.json()) as { headers: Record<string, string> }).headers['authorization']?.slice(7) ?? ''
    const code = new URL(hops.find((hop) => hop.url.includes('/auth/callback'))?.url ?? '').searchParams.get('code') ?? ''
    const cookie = client.cookies(stack.cloakroom.url).get('cloakroom') ?? ''
    const output = stack.cloakroom.output()
    assert.match(output, /"msg":"request"/)
    for (const secret of [token, code, cookie, CLIENT_SECRET, SESSION_SECRET]) {
      assert.ok(secret.length > 8)
      assert.ok(!output.includes(secret), 'a secret reached the log')
    }
  })

  test('the store down → 503 store_unavailable, and it recovers by itself', async () => {
    const { client } = await stack.login()
    await stack.redis.halt()
    const down = await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })
    assert.equal(down.status, 503)
    assert.equal(((await down.json()) as { code: string }).code, 'store_unavailable')
    assert.equal((await fetch(`${stack.cloakroom.url}/readyz`)).status, 503)
    await stack.redis.restart()
    const deadline = Date.now() + 10_000
    let status = 0
    while (Date.now() < deadline && (status = (await fetch(`${stack.cloakroom.url}/readyz`)).status) !== 200) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(status, 200)
    // Redis restarted empty, so the session is gone: 401, not 503.
    assert.equal((await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })).status, 401)
    const { client: again } = await stack.login()
    assert.equal((await again.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })).status, 200)
  })
})

describe('SIGTERM', () => {
  // Each test stops one of the extra instances; the first serves the logins.
  let stack: Stack
  let cookie: string
  before(async () => {
    stack = await startStack({ instances: 3 })
    const { client } = await stack.login()
    cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
  })
  after(async () => { await stack.stop() })

  test('finishes in-flight requests, then exits 0', async () => {
    const instance = stack.instances[1]
    assert.ok(instance)
    const inFlight = fetch(`${instance.url}/api/x?delay=700`, { headers: { ...CSRF, cookie } })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const exited = instance.stop()
    const response = await inFlight
    assert.equal(response.status, 200)
    assert.equal(await exited, 0)
    await assert.rejects(fetch(`${instance.url}/healthz`))
  })

  test('an open WebSocket does not keep the process from exiting: it is closed at the drain bound', async () => {
    const instance = stack.instances[2]
    assert.ok(instance)
    const socket = await webSocketHandshake(instance.url, '/api/hold', { origin: String(stack.config['publicUrl']), cookie })
    assert.equal(socket.status, 101)
    const started = Date.now()
    assert.equal(await instance.stop(), 0)
    await socket.closed
    const elapsed = Date.now() - started
    console.log(`SIGTERM with an open WebSocket: exited 0 after ${elapsed} ms`)
    assert.ok(elapsed < 13_000, `took ${elapsed} ms`)
  })
})
