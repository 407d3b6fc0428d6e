import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { SessionConfig } from '../config/index.ts'
import { createSessionCookies } from './session-cookies.ts'

const OLD = 'old-secret-old-secret-old-secret-0001'
const NEW = 'new-secret-new-secret-new-secret-0002'
const config = (secrets: string[], extra: Partial<SessionConfig> = {}): SessionConfig =>
  ({ cookieName: 'cloakroom', secrets, sameSite: 'lax', idleTimeout: 1800, absoluteTimeout: 43200, ...extra })

const valueOf = (setCookie: string) => setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'))

test('the session cookie round-trips the session id, and holds it only sealed', async () => {
  const cookies = createSessionCookies(config([NEW]), false)
  const setCookie = await cookies.sessionCookie('session-id-123')
  assert.ok(!setCookie.includes('session-id-123'))
  assert.equal(await cookies.readSessionId(`other=1; cloakroom=${valueOf(setCookie)}`), 'session-id-123')
})

test('attributes: HttpOnly, Path=/, SameSite as configured, Max-Age the absolute timeout, Secure on https', async () => {
  const plain = await createSessionCookies(config([NEW]), false).sessionCookie('x')
  assert.match(plain, /^cloakroom=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=43200$/)
  const secure = await createSessionCookies(config([NEW], { cookieName: '__Host-cloakroom', sameSite: 'strict' }), true).sessionCookie('x')
  assert.match(secure, /^__Host-cloakroom=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/)
  assert.match(createSessionCookies(config([NEW]), true).clearSessionCookie(), /^cloakroom=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure$/)
})

test('rotation: the first secret seals, every secret unseals; a retired secret no longer does', async () => {
  const sealedWithOld = valueOf(await createSessionCookies(config([OLD]), false).sessionCookie('sid-old'))
  const rotated = createSessionCookies(config([NEW, OLD]), false)
  assert.equal(await rotated.readSessionId(`cloakroom=${sealedWithOld}`), 'sid-old')
  const sealedWithNew = valueOf(await rotated.sessionCookie('sid-new'))
  assert.equal(await createSessionCookies(config([NEW]), false).readSessionId(`cloakroom=${sealedWithNew}`), 'sid-new')
  assert.equal(await createSessionCookies(config([OLD]), false).readSessionId(`cloakroom=${sealedWithNew}`), undefined)
  assert.equal(await createSessionCookies(config([NEW]), false).readSessionId(`cloakroom=${sealedWithOld}`), undefined)
})

test('a tampered, truncated, oversized, foreign or missing cookie is no session', async () => {
  const cookies = createSessionCookies(config([NEW]), false)
  const good = valueOf(await cookies.sessionCookie('x'))
  const flipped = good.slice(0, 30) + (good[30] === 'A' ? 'B' : 'A') + good.slice(31)
  for (const header of [undefined, '', 'cloakroom=', `cloakroom=${good.slice(0, -3)}`, `cloakroom=${flipped}`,
    `cloakroom=${'A'.repeat(5000)}`, 'cloakroom=Fe26.2**1**2**3**4**5**6**7', `other=${good}`, 'cloakroom=%E0%A4%A']) {
    assert.equal(await cookies.readSessionId(header), undefined, String(header).slice(0, 40))
  }
})

test('the login cookie carries the browser binding, always SameSite=Lax, ten minutes', async () => {
  const cookies = createSessionCookies(config([NEW], { sameSite: 'strict' }), false)
  const setCookie = await cookies.loginCookie('binding-value')
  assert.match(setCookie, /^cloakroom-login=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/)
  assert.equal(await cookies.readLoginBinding(`cloakroom-login=${valueOf(setCookie)}`), 'binding-value')
  // A session seal is not a login seal, and the other way round.
  assert.equal(await cookies.readSessionId(`cloakroom=${valueOf(setCookie)}`), undefined)
  assert.deepEqual([...cookies.names].sort(), ['cloakroom', 'cloakroom-login'])
})
