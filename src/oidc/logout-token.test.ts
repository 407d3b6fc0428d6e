import { test } from 'node:test'
import assert from 'node:assert/strict'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { ServerMetadata } from 'openid-client'
import { createLogoutTokenValidator } from './logout-token.ts'

const ISSUER = 'https://idp.example.com'
const metadata = async () => ({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }) as ServerMetadata

async function logoutToken(privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']): Promise<string> {
  return new SignJWT({ sid: 'idp-sid', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'logout+jwt' })
    .setIssuer(ISSUER).setAudience('client').setIssuedAt().setJti('jti-1')
    .sign(privateKey)
}

function validator(fetch: typeof globalThis.fetch) {
  return createLogoutTokenValidator({ metadata, clientId: 'client', timeoutMs: 1000, now: Date.now, fetch })
}

test('the issuer\'s keys unreachable or failing: idp_unavailable (503, so the IdP retries), not a bad token', async () => {
  const { privateKey } = await generateKeyPair('RS256')
  const token = await logoutToken(privateKey)
  const refused = validator(async () => { throw new TypeError('fetch failed') })
  await assert.rejects(refused(token), { code: 'idp_unavailable' })
  const failing = validator(async () => new Response('oops', { status: 500 }))
  await assert.rejects(failing(token), { code: 'idp_unavailable' })
})

test('keys fetched, and the token signed by another key: bad_request naming why', async () => {
  const [signer, other] = await Promise.all([generateKeyPair('RS256'), generateKeyPair('RS256')])
  const jwks = { keys: [{ ...(await exportJWK(other.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] }
  const validate = validator(async () => Response.json(jwks))
  await assert.rejects(validate(await logoutToken(signer.privateKey)), (error: Error & { code?: string }) =>
    error.code === 'bad_request' && /signature/.test(error.message))
  const good = validator(async () => Response.json({ keys: [{ ...(await exportJWK(signer.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] }))
  assert.equal((await good(await logoutToken(signer.privateKey))).sid, 'idp-sid')
})
