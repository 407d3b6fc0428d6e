import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli, startCloakroom, CLIENT_SECRET, SESSION_SECRET } from './fixtures/cloakroom.ts'
import { createCookieClient } from './fixtures/cookie-client.ts'
import { webSocketHandshake } from './fixtures/websocket.ts'
import { freePort } from './fixtures/free-port.ts'
import { startStack, CLIENT_ID, type Stack } from './fixtures/stack.ts'
import { issuerFeatureLines } from './fixtures/check-lines.ts'

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

  /** `cloakroom check` with the suite's config, changed by `change`; its exit code, lines and time taken. */
  async function check(change: Record<string, unknown> = {}) {
    const started = Date.now()
    const { code, stdout, stderr } = await runCli(['check', '--config', '{config}'], { ...stack.config, listen: { port: 0 }, ...change }, 25_000)
    return { code, lines: stdout.trimEnd().split('\n'), stdout, stderr, ms: Date.now() - started }
  }
  const staticDir = () => String((stack.config['routes'] as { static?: string }[]).find((route) => route.static !== undefined)?.static)

  test('check: all good → exit 0, one human line per finding, the credentials proven at the token endpoint', async () => {
    const { code, lines, stderr } = await check()
    const discovery = await (await fetch(new URL('.well-known/openid-configuration', `${stack.idp.issuer}/`))).json() as Record<string, unknown>
    assert.equal(code, 0, lines.join('\n'))
    assert.deepEqual(lines, [
      `config: ok (${(stack.config['routes'] as unknown[]).length} routes, store redis, public URL ${String(stack.config['publicUrl'])})`,
      `issuer: ok ${discovery['issuer']}`,
      `  authorization_endpoint: ${discovery['authorization_endpoint']}`,
      `  token_endpoint: ${discovery['token_endpoint']}`,
      ...issuerFeatureLines(discovery),
      `credentials: ok (client_secret_basic accepted at ${discovery['token_endpoint']})`,
      `  redirect_uri to register: ${String(stack.config['publicUrl'])}/auth/callback (not verifiable here)`,
      `  post_logout_redirect_uri to register: ${String(stack.config['publicUrl'])}/ (not verifiable here)`,
      `  backchannel_logout_uri, if the issuer has back-channel logout: ${String(stack.config['publicUrl'])}/auth/backchannel-logout`,
      `static: ok / serves ${staticDir()}`,
      'store: ok (redis, PING answered)',
      'check: ok',
    ])
    assert.equal(stderr, '')
  })

  test('check: a wrong client secret → exit 1, the line names oidc.clientSecret and never the secret', async () => {
    const wrong = 'a-wrong-client-secret-0123456789'
    const { code, lines, stdout, stderr } = await check({ oidc: { ...(stack.config['oidc'] as object), clientSecret: wrong } })
    assert.equal(code, 1, stdout)
    assert.equal(lines.find((line) => line.startsWith('credentials:')), `credentials: FAILED the issuer refused client "${CLIENT_ID}" (invalid_client): check oidc.clientId, oidc.clientSecret and oidc.tokenEndpointAuthMethod (client_secret_basic)`)
    assert.equal(lines.at(-1), 'check: FAILED (1 problem)')
    assert.ok(!(stdout + stderr).includes(wrong) && !(stdout + stderr).includes(CLIENT_SECRET))
  })

  test('check: an issuer on the wrong port → exit 1, naming the discovery URL and the connection error', async () => {
    const port = await freePort()
    const { code, lines, stdout } = await check({ oidc: { ...(stack.config['oidc'] as object), issuer: `http://127.0.0.1:${port}` } })
    assert.equal(code, 1, stdout)
    assert.deepEqual(lines.slice(1, 3), [
      `issuer: FAILED http://127.0.0.1:${port}/.well-known/openid-configuration: connection refused (ECONNREFUSED)`,
      'credentials: SKIPPED (no discovery document, so no token endpoint to prove them at)',
    ])
    assert.equal(lines.at(-1), 'check: FAILED (1 problem)')
  })

  test('check: the store down → exit 1 in under 3 s, one line naming the URL (no password) and the cause, no log lines', async () => {
    const port = await freePort()
    const { code, lines, stdout, stderr, ms } = await check({ store: { type: 'redis', url: `redis://:a-store-password@127.0.0.1:${port}` } })
    console.log(`check with Redis down answered in ${ms} ms`)
    assert.equal(code, 1, stdout)
    assert.equal(lines.at(-2), `store: FAILED redis://:***@127.0.0.1:${port}: connection refused (ECONNREFUSED)`)
    assert.equal(lines.at(-1), 'check: FAILED (1 problem)')
    for (const line of lines) assert.match(line, /^((config|issuer|pkce|iss parameter|revocation|end-session|back-channel logout|PAR|DPoP|acr values|resource indicators|credentials|static|store|check): |  [a-z_]+_endpoint: |  [a-z_]+_uri[ ,])/)
    assert.equal(stderr, '')
    assert.ok(!stdout.includes('a-store-password'))
    assert.ok(ms < 3_000, `check took ${ms} ms`)
  })

  test('check: the issuer and the store both down → exit 1, both named, still in under 3 s', async () => {
    const [idpPort, redisPort] = await Promise.all([freePort(), freePort()])
    const { code, lines, stdout, ms } = await check({
      oidc: { issuer: `http://127.0.0.1:${idpPort}`, clientId: 'x', clientSecret: CLIENT_SECRET },
      store: { type: 'redis', url: `redis://127.0.0.1:${redisPort}` },
    })
    console.log(`check with the issuer and Redis down answered in ${ms} ms`)
    assert.equal(code, 1, stdout)
    assert.ok(lines.includes(`issuer: FAILED http://127.0.0.1:${idpPort}/.well-known/openid-configuration: connection refused (ECONNREFUSED)`), stdout)
    assert.ok(lines.includes(`store: FAILED redis://127.0.0.1:${redisPort}: connection refused (ECONNREFUSED)`), stdout)
    assert.equal(lines.at(-1), 'check: FAILED (2 problems)')
    assert.ok(ms < 3_000, `check took ${ms} ms`)
  })

  test('check: a static folder that does not exist → exit 1, naming the route and the folder', async () => {
    const missing = `${staticDir()}-missing`
    const routes = (stack.config['routes'] as { static?: string }[]).map((route) => route.static === undefined ? route : { ...route, static: missing })
    const index = routes.findIndex((route) => route.static === missing)
    const { code, lines, stdout } = await check({ routes })
    assert.equal(code, 1, stdout)
    assert.ok(lines.includes(`static: FAILED / serves ${missing}: no such folder (routes[${index}].static)`), stdout)
    assert.equal(lines.at(-1), 'check: FAILED (1 problem)')
  })

  test('check: an invalid config → exit 2, the key named on stderr, nothing checked', async () => {
    const { code, stdout, stderr } = await check({ session: { secrets: ['too-short-secret'] } })
    assert.equal(code, 2)
    assert.equal(stdout, '')
    assert.match(stderr, /^session\.secrets\[0\]: must be at least 32 characters \(got 16\)$/m)
  })

  test('a login with a wrong client secret: a 400 page for the browser, and a log line naming invalid_client and the keys to check', async () => {
    const wrong = 'a-wrong-client-secret-0123456789'
    // Same public URL (the callback registered at the IdP), its own port: the callback is sent to it by hand.
    const port = await freePort()
    // Without PAR, so that the refusal comes at the code exchange (with PAR it comes at the push: below).
    const instance = await startCloakroom({ ...stack.config, listen: { host: '127.0.0.1', port }, publicUrl: String(stack.config['publicUrl']), oidc: { ...(stack.config['oidc'] as object), clientSecret: wrong, pushedAuthorizationRequests: 'never' } })
    try {
      const client = createCookieClient()
      let url = `${instance.url}/auth/login?returnTo=%2F`
      const callback = `${String(stack.config['publicUrl'])}/auth/callback`
      for (let hop = 0; hop < 15 && !url.startsWith(callback); hop++) {
        const response = await client.request(url)
        await response.arrayBuffer()
        url = new URL(response.headers.get('location') ?? assert.fail(`no redirect from ${url}`), url).href
      }
      const page = await client.request(url.replace(String(stack.config['publicUrl']), instance.url))
      assert.equal(page.status, 400)
      const html = await page.text()
      assert.match(html, /Login failed \(invalid_client\)/)
      assert.ok(!html.includes('oidc.clientSecret') && !html.includes(wrong))
      // The log line may reach us through the child's stdout pipe after the page did.
      const logged = () => instance.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
      const deadline = Date.now() + 2_000
      while (Date.now() < deadline && !logged().some((line) => line['msg'] === 'Login failed (invalid_client)')) await new Promise((resolve) => setTimeout(resolve, 20))
      const warning = logged().find((line) => line['msg'] === 'Login failed (invalid_client)')
      assert.equal(warning?.['code'], 'bad_request')
      // The issuer's own answer follows, as the cause behind it.
      assert.ok(String(warning?.['cause']).startsWith(`ClientRefused: the issuer refused client "${CLIENT_ID}" (invalid_client): check oidc.clientId, oidc.clientSecret and oidc.tokenEndpointAuthMethod (client_secret_basic) ← `), String(warning?.['cause']))
      assert.ok(!instance.output().includes(wrong))
    } finally {
      await instance.stop()
    }
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
