import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { startCloakroom, SESSION_SECRET, type CloakroomProcess } from './fixtures/cloakroom.ts'
import { startStack, type Stack } from './fixtures/stack.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }

describe('idle timeout', () => {
  let stack: Stack
  before(async () => { stack = await startStack({ config: { session: { secrets: [SESSION_SECRET], idleTimeout: '4s', absoluteTimeout: '1h' } } }) })
  after(async () => { await stack.stop() })

  test('slides with API calls; requests that fail a check and /auth/user polling do not keep it alive', async () => {
    const { client } = await stack.login()
    const cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
    const api = (headers: Record<string, string>) => fetch(`${stack.cloakroom.url}/api/x`, { headers: { cookie, ...headers } })

    // Seven seconds of API calls, well past the 4 s idle timeout: each one slides it.
    for (let i = 0; i < 7; i++) {
      assert.equal((await api(CSRF)).status, 200, `API call ${i}`)
      await sleep(1000)
    }
    // Then, for longer than the idle timeout, only requests that are not activity: cross-site attempts
    // without the CSRF header (403 while the session lives) and status polls.
    for (let i = 0; i < 3; i++) {
      assert.equal((await api({})).status, 403)
      assert.equal((await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).status, 200)
      await sleep(1000)
    }
    await sleep(1500)
    const expired = await api(CSRF)
    assert.equal(expired.status, 401)
    assert.equal(((await expired.json()) as { code: string }).code, 'unauthenticated')
  })
})

describe('session secret rotation across restarts', () => {
  const NEW = 'the-new-session-secret-0123456789-abcdefghijkl'
  let stack: Stack
  let restarted: CloakroomProcess | undefined
  before(async () => { stack = await startStack() })
  after(async () => {
    await restarted?.stop()
    await stack.stop()
  })

  async function restartWith(secrets: string[]): Promise<void> {
    await (restarted ?? stack.cloakroom).stop()
    restarted = await startCloakroom({ ...stack.config, listen: stack.config['listen'] as { port: number }, publicUrl: String(stack.config['publicUrl']), session: { secrets } })
  }
  const status = async (client: CookieClient) =>
    (await fetch(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, cookie: `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}` } })).status

  test('a new first secret keeps old cookies and stored sessions working until the old secret is retired', async () => {
    const old = await stack.login()
    assert.equal(await status(old.client), 200)

    await restartWith([NEW, SESSION_SECRET])
    assert.equal(await status(old.client), 200, 'the old cookie and its stored record still open')
    const fresh = await stack.login()
    assert.equal(await status(fresh.client), 200)

    await restartWith([NEW])
    assert.equal(await status(fresh.client), 200, 'sealed with the new secret')
    assert.equal(await status(old.client), 401, 'sealed with the retired secret')
  })
})
