import { createHash, generateKeyPairSync } from 'node:crypto'
import type { DpopKey } from '../store/index.ts'

/** A new P-256 key pair for one session's DPoP proofs (RFC 9449), as the private JWK the session keeps. */
export function newDpopKey(): DpopKey {
  const { x, y, d } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
  if (x === undefined || y === undefined || d === undefined) throw new Error('P-256 key without x, y or d')
  return { kty: 'EC', crv: 'P-256', x, y, d }
}

/** The public half, as it goes into a proof's header. */
export function publicJwk({ kty, crv, x, y }: DpopKey): { kty: 'EC'; crv: 'P-256'; x: string; y: string } {
  return { kty, crv, x, y }
}

/** The key's JWK SHA-256 thumbprint (RFC 7638): `dpop_jkt`, and the `cnf.jkt` of the tokens bound to it. */
export function dpopThumbprint({ crv, kty, x, y }: DpopKey): string {
  // The required members in lexicographic order, no whitespace.
  return createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url')
}
