import { createHash, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto'
import type { DpopKey } from '../store/index.ts'
import { publicJwk } from '../session/dpop-key.ts'

interface Prepared {
  readonly privateKey: KeyObject
  /** The encoded JOSE header, the same for every proof of this key. */
  readonly header: string
  /** The last access token's `ath`, kept: most proofs of a session carry the same token. */
  last: { token: string; ath: string } | undefined
}

// Per key object: a hot session's record (and so its key) is shared by its requests until it changes.
const prepared = new WeakMap<DpopKey, Prepared>()

function prepare(key: DpopKey): Prepared {
  let entry = prepared.get(key)
  if (entry === undefined) {
    const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk(key) })).toString('base64url')
    entry = { privateKey: createPrivateKey({ key: { ...key }, format: 'jwk' }), header, last: undefined }
    prepared.set(key, entry)
  }
  return entry
}

/**
 * A fresh DPoP proof (RFC 9449 §4.2) for one request to a resource server: a new `jti` and `iat`
 * every time (a proof is never reused), `htm` and `htu` (the URL without query or fragment), `ath`
 * (the access token's SHA-256), and the server's `nonce` when it asked for one.
 */
export function dpopProof(key: DpopKey, request: { readonly htm: string; readonly htu: string; readonly accessToken: string; readonly nonce?: string | undefined }, now: () => number = Date.now): string {
  const entry = prepare(key)
  if (entry.last?.token !== request.accessToken) {
    entry.last = { token: request.accessToken, ath: createHash('sha256').update(request.accessToken).digest('base64url') }
  }
  const claims = { jti: randomUUID(), htm: request.htm, htu: request.htu, iat: Math.floor(now() / 1000), ath: entry.last.ath, ...(request.nonce === undefined ? {} : { nonce: request.nonce }) }
  const input = `${entry.header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  const signature = sign('sha256', Buffer.from(input), { key: entry.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}
