import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { randomBytes } from 'node:crypto'
import { firstTextFrame, webSocketHandshake } from './fixtures/websocket.ts'
import { startStack, type Stack } from './fixtures/stack.ts'
import { freePort } from './fixtures/free-port.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }

let stack: Stack
let client: CookieClient
let metricsPort: number
before(async () => {
  metricsPort = await freePort()
  stack = await startStack({ config: { timeouts: { upstream: '1s' }, metrics: { listen: { host: '127.0.0.1', port: metricsPort } } } })
  ;({ client } = await stack.login())
})
after(async () => { await stack.stop() })

async function problem(response: Response): Promise<{ status: number; code: string; type: string }> {
  assert.equal(response.headers.get('content-type'), 'application/problem+json')
  const body = (await response.json()) as { status: number; code: string; type: string }
  assert.equal(body.status, response.status)
  assert.equal(body.type, 'about:blank')
  return body
}

describe('API routes: session and CSRF defences', () => {
  test('no session → 401 unauthenticated problem, never a redirect', async () => {
    const response = await fetch(`${stack.cloakroom.url}/api/x`, { headers: CSRF })
    assert.equal(response.status, 401)
    assert.equal((await problem(response)).code, 'unauthenticated')
  })

  test('a tampered, truncated, oversized or foreign cookie is simply no session', async () => {
    const good = client.cookies(stack.cloakroom.url).get('cloakroom') ?? ''
    const variants = [good.slice(0, -5), `${good.slice(0, 40)}x${good.slice(41)}`, 'x'.repeat(8000), 'Fe26.2**abc', '%%%', randomBytes(300).toString('base64')]
    for (const value of variants) {
      const response = await fetch(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, cookie: `cloakroom=${value}` } })
      assert.equal(response.status, 401, `cookie ${value.slice(0, 20)}`)
      assert.equal((await problem(response)).code, 'unauthenticated')
    }
  })

  test('missing or wrong CSRF header → 403 csrf_required', async () => {
    for (const headers of [{}, { 'x-csrf': '0' }]) {
      const response = await client.request(`${stack.cloakroom.url}/api/x`, { method: 'POST', headers, body: 'a=1' })
      assert.equal(response.status, 403)
      assert.equal((await problem(response)).code, 'csrf_required')
    }
  })

  test('a foreign Origin or a cross-site fetch → 403 origin_mismatch', async () => {
    for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }]) {
      const response = await client.request(`${stack.cloakroom.url}/api/x`, { method: 'POST', headers: { ...CSRF, ...headers } })
      assert.equal(response.status, 403)
      assert.equal((await problem(response)).code, 'origin_mismatch')
    }
    const sameOrigin = await client.request(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, origin: stack.cloakroom.url, 'sec-fetch-site': 'same-origin' } })
    assert.equal(sameOrigin.status, 200)
  })

  test('/auth/user needs the CSRF header too', async () => {
    const response = await client.request(`${stack.cloakroom.url}/auth/user`)
    assert.equal(response.status, 403)
    assert.equal((await problem(response)).code, 'csrf_required')
  })
})

describe('forwarding', () => {
  test('request and response bodies pass through; method and query kept', async () => {
    const body = 'x'.repeat(256 * 1024)
    const response = await client.request(`${stack.cloakroom.url}/api/upload?q=1`, { method: 'PUT', headers: { ...CSRF, 'content-type': 'text/plain' }, body })
    assert.equal(response.status, 200)
    const seen = (await response.json()) as { method: string; url: string; body: string }
    assert.equal(seen.method, 'PUT')
    assert.equal(seen.url, '/api/upload?q=1')
    assert.equal(seen.body.length, body.length)
  })

  test('routes match on segment boundaries: /apix is not /api', async () => {
    const response = await client.request(`${stack.cloakroom.url}/apix`)
    assert.equal(response.status, 200)
    assert.match(await response.text(), /the spa/)
  })

  test('stripPath and a target base path; token: none forwards no token and no session cookie', async () => {
    const response = await client.request(`${stack.cloakroom.url}/public/hello?a=b`, { headers: { cookie: `${client.cookies(stack.cloakroom.url).size > 0 ? `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}; ` : ''}theme=dark` } })
    const seen = (await response.json()) as { url: string; headers: Record<string, string> }
    assert.equal(seen.url, '/base/hello?a=b')
    assert.equal(seen.headers['authorization'], undefined)
    assert.equal(seen.headers['cookie'], 'theme=dark')
  })

  test('token: optional forwards a token with a session and passes anonymous requests through', async () => {
    const anonymous = (await (await fetch(`${stack.cloakroom.url}/maybe/x`, { headers: CSRF })).json()) as { url: string; headers: Record<string, string> }
    assert.equal(anonymous.url, '/x')
    assert.equal(anonymous.headers['authorization'], undefined)
    const withSession = (await (await client.request(`${stack.cloakroom.url}/maybe/x`, { headers: CSRF })).json()) as { headers: Record<string, string> }
    assert.match(withSession.headers['authorization'] ?? '', /^Bearer .+/)
  })

  test('paths with dot segments are refused, plain or encoded', async () => {
    const cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
    for (const path of ['/api/../admin', '/api/%2e%2e/admin', '/api/./x', '/api/%2E/x', '/api/x/..%2Fy', '/%2e%2e/%2e%2e/etc/passwd']) {
      const response = await rawGet(path, { ...CSRF, cookie })
      assert.equal(response.status, 400, path)
      assert.equal((JSON.parse(response.body) as { code: string }).code, 'bad_request')
    }
  })

  test('an upstream that does not answer in time → 504; one that refuses → 502', async () => {
    const slow = await client.request(`${stack.cloakroom.url}/api/slow`, { headers: CSRF })
    assert.equal(slow.status, 504)
    assert.equal((await problem(slow)).code, 'upstream_unavailable')
    const refused = await fetch(`${stack.cloakroom.url}/down/x`)
    assert.equal(refused.status, 502)
    assert.equal((await problem(refused)).code, 'upstream_unavailable')
  })

  test('absolute-form request targets are refused, not forwarded to a path built from them', async () => {
    const response = await rawGet(`http://evil.example/public/x`, {})
    assert.equal(response.status, 400)
  })

  test('forwarding headers from the client are dropped without trustProxy', async () => {
    const response = await client.request(`${stack.cloakroom.url}/api/x`, {
      headers: { ...CSRF, 'x-real-ip': '6.6.6.6', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-port': '1', 'x-forwarded-prefix': '/evil', forwarded: 'for=6.6.6.6' },
    })
    const seen = (await response.json()) as { headers: Record<string, string> }
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    for (const name of ['x-real-ip', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded']) assert.equal(seen.headers[name], undefined, name)
  })

  test('Expect: 100-continue does not disable the upstream timeout', async () => {
    const cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
    const status = await new Promise<number>((resolve, reject) => {
      const { port } = new URL(stack.cloakroom.url)
      const req = httpRequest({ host: '127.0.0.1', port, path: '/api/slow', method: 'POST', headers: { ...CSRF, cookie, expect: '100-continue', 'content-length': '5' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('continue', () => req.end('hello'))
      req.on('error', reject)
    })
    assert.equal(status, 504)
  })

  test('a route with csrf: false takes API calls without the header', async () => {
    const response = await client.request(`${stack.cloakroom.url}/nocsrf/x`)
    assert.equal(response.status, 200)
  })

  test('unknown /auth endpoints are 404 not_found, not passed to the SPA', async () => {
    const response = await fetch(`${stack.cloakroom.url}/auth/nope`)
    assert.equal(response.status, 404)
    assert.equal((await problem(response)).code, 'not_found')
  })

  test('static route: files, index.html fallback for client-side routes, nothing outside the folder', async () => {
    const index = await fetch(`${stack.cloakroom.url}/some/client/route`)
    assert.equal(index.status, 200)
    assert.match(index.headers.get('content-type') ?? '', /text\/html/)
    assert.match(await index.text(), /the spa/)
    const encodedSlash = await rawGet('/..%2f..%2fetc%2fpasswd', {})
    assert.equal(encodedSlash.status, 400)
  })

  test('metrics.listen serves Prometheus metrics on its own port, not on the public one', async () => {
    const apiCalls = async () => Number(/^cloakroom_http_request_duration_seconds_count\{route="\/api",method="GET",status="200"\} (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())?.[1] ?? 0)
    const before = await apiCalls()
    for (let i = 0; i < 3; i++) {
      const response = await client.request(`${stack.cloakroom.url}/api/counted`, { headers: CSRF })
      await response.arrayBuffer()
      assert.equal(response.status, 200)
    }
    assert.equal(await apiCalls(), before + 3, 'each proxied call is one observation of its route')
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    assert.equal(response.status, 200)
    const text = await response.text()
    assert.match(text, /^cloakroom_logins_total\{result="ok"\} 1$/m)
    assert.match(text, /^cloakroom_sessions_started_total 1$/m)
    assert.match(text, /^cloakroom_http_request_duration_seconds_count\{route="\/auth\/login",method="GET",status="302"\} 1$/m)
    assert.match(text, /^cloakroom_upstream_duration_seconds_count\{route="\/api",outcome="2xx"\} \d+$/m)
    assert.match(text, /^cloakroom_upstream_duration_seconds_count\{route="\/down",outcome="error"\} \d+$/m)
    assert.match(text, /^# TYPE cloakroom_token_refreshes_total counter$/m)
    assert.match(text, /^nodejs_eventloop_lag_seconds \d/m)
    assert.doesNotMatch(text, /route="\/api\/counted"/, 'label values are configured routes, never request paths')
    assert.equal((await fetch(`${stack.cloakroom.url}/metrics`)).headers.get('content-type'), 'text/html; charset=utf-8', 'the public port has the SPA there')
  })

  test('health endpoints need no session', async () => {
    assert.equal((await fetch(`${stack.cloakroom.url}/healthz`)).status, 200)
    const ready = await fetch(`${stack.cloakroom.url}/readyz`)
    assert.equal(ready.status, 200)
    assert.deepEqual(await ready.json(), { status: 'ready', store: true, issuer: true })
  })
})

/** A GET whose path goes out exactly as written (fetch would resolve dot segments first). */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(stack.cloakroom.url)
    const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A handshake through Cloakroom; for 101s, waits for the echo upstream's one frame and close. */
async function upgrade(path: string, headers: Record<string, string>): Promise<{ status: number; frame?: string; body?: string }> {
  const result = await webSocketHandshake(stack.cloakroom.url, path, headers)
  if (result.status !== 101) return { status: result.status, body: result.body }
  await result.closed
  return { status: result.status, frame: firstTextFrame(result.received()) }
}

describe('WebSocket upgrades', () => {
  const cookie = () => `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}; other=1`

  test('with a session and a same-origin Origin: proxied with the Bearer token, without the session cookie', async () => {
    const result = await upgrade('/api/socket', { origin: stack.cloakroom.url, cookie: cookie() })
    assert.equal(result.status, 101)
    const seen = JSON.parse(result.frame ?? '{}') as { url: string; headers: Record<string, string> }
    assert.equal(seen.url, '/api/socket')
    assert.match(seen.headers['authorization'] ?? '', /^Bearer .+/)
    assert.equal(seen.headers['cookie'], 'other=1')
  })

  test('a missing or foreign Origin → 403 origin_mismatch', async () => {
    for (const origin of [undefined, 'https://evil.example']) {
      const result = await upgrade('/api/socket', { cookie: cookie(), ...(origin === undefined ? {} : { origin }) })
      assert.equal(result.status, 403)
      assert.equal((JSON.parse(result.body ?? '{}') as { code: string }).code, 'origin_mismatch')
    }
  })

  test('a session-carrying upgrade needs the Origin even where the route turned the CSRF header off', async () => {
    const foreign = await upgrade('/nocsrf/socket', { cookie: cookie(), origin: 'https://evil.example' })
    assert.equal(foreign.status, 403)
    const missing = await upgrade('/nocsrf/socket', { cookie: cookie() })
    assert.equal(missing.status, 403)
    const same = await upgrade('/nocsrf/socket', { cookie: cookie(), origin: stack.cloakroom.url })
    assert.equal(same.status, 101)
  })

  test('upgrades pass the same path checks as HTTP: dot segments 400, /auth 404, unknown routes 404', async () => {
    for (const [path, status] of [['/api/../public/x', 400], ['/api/..;/x', 400], ['/auth/socket', 404], ['/', 404]] as const) {
      const result = await upgrade(path, { cookie: cookie(), origin: stack.cloakroom.url })
      assert.equal(result.status, status, path)
    }
  })

  test('no session → 401 unauthenticated', async () => {
    const result = await upgrade('/api/socket', { origin: stack.cloakroom.url })
    assert.equal(result.status, 401)
    assert.equal((JSON.parse(result.body ?? '{}') as { code: string }).code, 'unauthenticated')
  })
})
