import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'

export interface DemoApi { readonly url: string; stop(): Promise<void> }

/** What the demo API needs to know of its issuer (from discovery). */
export interface IssuerEndpoints { readonly issuer: string; readonly userinfo_endpoint: string; readonly jwks_uri: string }

const fingerprint = (token: string) => `sha256 ${createHash('sha256').update(token).digest('hex').slice(0, 12)}…`

/**
 * The demo's API: reports what reached it (never a whole token: a fingerprint) and who the token
 * belongs to, as a real resource server would find out. A JWT access token (a route with its own
 * `resource`) is verified with the issuer's keys and its claims shown; an opaque Bearer token is
 * taken to the issuer's userinfo endpoint. A DPoP-bound token (DEMO_DPOP=1) shows its proof's claims:
 * only Cloakroom holds the key that userinfo would want a proof of.
 */
export async function startDemoApi(endpoints: () => Promise<IssuerEndpoints>, port = 0): Promise<DemoApi> {
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined

  async function whoIs(req: IncomingMessage, scheme: string, token: string): Promise<unknown> {
    const issuer = await endpoints()
    if (token.split('.').length === 3) {
      keys ??= createRemoteJWKSet(new URL(issuer.jwks_uri))
      const { payload } = await jwtVerify(token, keys, { issuer: issuer.issuer })
      return { verified: 'JWT access token, signature checked', sub: payload.sub, aud: payload.aud, scope: payload['scope'], cnf: payload['cnf'] }
    }
    if (scheme === 'DPoP') {
      const proof = typeof req.headers['dpop'] === 'string' ? decodeJwt(req.headers['dpop']) : undefined
      return { note: 'a DPoP-bound token: only Cloakroom holds the key a userinfo call would need a proof of', proof: proof && { htm: proof['htm'], htu: proof['htu'], jti: proof.jti, iat: proof.iat } }
    }
    const answer = await fetch(issuer.userinfo_endpoint, { headers: { authorization: `Bearer ${token}` } })
    return answer.ok ? await answer.json() : { error: `userinfo answered ${answer.status}` }
  }

  const server = createServer((req, res) => {
    void (async () => {
      const [, scheme = '', token] = /^(Bearer|DPoP) (\S+)$/.exec(req.headers.authorization ?? '') ?? []
      const user = token === undefined ? null : await whoIs(req, scheme, token).catch((error: unknown) => ({ error: String(error) }))
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({
        path: req.url,
        authorization: token === undefined ? null : `${scheme} token, ${fingerprint(token)}`,
        cookieHeader: req.headers.cookie ?? null,
        forwardedFor: req.headers['x-forwarded-for'] ?? null,
        user,
      }, null, 2))
    })().catch(() => {
      res.statusCode = 502
      res.end('{"error":"the demo API failed"}')
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const address = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}`,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
