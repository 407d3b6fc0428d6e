import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface DemoApi { readonly url: string; stop(): Promise<void> }

/**
 * The demo's API: reports what reached it (never the whole token: a fingerprint) and who the
 * token belongs to, asked of the issuer's userinfo endpoint, as a real resource server would.
 */
export async function startDemoApi(userinfoEndpoint: () => Promise<string>, port = 0): Promise<DemoApi> {
  const server = createServer((req, res) => {
    void (async () => {
      const authorization = req.headers.authorization
      const token = authorization?.startsWith('Bearer ') === true ? authorization.slice(7) : undefined
      let user: unknown = null
      if (token !== undefined) {
        const answer = await fetch(await userinfoEndpoint(), { headers: { authorization: `Bearer ${token}` } })
        user = answer.ok ? await answer.json() : { error: `userinfo answered ${answer.status}` }
      }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({
        path: req.url,
        authorization: token === undefined ? null : `Bearer token, sha256 ${createHash('sha256').update(token).digest('hex').slice(0, 12)}…`,
        cookieHeader: req.headers.cookie ?? null,
        forwardedFor: req.headers['x-forwarded-for'] ?? null,
        user,
      }, null, 2))
    })().catch(() => {
      res.statusCode = 502
      res.end('{"error":"userinfo failed"}')
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
