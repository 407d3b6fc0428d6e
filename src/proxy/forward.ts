import { Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { Duplex } from 'node:stream'
import { ProxyServer } from 'http-proxy-3'
import type { Config, RouteConfig } from '../config/index.ts'
import { CloakroomError } from '../errors.ts'
import { removeCookies } from '../session/index.ts'
import { upstreamPath } from './match-route.ts'

/** What a forwarded request carries besides the browser's own request. */
export interface ForwardOptions {
  readonly route: RouteConfig
  /** Added as `Authorization: Bearer …`; undefined forwards anonymously. */
  readonly accessToken: string | undefined
}

export interface Forwarder {
  /** Proxies a request; resolves when the response is finished or the connection is gone. Never rejects. */
  web(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): Promise<void>
  /** Proxies a WebSocket upgrade. */
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, options: ForwardOptions, onError: (error: CloakroomError) => void): void
  close(): void
}

/** Translates a proxy failure: a timeout (connect or answer) is 504, a refusal or reset 502 (SPEC "Errors"). */
export function upstreamError(error: unknown): CloakroomError {
  const code = (error as { code?: unknown } | null)?.code
  const timedOut = code === 'ECONNECT_TIMEOUT' || code === 'UPSTREAM_TIMEOUT'
  return new CloakroomError('upstream_unavailable', timedOut ? 'The upstream did not answer in time' : 'The upstream is unavailable',
    { status: timedOut ? 504 : 502, cause: error })
}

/**
 * Rewrites the request's headers in place for the target: our cookies and any incoming
 * Authorization are removed (a browser must never choose the upstream credential), the token
 * added, and X-Forwarded-* set from publicUrl, which is what the browser sees.
 */
function prepareHeaders(req: IncomingMessage, options: ForwardOptions, cookieNames: ReadonlySet<string>, config: Config): void {
  const headers = req.headers
  const publicUrl = new URL(config.publicUrl)
  // A client's own forwarding headers are believed only behind a trusted front proxy (trustProxy).
  const prior = config.trustProxy ? headers['x-forwarded-for'] : undefined
  if (!config.trustProxy) {
    for (const name of Object.keys(headers)) {
      if (name.startsWith('x-forwarded-') || name === 'x-real-ip' || name === 'forwarded') delete headers[name]
    }
  }
  delete headers['authorization']
  // Node already answered "100 Continue"; forwarded, it would also keep http-proxy from arming our upstream timeout.
  delete headers['expect']
  const cookie = removeCookies(headers['cookie'], cookieNames)
  if (cookie === undefined) delete headers['cookie']
  else headers['cookie'] = cookie
  if (options.accessToken !== undefined) headers['authorization'] = `Bearer ${options.accessToken}`
  const remote = req.socket.remoteAddress ?? ''
  headers['x-forwarded-for'] = prior === undefined ? remote : `${String(prior)}, ${remote}`
  headers['x-forwarded-proto'] = publicUrl.protocol.slice(0, -1)
  headers['x-forwarded-host'] = publicUrl.host
  req.url = upstreamPath(options.route, req.url ?? '/')
}

export interface ForwarderDeps {
  readonly config: Config
  /** Our cookie names, stripped from forwarded requests. */
  readonly cookieNames: ReadonlySet<string>
  /** Answers a request the target failed (the HTTP layer owns the problem format). */
  readonly writeError: (res: ServerResponse, error: CloakroomError) => void
}

export function createForwarder({ config, cookieNames, writeError }: ForwarderDeps): Forwarder {
  const agentOptions = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' as const }
  const agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) }
  const proxy = new ProxyServer({
    changeOrigin: true,
    xfwd: false,
    ws: true,
    connectTimeout: config.timeouts.upstreamConnect * 1000,
  })
  // Without a listener an upstream error that escapes a callback would crash the process.
  proxy.on('error', () => {})
  proxy.on('proxyReq', (proxyReq) => {
    proxyReq.setTimeout(config.timeouts.upstream * 1000, () => {
      proxyReq.destroy(Object.assign(new Error('upstream timed out'), { code: 'UPSTREAM_TIMEOUT' }))
    })
  })

  const agentFor = (target: string) => (target.startsWith('https:') ? agents.https : agents.http)

  return {
    web(req, res, options) {
      const target = options.route.target
      if (target === undefined) throw new Error('web() needs a route with a target')
      prepareHeaders(req, options, cookieNames, config)
      return new Promise((resolve) => {
        res.once('close', () => resolve())
        proxy.web(req, res, { target, agent: agentFor(target) }, (error) => {
          writeError(res, upstreamError(error))
        })
      })
    },

    ws(req, socket, head, options, onError) {
      const target = options.route.target
      if (target === undefined) throw new Error('ws() needs a route with a target')
      prepareHeaders(req, options, cookieNames, config)
      proxy.ws(req, socket, head, { target, agent: agentFor(target) }, (error) => onError(upstreamError(error)))
    },

    close() {
      proxy.close()
      agents.http.destroy()
      agents.https.destroy()
    },
  }
}
