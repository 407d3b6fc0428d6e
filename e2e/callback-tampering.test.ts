import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair, SignJWT } from 'jose'
import type { TokenResponseTamper } from '../demo/idp.ts'
import { startStack, type Stack } from './fixtures/stack.ts'
import { createCookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }

let stack: Stack
before(async () => { stack = await startStack() })
after(async () => { await stack.stop() })

/** The claims of a JWT, read without verifying it (the IdP's own ID token, to re-sign with changes). */
function claimsOf(jwt: unknown): Record<string, unknown> {
  assert.equal(typeof jwt, 'string', 'the IdP sent an ID token to tamper with')
  return JSON.parse(Buffer.from(String(jwt).split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

/** A token response whose ID token is the IdP's own, with `change` applied to its claims, re-signed by the IdP's key. */
function resigned(change: (claims: Record<string, unknown>) => Record<string, unknown>): TokenResponseTamper {
  return async (body) => ({ ...body, id_token: await stack.idp.sign(change(claimsOf(body['id_token'])), { typ: 'JWT' }) })
}

/** A token response whose ID token (the IdP's claims, or `change` of them) is signed by a key the IdP never published. */
function signedByAnotherKey(kid: string, change = (claims: Record<string, unknown>) => claims): TokenResponseTamper {
  return async (body) => {
    const { privateKey } = await generateKeyPair('RS256')
    const idToken = await new SignJWT(change(claimsOf(body['id_token']))).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(privateKey)
    return { ...body, id_token: idToken }
  }
}

const now = () => Math.floor(Date.now() / 1000)

/** Each a broken or hostile answer to the authorization code grant; refresh grants pass untouched. */
const CASES: Record<string, TokenResponseTamper> = {
  'bad JSON': () => '{"access_token":"at","token_type":"Bearer","id_token":"ey',
  'not a JSON object': () => '["access_token"]',
  'no id_token': ({ id_token: _dropped, ...body }) => body,
  'ID token with a wrong iss': resigned((claims) => ({ ...claims, iss: 'http://evil.example' })),
  'ID token for another audience': resigned((claims) => ({ ...claims, aud: 'another-client' })),
  'ID token expired': resigned((claims) => ({ ...claims, iat: now() - 7200, exp: now() - 3600 })),
  'ID token with a wrong nonce': resigned((claims) => ({ ...claims, nonce: 'not-the-nonce-of-this-login' })),
  'ID token without a nonce': resigned(({ nonce: _dropped, ...claims }) => claims),
  'ID token signed by another key (the IdP key id)': signedByAnotherKey('demo-rs256'),
  'ID token signed by another key (unknown key id)': signedByAnotherKey('attacker-key'),
  'ID token signed by another key, naming another subject': signedByAnotherKey('demo-rs256', (claims) => ({ ...claims, sub: 'mallory', name: 'Mallory' })),
  'ID token with alg none': (body) => {
    const claims = claimsOf(body['id_token'])
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`
    return { ...body, id_token: unsigned }
  },
  'ID token that is not a JWT': (body) => ({ ...body, id_token: 'hello' }),
}

/** Logs a fresh browser in while the IdP tampers with the code grant's answer; the callback's response. */
async function loginThrough(tamper: TokenResponseTamper) {
  const client = createCookieClient()
  let tampered = 0
  stack.idp.setTokenResponseTamper((body, grantType) => {
    if (grantType !== 'authorization_code') return body
    tampered++
    return tamper(body, grantType)
  })
  try {
    const { response, hops } = await client.follow(`${stack.cloakroom.url}/auth/login?returnTo=%2Finbox`)
    const body = await response.text()
    return { client, response, hops, body, tampered }
  } finally {
    stack.idp.setTokenResponseTamper(undefined)
  }
}

describe('an IdP that answers the code exchange with garbage', () => {
  const outcomes: string[] = []
  after(() => {
    for (const line of outcomes) console.log(line)
  })

  for (const [name, tamper] of Object.entries(CASES)) {
    test(`${name} → 400 "Sign-in problem" page, no session, no stack trace`, async (t) => {
      const grantsBefore = stack.idp.grants['authorization_code'] ?? 0
      const { client, response, hops, body, tampered } = await loginThrough(tamper)
      const callback = hops.find((hop) => hop.url.startsWith(`${stack.cloakroom.url}/auth/callback?`))
      const shown = /<p>([^<]*)<\/p>/.exec(body)?.[1]
      let outcome = `${callback?.status} ${callback?.location === undefined ? `${response.headers.get('content-type')}, "${shown ?? body.slice(0, 80)}"` : `→ ${callback.location}`}`
      if (client.cookies(stack.cloakroom.url).has('cloakroom')) {
        const user = await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })
        outcome += `, session created: /auth/user ${user.status} sub=${((await user.json()) as { sub?: string }).sub}`
      }
      t.diagnostic(`${name}: callback ${outcome}`)
      outcomes.push(`callback with ${name}: ${outcome}`)

      assert.equal(tampered, 1, 'the IdP tampered with exactly one code grant')
      assert.equal(stack.idp.grants['authorization_code'], grantsBefore + 1, 'the IdP completed the grant (only its answer was bad)')
      assert.ok(callback !== undefined, 'the redirect chain reached the callback')
      assert.equal(callback.status, 400, `the callback answered ${outcome}`)
      assert.equal(hops.at(-1), callback, 'the callback is the last hop')
      assert.equal(response.status, 400)
      assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8')
      assert.equal(response.headers.get('cache-control'), 'no-store')
      assert.match(body, /<title>Sign-in problem<\/title>/)
      assert.match(body, /<h1>Sign-in problem<\/h1>/)
      assert.doesNotMatch(body, /Error:|\n\s*at |\bat [\w.<>$]+ \(|node_modules|file:\/\/|\.ts:\d+/, 'no error name or stack frame in the page')

      // No session: the callback set no session cookie, and the jar's cookies open nothing.
      assert.deepEqual(callback.setCookies.filter((line) => line.startsWith('cloakroom=')), [])
      assert.equal(client.cookies(stack.cloakroom.url).get('cloakroom'), undefined)
      const user = await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })
      assert.equal(user.status, 401)
      assert.equal(((await user.json()) as { code: string }).code, 'unauthenticated')
    })
  }

  test('afterwards Cloakroom is healthy: no 500 was logged, and a normal login works', async (t) => {
    assert.equal((await fetch(`${stack.cloakroom.url}/healthz`)).status, 200)
    assert.equal((await fetch(`${stack.cloakroom.url}/readyz`)).status, 200)
    const unhandled = stack.cloakroom.output().split('\n').filter((line) => line.includes('"msg":"unhandled error"')).length
    t.diagnostic(`unhandled errors logged: ${unhandled}`)
    assert.equal(unhandled, 0)
    const { client, hops } = await stack.login('/inbox')
    assert.equal(hops.at(-1)?.url, `${stack.cloakroom.url}/inbox`)
    const api = await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })
    assert.equal(api.status, 200)
    assert.match(((await api.json()) as { headers: Record<string, string> }).headers['authorization'] ?? '', /^Bearer .+/)
  })
})
