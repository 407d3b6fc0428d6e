import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { SessionConfig } from '../config/index.ts'
import { createSessionCookies, exactSealExpiry, loginCookiesToClear, PENDING_LOGIN_TTL } from './session-cookies.ts'

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

// --- Only the exact seal opens a session (SPEC "Errors") ---

const sealed = async (sessionId = 'sid-exact') => {
  const cookies = createSessionCookies(config([NEW]), false)
  return { cookies, seal: valueOf(await cookies.sessionCookie(sessionId)) }
}

test('a seal with anything after its version suffix is no session (iron-session ignores what follows "~")', async () => {
  const { cookies, seal } = await sealed()
  assert.equal(await cookies.readSessionId(`cloakroom=${seal}`), 'sid-exact')
  for (const text of [`${seal}x`, `${seal}~`, `${seal}~2`, seal.replace(/~2$/, '~9999'), seal.replace(/~2$/, '~~'), seal.replace(/~2$/, ''), `${seal} `, ` ${seal}`]) {
    assert.equal(await cookies.readSessionId(`cloakroom=${text}`), undefined, JSON.stringify(text.slice(-12)))
  }
})

test('a seal whose digest is spelt another way (whitespace, +/ for -_, other trailing bits, padding) is no session', async () => {
  const { cookies, seal } = await sealed()
  const body = seal.slice(0, -2)
  const digest = body.slice(body.lastIndexOf('*') + 1)
  const head = body.slice(0, -digest.length)
  const last = digest.at(-1) ?? ''
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  // 32 bytes in 43 characters leave 2 unused bits in the last one: these 3 spellings decode the same.
  const sameBytes = [1, 2, 3].map((delta) => alphabet[(alphabet.indexOf(last) & ~3) | ((alphabet.indexOf(last) + delta) & 3)] ?? '')
  const variants = [
    ...sameBytes.map((c) => head + digest.slice(0, -1) + c + '~2'),
    head + digest.slice(0, 10) + ' ' + digest.slice(10) + '~2',
    head + digest.slice(0, 10) + '\t' + digest.slice(10) + '~2',
    head + digest + '=~2',
    head + digest.replaceAll('-', '+').replaceAll('_', '/') + '~2',
  ].filter((text) => text !== seal)
  assert.ok(variants.length >= 6)
  for (const text of variants) assert.equal(await cookies.readSessionId(`cloakroom=${text}`), undefined, JSON.stringify(text.slice(-50)))
})

test('every single-character insertion or substitution in the last 64 characters of a seal is no session', async () => {
  const { cookies, seal } = await sealed()
  // Every printable character but ";", which ends a cookie's text rather than changing it.
  const printable = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => c !== ';'), '\t', '\x7f', '\u00e9']
  const opened: string[] = []
  for (let at = seal.length - 64; at <= seal.length; at++) {
    for (const c of printable) {
      for (const text of [seal.slice(0, at) + c + seal.slice(at), seal.slice(0, at) + c + seal.slice(at + 1)]) {
        if (text !== seal && (await cookies.readSessionId(`cloakroom=${text}`)) !== undefined) opened.push(JSON.stringify(text.slice(-50)))
      }
    }
  }
  assert.deepEqual(opened.slice(0, 5), [], `${opened.length} altered seals opened a session`)
})

test('any edit anywhere in a seal, or anything appended, is no session, and never a throw (property)', async () => {
  const { cookies, seal } = await sealed()
  // Any character but ";", which ends a cookie's text rather than changing it.
  const character = fc.oneof(fc.constantFrom(...'~*.=+/ \t-_AQgw09fF'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== ';'))
  const edit = fc.record({ kind: fc.constantFrom('insert', 'delete', 'substitute'), at: fc.nat(), c: character })
  await fc.assert(fc.asyncProperty(edit, async ({ kind, at, c }) => {
    const i = at % (seal.length + (kind === 'insert' ? 1 : 0))
    const text = seal.slice(0, i) + (kind === 'delete' ? '' : c) + seal.slice(kind === 'insert' ? i : i + 1)
    fc.pre(text !== seal)
    assert.equal(await cookies.readSessionId(`cloakroom=${text}`), undefined)
  }), { numRuns: 1500 })
  await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1 }), async (suffix) => {
    assert.equal(await cookies.readSessionId(`cloakroom=${seal}${suffix.replaceAll(';', '')}`), suffix.replaceAll(';', '') === '' ? 'sid-exact' : undefined)
  }), { numRuns: 300 })
})

test('any string as the cookie is no session, and never a throw (property)', async () => {
  const { cookies } = await sealed()
  await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 1200 }), async (text) => {
    assert.equal(await cookies.readSessionId(`cloakroom=${text}`), undefined)
  }), { numRuns: 500 })
  await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary-ascii', maxLength: 1200 }), async (header) => {
    assert.equal(await cookies.readSessionId(header), undefined)
  }), { numRuns: 500 })
})

test('in any Cookie header, the session is the first cookie of our name when it is exactly the seal, else none (property)', async () => {
  const { cookies, seal } = await sealed()
  const noSemicolon = (unit: 'binary' | 'grapheme-ascii') => fc.string({ unit, maxLength: 40 }).map((text) => text.replaceAll(';', ''))
  const ows = fc.constantFrom('', ' ', '  ', '\t')
  const entry = fc.oneof(
    fc.record({ ours: fc.constant(true), name: fc.tuple(ows, ows).map(([a, b]) => `${a}cloakroom${b}`), value: fc.constant(seal) }),
    fc.record({ ours: fc.constant(true), name: fc.constant('cloakroom'), value: fc.oneof(noSemicolon('binary'), fc.constant(`${seal} `), fc.constant(` ${seal}`), fc.constant(seal.slice(1))) }),
    fc.record({ ours: fc.constant(false), name: noSemicolon('grapheme-ascii').map((name) => name.replaceAll('=', '')).filter((name) => name.trim() !== 'cloakroom'), value: fc.oneof(noSemicolon('binary'), fc.constant(seal)) }),
  )
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(entry, ows), { maxLength: 8 }), async (entries) => {
    const header = entries.map(([{ name, value }, space]) => `${space}${name}=${value}`).join(';')
    const first = entries.map(([e]) => e).find((e) => e.ours)
    assert.equal(await cookies.readSessionId(header), first?.value === seal ? 'sid-exact' : undefined)
  }), { numRuns: 500 })
})

test('an opened seal is remembered by its text only: another spelling of it neither hits nor fills the cache', async () => {
  let clock = 1_000
  const cookies = createSessionCookies(config([NEW]), false, () => clock)
  const seal = valueOf(await cookies.sessionCookie('sid-cached'))
  assert.equal(await cookies.readSessionId(`cloakroom=${seal}`), 'sid-cached')
  for (const text of [`${seal}x`, seal.replace(/~2$/, '~3'), `${seal.slice(0, -3)} ${seal.slice(-3)}`]) {
    assert.equal(await cookies.readSessionId(`cloakroom=${text}`), undefined)
  }
  clock += 59_000
  assert.equal(await cookies.readSessionId(`cloakroom=${seal}`), 'sid-cached')
})

// --- One login cookie per login ---

const stateA = 'state-a-0123456789-0123456789-0123456789abc'
const stateB = 'state-b-0123456789-0123456789-0123456789abc'
const nameOf = (setCookie: string) => setCookie.slice(0, setCookie.indexOf('='))

test('each login has its own cookie, named for its state, sealed, always SameSite=Lax, ten minutes', async () => {
  const cookies = createSessionCookies(config([NEW], { sameSite: 'strict' }), false)
  const a = await cookies.loginCookie(stateA, 'binding-a')
  const b = await cookies.loginCookie(stateB, 'binding-b')
  assert.match(a, /^cloakroom-login-[\w-]{10}=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/)
  assert.notEqual(nameOf(a), nameOf(b))
  assert.ok(!a.includes('binding-a') && !a.includes(stateA))
  const header = `cloakroom=x; ${nameOf(a)}=${valueOf(a)}; ${nameOf(b)}=${valueOf(b)}`
  assert.equal(await cookies.readLoginBinding(header, stateA), 'binding-a')
  assert.equal(await cookies.readLoginBinding(header, stateB), 'binding-b')
  // Another login's cookie under this login's name, a session seal, or another spelling: nothing.
  assert.equal(await cookies.readLoginBinding(`${nameOf(b)}=${valueOf(a)}`, stateB), 'binding-a')
  assert.equal(await cookies.readLoginBinding(`${nameOf(a)}=${valueOf(a)}`, stateB), undefined)
  assert.equal(await cookies.readLoginBinding(`${nameOf(a)}=${valueOf(await cookies.sessionCookie('s'))}`, stateA), undefined)
  assert.equal(await cookies.readLoginBinding(`${nameOf(a)}=${valueOf(a)}x`, stateA), undefined)
  assert.equal(await cookies.readSessionId(`cloakroom=${valueOf(a)}`), undefined)
  assert.match(cookies.clearLoginCookie(stateA), new RegExp(`^${nameOf(a)}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=`))
})

test('isOwnCookie: the session cookie and every login cookie, nothing else', async () => {
  const cookies = createSessionCookies(config([NEW], { cookieName: '__Host-cloakroom' }), true)
  const login = nameOf(await cookies.loginCookie(stateA, 'b'))
  assert.match(login, /^__Host-cloakroom-login-/)
  for (const name of ['__Host-cloakroom', login, '__Host-cloakroom-login', '__Host-cloakroom-login-anything']) {
    assert.equal(cookies.isOwnCookie(name), true, name)
  }
  for (const name of ['cloakroom', '__Host-cloakroom2', '__host-cloakroom', '__Host-cloakroom-loginx', 'x__Host-cloakroom', '']) {
    assert.equal(cookies.isOwnCookie(name), false, name)
  }
  const { isOwnCookie } = cookies
  assert.equal(isOwnCookie(login), true)
})

test('clearLoginCookies: keeps the newest intact ones, clears the rest, the old single login cookie, and junk', async () => {
  const cookies = createSessionCookies(config([NEW]), false)
  const made = []
  for (const state of ['s1', 's2', 's3']) {
    made.push(await cookies.loginCookie(state, state))
    await new Promise((resolve) => setTimeout(resolve, 3))
  }
  const pairs = made.map((line) => `${nameOf(line)}=${valueOf(line)}`)
  const header = ['cloakroom=abc', 'other=1', pairs[1], 'cloakroom-login=old', pairs[2], pairs[0], 'cloakroom-login-junk=xyz'].join('; ')
  const cleared = (keep: number) => cookies.clearLoginCookies(header, keep).map(nameOf).sort()
  const [n1 = '', n2 = '', n3 = ''] = made.map(nameOf)
  assert.deepEqual(cleared(2), ['cloakroom-login', 'cloakroom-login-junk', n1].sort())
  assert.deepEqual(cleared(1), ['cloakroom-login', 'cloakroom-login-junk', n1, n2].sort())
  assert.deepEqual(cleared(0), ['cloakroom-login', 'cloakroom-login-junk', n1, n2, n3].sort())
  assert.deepEqual(cleared(3), ['cloakroom-login', 'cloakroom-login-junk'].sort())
  assert.deepEqual(cookies.clearLoginCookies('cloakroom=abc; other=1', 0), [])
  for (const line of cookies.clearLoginCookies(header, 0)) assert.match(line, /=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0; /)
})

test('loginCookiesToClear: expired seals go, then the oldest beyond keep (age read from the seal\'s clear-text expiry)', async () => {
  const { seal } = await sealed()
  const expiring = (at: number) => seal.split('*').map((field, i) => (i === 5 ? String(at) : field)).join('*')
  assert.equal(exactSealExpiry(expiring(5_000)), 5_000)
  const carried: [string, string][] = [['a', expiring(3_000)], ['b', expiring(9_000)], ['c', expiring(1_500)], ['d', expiring(7_000)], ['e', 'junk']]
  assert.deepEqual(loginCookiesToClear(carried, 2, 2_000), ['c', 'e', 'a'])
  assert.deepEqual(loginCookiesToClear(carried, 10, 2_000), ['c', 'e'])
  assert.deepEqual(loginCookiesToClear(carried, 0, 0), ['e', 'b', 'd', 'a', 'c'])
  assert.equal(PENDING_LOGIN_TTL, 600)
})

test('exactSealExpiry reads only the exact form sealData writes', async () => {
  const { seal } = await sealed()
  assert.ok(Math.abs((exactSealExpiry(seal) ?? 0) - (Date.now() + 43_200_000)) < 60_000)
  const [prefix = '', id = '', salt = '', iv = '', ciphertext = '', expiry = ''] = seal.split('*')
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  // 16 bytes in 22 characters leave 4 unused bits: the canonical last character has them all zero.
  const otherBits = alphabet[alphabet.indexOf(iv.at(-1) ?? '') + 1] ?? ''
  const fields = (changed: Record<number, string>) => seal.split('*').map((field, i) => changed[i] ?? field).join('*')
  for (const text of [fields({ 0: `${prefix}0` }), fields({ 1: `0${id}` }), fields({ 2: salt.toUpperCase() }), fields({ 3: iv.slice(0, -1) + otherBits }),
    fields({ 4: `${ciphertext}AA` }), fields({ 4: ciphertext.slice(0, -1) }), fields({ 5: `0${expiry}` }), fields({ 5: '' }), seal.slice(0, -2), `${seal}~2`, '', 'Fe26.2']) {
    assert.notEqual(text, seal)
    assert.equal(exactSealExpiry(text), undefined, text.slice(0, 40))
  }
})
