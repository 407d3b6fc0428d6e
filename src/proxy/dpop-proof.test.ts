import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose'
import { dpopThumbprint, newDpopKey } from '../session/dpop-key.ts'
import { dpopProof } from './dpop-proof.ts'

test('a proof verifies with the key in its header, and says what RFC 9449 asks: typ, alg, jwk without d, htm, htu, iat, ath, a fresh jti', async () => {
  const key = newDpopKey()
  const token = 'an-access-token'
  const proof = dpopProof(key, { htm: 'POST', htu: 'https://api.example.com/orders', accessToken: token }, () => 1_700_000_000_500)
  const header = decodeProtectedHeader(proof)
  assert.equal(header.typ, 'dpop+jwt')
  assert.equal(header.alg, 'ES256')
  assert.deepEqual(Object.keys(header.jwk ?? {}).sort(), ['crv', 'kty', 'x', 'y'], 'the private part never leaves')
  const { payload } = await compactVerify(proof, await importJWK(header.jwk as JWK, 'ES256'))
  const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>
  assert.deepEqual({ ...claims, jti: typeof claims['jti'] }, {
    jti: 'string', htm: 'POST', htu: 'https://api.example.com/orders', iat: 1_700_000_000,
    ath: createHash('sha256').update(token).digest('base64url'),
  })
  assert.equal(await calculateJwkThumbprint(header.jwk as JWK), dpopThumbprint(key))
})

test('every proof is new (jti), carries the nonce when given, and follows a changed token', () => {
  const key = newDpopKey()
  const claims = (proof: string) => JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString()) as Record<string, string>
  const request = { htm: 'GET', htu: 'https://api.example.com/x', accessToken: 'one' }
  const jtis = new Set(Array.from({ length: 100 }, () => claims(dpopProof(key, request))['jti']))
  assert.equal(jtis.size, 100)
  assert.equal(claims(dpopProof(key, { ...request, nonce: 'n-1' }))['nonce'], 'n-1')
  assert.equal(claims(dpopProof(key, request))['nonce'], undefined)
  assert.equal(claims(dpopProof(key, { ...request, accessToken: 'two' }))['ath'], createHash('sha256').update('two').digest('base64url'))
})
