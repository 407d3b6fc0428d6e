import { Agent as HttpAgent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { Readable, type Duplex } from 'node:stream'
import { ProxyServer } from 'http-proxy-3'
import type { Config, RouteConfig } from '../config/index.ts'
import { CloakroomError } from '../errors.ts'
import { removeCookies } from '../session/index.ts'
import { isInvalidTokenChallenge, isUseDpopNonceChallenge, outgoingHeaders, responseHeaders } from './forward-headers.ts'
import { dpopProof } from './dpop-proof.ts'
import type { DpopKey } from '../store/index.ts'
import { upstreamPath } from './match-route.ts'
import { createUpstreamDeadlines, type Watched } from './upstream-deadlines.ts'
import { stepUpChallenge, stepUpRequired } from '../session/step-up.ts'
import { upstreamOutcome, type UpstreamOutcome } from '../observability/metrics.ts'

/** What a forwarded request carries besides the browser's own request. */
export interface ForwardOptions {
  readonly route: RouteConfig
  /** Added as `Authorization: Bearer …` (or `DPoP …`, below); undefined forwards anonymously. */
  readonly accessToken: string | undefined
  /** The token's type as the issuer said: `DPoP` with a `dpopKey` sends it as a DPoP-bound token. */
  readonly tokenType?: string | undefined
  /** The session's DPoP key: every request gets a fresh proof for its method and URL (RFC 9449). */
  readonly dpopKey?: DpopKey | undefined
  /**
   * Called once when the target refuses the token (`WWW-Authenticate: Bearer error="invalid_token"`):
   * resolves to a new token, or rejects with the error the browser gets instead (SPEC "API routes").
   */
  readonly renewToken?: (() => Promise<string>) | undefined
  /** Sent to the browser as `X-Request-Id` with whatever answer it gets (unless the target's answer has one). */
  readonly requestId?: string
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

const timeoutError = (code: string, message: string) => Object.assign(new Error(message), { code })

export interface ForwarderDeps {
  readonly config: Config
  /** True for the names of our own cookies: never forwarded, and never set by a target. */
  readonly isOwnCookie: (name: string) => boolean
  /** Answers a request the target failed (the HTTP layer owns the problem format). */
  readonly writeError: (res: ServerResponse, error: unknown) => void
  /** Connections per target at most (default 1024); a request waiting for one counts against the connect timeout. */
  readonly maxSocketsPerTarget?: number
  /** Told of every attempt at a target: its answer's status class, or none (timeout, error), and how long it took. */
  readonly onUpstream?: (route: RouteConfig, outcome: UpstreamOutcome, seconds: number) => void
}

/**
 * Where a request keeps its current exchange (a property, not a WeakMap: a WeakMap entry per request
 * makes every garbage collection walk them as ephemerons).
 */
const EXCHANGE = Symbol('cloakroom.exchange')
type Exchanging = IncomingMessage & { [EXCHANGE]?: Exchange }

/** One forwarded exchange: what the 'proxyReq' and 'proxyRes' listeners and the deadlines need to know about it. */
interface Exchange extends Watched {
  /** The target answered; the exchange decides what the browser sees. */
  answered(proxyRes: IncomingMessage): void
  /** The connect deadline passed: whatever comes later is dropped. */
  abandoned: boolean
  /** The request to the target, once made: whether it went on a kept-alive connection tells a stale one. */
  request: ClientRequest | undefined
}

export function createForwarder({ config, isOwnCookie, writeError, maxSocketsPerTarget = 1024, onUpstream }: ForwarderDeps): Forwarder {
  const agentOptions = { keepAlive: true, maxSockets: maxSocketsPerTarget, maxFreeSockets: 64, scheduling: 'lifo' as const }
  const agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) }
  const connectMs = config.timeouts.upstreamConnect * 1000
  const deadlines = createUpstreamDeadlines(connectMs, config.timeouts.upstream * 1000)
  const publicUrl = new URL(config.publicUrl)
  // HTTP requests get the deadlines' connect and upstream timeouts (attempt()); WebSockets http-proxy-3's connect timeout.
  const proxy = new ProxyServer({ changeOrigin: true, xfwd: false, ws: true })
  // Without a listener an upstream error that escapes a callback would crash the process.
  proxy.on('error', () => {})
  proxy.on('proxyReq', (proxyReq, req) => {
    const exchange = (req as Exchanging)[EXCHANGE]
    if (exchange?.abandoned === true) {
      proxyReq.destroy()
      return
    }
    if (exchange !== undefined) exchange.request = proxyReq
  })
  proxy.on('proxyRes', (proxyRes, req) => (req as Exchanging)[EXCHANGE]?.answered(proxyRes))
  // Registered before http-proxy-3 writes the 101 to the browser: a handshake cannot set our cookies either.
  proxy.on('proxyReqWs', (proxyReq) => proxyReq.once('upgrade', (proxyRes: IncomingMessage) => {
    const cookies = responseHeaders({ 'set-cookie': proxyRes.headers['set-cookie'] ?? [] }, isOwnCookie)['set-cookie']
    if (cookies === undefined) delete proxyRes.headers['set-cookie']
    else proxyRes.headers['set-cookie'] = cookies as string[]
  }))

  const agentFor = (target: string) => (target.startsWith('https:') ? agents.https : agents.http)
  // What http-proxy-3 gets for each route's target, built once: it would otherwise parse the URL per request.
  const webOptions = new Map(config.routes.flatMap((route) => route.target === undefined ? [] : [[route.target, {
    target: new URL(route.target), agent: agentFor(route.target), selfHandleResponse: true,
  }] as const]))

  /** Rewrites the request's headers and target path, once, before the first attempt. */
  function prepare(req: IncomingMessage, route: RouteConfig, websocket: boolean): void {
    req.headers = outgoingHeaders(req.headers, {
      websocket,
      cookie: (header) => removeCookies(header, isOwnCookie),
      trustedHops: config.trustProxy,
      remoteAddress: req.socket.remoteAddress ?? '',
      proto: publicUrl.protocol.slice(0, -1),
      host: publicUrl.host,
    })
    req.url = upstreamPath(route, req.url ?? '/')
  }

  // Each target's last DPoP-Nonce (RFC 9449 §9), put in the next proof sent there.
  const dpopNonces = new Map<string, string>()

  /** The request's credentials for `target`: a Bearer token, or a DPoP-bound token with a fresh proof. */
  function withToken(req: IncomingMessage, token: string | undefined, target: string, options: ForwardOptions): void {
    if (token === undefined) {
      delete req.headers['authorization']
      return
    }
    if (!dpopBound(options)) {
      req.headers['authorization'] = `Bearer ${token}`
      return
    }
    req.headers['authorization'] = `DPoP ${token}`
    // htu: the URL the target receives, without query (the route's target is its origin and base path).
    const path = req.url ?? '/'
    const query = path.indexOf('?')
    const htu = target + (query === -1 ? path : path.slice(0, query))
    req.headers['dpop'] = dpopProof(options.dpopKey, { htm: req.method ?? 'GET', htu, accessToken: token, nonce: dpopNonces.get(target) })
  }

  /**
   * One attempt at the target; `retried` when the target refused the first token (or wanted its DPoP
   * nonce) and this is the second; `resent` when the first went on a kept-alive connection the
   * target had just closed.
   */
  function attempt(req: IncomingMessage, res: ServerResponse, target: string, options: ForwardOptions, retried: boolean, resent = false): void {
    const started = performance.now()
    const took = (outcome: UpstreamOutcome) => onUpstream?.(options.route, outcome, (performance.now() - started) / 1000)
    const previous = (req as Exchanging)[EXCHANGE]
    if (previous !== undefined) deadlines.unwatch(previous)
    const exchange: Exchange = {
      abandoned: false,
      deadline: undefined,
      request: undefined,
      answered: (proxyRes) => {
        took(upstreamOutcome(proxyRes.statusCode ?? 502))
        answer(req, res, proxyRes, target, options, retried)
      },
      connectExpired: () => {
        exchange.abandoned = true
        exchange.request?.destroy()
        took('timeout')
        fail(res, options, upstreamError(timeoutError('ECONNECT_TIMEOUT', 'no connection to the target in time')))
      },
      upstreamExpired: (request) => request.destroy(timeoutError('UPSTREAM_TIMEOUT', 'upstream timed out')),
    }
    ;(req as Exchanging)[EXCHANGE] = exchange
    // Watched before a socket is assigned: waiting for one of the target's connections counts too.
    deadlines.watch(exchange)
    const proxyOptions = webOptions.get(target) ?? { target, agent: agentFor(target), selfHandleResponse: true }
    // A second attempt sends no body: the browser's was read by the first (and only body-less requests go twice).
    proxy.web(req, res, retried || resent ? { ...proxyOptions, buffer: Readable.from([]) } : proxyOptions, (error) => {
      deadlines.unwatch(exchange)
      if (exchange.abandoned) return
      if (!resent && !res.headersSent && !hasBody(req) && staleConnection(exchange.request, error)) {
        // The target closed a kept-alive connection as this request went out on it (its idle timeout
        // raced ours): nothing reached it, so the request goes again, once, on another connection.
        took('error')
        attempt(req, res, target, options, retried, true)
        return
      }
      const failure = upstreamError(error)
      took(failure.status === 504 ? 'timeout' : 'error')
      fail(res, options, failure)
    })
  }

  function answer(req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage, target: string, options: ForwardOptions, retried: boolean): void {
    if (dpopBound(options) && dpopNonce(proxyRes, target, retried)) {
      // The target wants its nonce in the proof: a request without a body goes again with it, once.
      if (hasBody(req)) return relay(res, proxyRes, options)
      proxyRes.destroy()
      withToken(req, tokenOf(req), target, options)
      attempt(req, res, target, options, true)
      return
    }
    // RFC 9470: the target wants a stronger or fresher sign-in. The browser gets the login URL that
    // asks for it, never the target's own body.
    const stepUp = proxyRes.statusCode === 401 && options.accessToken !== undefined ? stepUpChallenge(proxyRes.headers['www-authenticate']) : undefined
    if (stepUp !== undefined) {
      proxyRes.destroy()
      fail(res, options, stepUpRequired(stepUp, 'The API needs a stronger or more recent sign-in'))
      return
    }
    const renew = options.renewToken
    if (renew === undefined || retried || options.accessToken === undefined || proxyRes.statusCode !== 401 ||
      !isInvalidTokenChallenge(proxyRes.headers['www-authenticate'])) {
      relay(res, proxyRes, options)
      return
    }
    // The token died before its time: renew it once; send again what has no body, pass the 401 on otherwise.
    renew().then((token) => {
      if (res.destroyed) return proxyRes.destroy()
      if (hasBody(req)) return relay(res, proxyRes, options)
      proxyRes.destroy()
      withToken(req, token, target, options)
      attempt(req, res, target, options, true)
    }, (error: unknown) => {
      proxyRes.destroy()
      fail(res, options, error)
    })
  }

  /**
   * Keeps the target's DPoP-Nonce (from any answer) for its next proof; true when this answer is a
   * use_dpop_nonce challenge that a retry could meet (not one already retried).
   */
  function dpopNonce(proxyRes: IncomingMessage, target: string, retried: boolean): boolean {
    const nonce = proxyRes.headers['dpop-nonce']
    if (typeof nonce !== 'string' || nonce === '' || nonce.length > 512) return false
    dpopNonces.set(target, nonce)
    return !retried && proxyRes.statusCode === 401 && isUseDpopNonceChallenge(proxyRes.headers['www-authenticate'])
  }

  /** Answers with the error instead of the target's answer. */
  function fail(res: ServerResponse, options: ForwardOptions, error: unknown): void {
    if (options.requestId !== undefined && !res.headersSent) res.setHeader('x-request-id', options.requestId)
    writeError(res, error)
  }

  /** Streams the target's answer; a target that fails mid-body ends the browser's response too (no hang). */
  function relay(res: ServerResponse, proxyRes: IncomingMessage, options: ForwardOptions): void {
    if (res.headersSent || res.destroyed) {
      proxyRes.destroy()
      return
    }
    // One object to writeHead and no setHeader before: Node then skips a setHeader call per header.
    const headers = responseHeaders(proxyRes.headers, isOwnCookie)
    if (options.requestId !== undefined && headers['x-request-id'] === undefined) headers['x-request-id'] = options.requestId
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers)
    proxyRes.on('close', () => {
      if (!proxyRes.complete) res.destroy()
    })
    proxyRes.pipe(res)
  }

  return {
    web(req, res, options) {
      const target = options.route.target
      if (target === undefined) throw new Error('web() needs a route with a target')
      // The browser left while the session was read or refreshed: its 'close' has been and gone, and
      // nothing is sent to the target for nobody.
      if (res.closed || res.destroyed) return Promise.resolve()
      prepare(req, options.route, false)
      withToken(req, options.accessToken, target, options)
      return new Promise((resolve) => {
        // Whatever the attempt, a closed response ends it: no deadline may fire after.
        res.once('close', () => {
          const exchange = (req as Exchanging)[EXCHANGE]
          if (exchange !== undefined) deadlines.unwatch(exchange)
          resolve()
        })
        attempt(req, res, target, options, false)
      })
    },

    ws(req, socket, head, options, onError) {
      const target = options.route.target
      if (target === undefined) throw new Error('ws() needs a route with a target')
      prepare(req, options.route, true)
      withToken(req, options.accessToken, target, options)
      proxy.ws(req, socket, head, { target, agent: agentFor(target), connectTimeout: connectMs }, (error) => onError(upstreamError(error)))
    },

    close() {
      deadlines.close()
      proxy.close()
      agents.http.destroy()
      agents.https.destroy()
    },
  }
}

/** The request went on a reused keep-alive connection, which the target reset or closed before any answer. */
function staleConnection(request: ClientRequest | undefined, error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return request?.reusedSocket === true && (code === 'ECONNRESET' || code === 'EPIPE')
}

/** The request sends a DPoP-bound token: the issuer said DPoP, and the session has the key for its proofs. */
function dpopBound(options: ForwardOptions): options is ForwardOptions & { readonly dpopKey: DpopKey } {
  return options.dpopKey !== undefined && options.tokenType?.toLowerCase() === 'dpop'
}

/** The access token the request carries now (after a renewal, not the one it started with). */
function tokenOf(req: IncomingMessage): string | undefined {
  return /^(?:Bearer|DPoP) (.+)$/.exec(req.headers['authorization'] ?? '')?.[1]
}

/** Whether the request carries a body (RFC 9112 §6.3): a Transfer-Encoding, or a Content-Length above 0. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}
