import type { CryptoKeyPair } from 'openid-client'
import type { DpopKey } from '../store/index.ts'
import { publicJwk } from '../session/dpop-key.ts'

/** A session's DPoP key as the CryptoKeyPair openid-client signs its token endpoint proofs with. */
export async function dpopKeyPair(key: DpopKey): Promise<CryptoKeyPair> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' }
  const [privateKey, publicKey] = await Promise.all([
    crypto.subtle.importKey('jwk', { ...key }, algorithm, false, ['sign']),
    // Extractable: the proof's header carries it.
    crypto.subtle.importKey('jwk', publicJwk(key), algorithm, true, ['verify']),
  ])
  return { privateKey, publicKey }
}
