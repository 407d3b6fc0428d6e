import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack, type Stack } from './fixtures/stack.ts'
import { startEchoUpstream, type EchoUpstream } from './fixtures/echo-upstream.ts'

// Proxied routes are served on a lean path outside Koa, the endpoints by Koa's router. With a `/`
// route that has a target, every request the router would serve must still reach it (it matches
// case-insensitively and allows a trailing slash), and everything else must reach the target.

let upstream: EchoUpstream
let stack: Stack
before(async () => {
  upstream = await startEchoUpstream()
  stack = await startStack({ config: { routes: [{ path: '/', target: upstream.url, token: 'none', csrf: false }] } })
})
after(async () => { await stack.stop(); await upstream.stop() })

async function send(path: string, method = 'GET'): Promise<{ status: number; proxied: boolean; body: string }> {
  const before = upstream.seen.length
  const response = await fetch(`${stack.cloakroom.url}${path}`, { method, redirect: 'manual' })
  const body = await response.text()
  return { status: response.status, proxied: upstream.seen.length > before, body }
}

test('the router\'s endpoints stay with it, whatever the case or a trailing slash', async () => {
  for (const path of ['/healthz', '/HEALTHZ', '/healthz/', '/readyz']) {
    const answer = await send(path)
    assert.equal(answer.proxied, false, `${path} was proxied`)
    assert.equal(answer.status, 200, path)
  }
  for (const path of ['/auth/login', '/AUTH/Login', '/auth/login/']) {
    const answer = await send(path)
    assert.equal(answer.proxied, false, `${path} was proxied`)
    assert.equal(answer.status, 302, path)
  }
})

test('a path or method the router does not serve goes to the target; other /auth paths are 404', async () => {
  for (const [path, method] of [['/healthz', 'POST'], ['/healthzx', 'GET'], ['/authx', 'GET'], ['/api/auth/login', 'GET'], ['/auth/login', 'DELETE']] as const) {
    const answer = await send(path, method)
    if (path === '/auth/login') {
      assert.equal(answer.proxied, false)
      assert.equal(answer.status, 404, `${method} ${path}`)
      continue
    }
    assert.equal(answer.proxied, true, `${method} ${path} was not proxied`)
    assert.equal(answer.status, 200, `${method} ${path}`)
  }
  const unknown = await send('/auth/unknown')
  assert.deepEqual([unknown.status, unknown.proxied], [404, false])
})
