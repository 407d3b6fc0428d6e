import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadConfig } from '../config/index.ts'
import { problemFor } from '../http/middleware/problem.ts'
import { createForwarder, type ForwardOptions } from './forward.ts'

/** For the forwarder's unit tests (not built into dist): a bare front server forwarding everything to one target. */
export interface Forwarding {
  /** The front server's URL. */
  readonly url: string
  close(): void
}

/**
 * Forwards every request to `targetPort` with an anonymous route (`token: none`), answering errors
 * as problems; `timeouts` and `maxSocketsPerTarget` as a test needs them, `options` added to each call.
 */
export async function startForwarding(targetPort: number, { timeouts, maxSocketsPerTarget, options = {} }: {
  timeouts?: { upstreamConnect: number; upstream: number }
  maxSocketsPerTarget?: number
  options?: Partial<ForwardOptions>
} = {}): Promise<Forwarding> {
  const config = loadConfig(JSON.stringify({
    publicUrl: 'http://127.0.0.1:1',
    oidc: { issuer: 'http://127.0.0.1:1', clientId: 'c', clientSecret: 'secret' },
    session: { secrets: ['a-session-secret-of-at-least-32-characters'] },
    store: { type: 'memory' },
    ...(timeouts === undefined ? {} : { timeouts }),
    routes: [{ path: '/', target: `http://127.0.0.1:${targetPort}`, token: 'none', csrf: false }],
  }), {})
  const route = config.routes[0]
  assert.ok(route !== undefined)
  const forwarder = createForwarder({
    config,
    isOwnCookie: () => false,
    writeError: (res, error) => {
      const problem = problemFor(error)
      res.writeHead(problem.status, problem.headers).end(problem.body)
    },
    ...(maxSocketsPerTarget === undefined ? {} : { maxSocketsPerTarget }),
  })
  const front = createServer((req, res) => void forwarder.web(req, res, { route, accessToken: undefined, ...options }))
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    close() {
      forwarder.close()
      front.closeAllConnections()
      front.close()
    },
  }
}
