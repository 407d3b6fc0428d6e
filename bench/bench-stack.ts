/**
 * What bench/run.ts and bench/profile.ts share: a target that answers at once, the e2e stack (real
 * oidc-provider, redis-server, Cloakroom as a child process) routing to it, and logged-in sessions.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startStack, type Stack } from '../e2e/fixtures/stack.ts'
import type { IdpClient } from '../demo/idp.ts'

export interface BenchStack {
  readonly stack: Stack
  /** The target's base URL (routes `/api` → it, `/public` → `<it>/base`). */
  readonly targetUrl: string
  /** One `Cookie` header value per logged-in session. */
  readonly cookies: string[]
  /** The Authorization header Cloakroom sends on `/api` (the floor sends one as long; `DPoP …` with oidc.dpop). */
  readonly authorization: string
  stop(): Promise<void>
}

/** A target that answers at once with JSON naming what it received (the e2e echo upstream waits for a timer). */
async function startTarget(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

export async function startBenchStack({ sessions, store = 'redis', config = {}, oidc, extraClients }: { sessions: number; store?: 'redis' | 'memory'; config?: Record<string, unknown>; oidc?: Record<string, unknown>; extraClients?: readonly IdpClient[] }): Promise<BenchStack> {
  const target = await startTarget()
  const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`
  const stack = await startStack({
    accessTokenTtl: 3600,
    config: {
      trustProxy: 1,
      session: { secrets: ['bench-session-secret-0123456789-abcdefghij'], idleTimeout: '1h' },
      routes: [
        { path: '/api', target: targetUrl, token: 'user' },
        { path: '/public', target: `${targetUrl}/base`, token: 'none', csrf: false, stripPath: true },
      ],
      ...(store === 'memory' ? { store: { type: 'memory' } } : {}),
      ...config,
    },
    logLevel: 'warn',
    ...(oidc === undefined ? {} : { oidc }),
    ...(extraClients === undefined ? {} : { extraClients }),
  })
  const stop = async () => {
    await stack.stop()
    target.closeAllConnections()
    await new Promise((resolve) => target.close(resolve))
  }
  try {
    const cookies: string[] = []
    for (let i = 0; i < sessions; i++) {
      const { client } = await stack.login()
      cookies.push(`cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`)
    }
    const seen = await fetch(`${stack.cloakroom.url}/api/x`, { headers: { cookie: cookies[0] ?? '', 'x-csrf': '1' } })
    const authorization = String(((await seen.json()) as { headers: Record<string, string> }).headers.authorization)
    if (!/^(Bearer|DPoP) /.test(authorization)) throw new Error(`token: user route sent no token: ${authorization}`)
    return { stack, targetUrl, cookies, authorization, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
