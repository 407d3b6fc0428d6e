import { createServer, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { AddressInfo } from 'node:net'
import Koa, { type Middleware } from 'koa'
import { Router } from '@koa/router'
import type { Logger } from 'pino'
import type { CustomFetch } from 'openid-client'
import { configWarnings, type Config } from './config/index.ts'
import { CloakroomError } from './errors.ts'
import { createOidcClient } from './oidc/index.ts'
import { createSessionCookies, createSessions, createTokenRefresher, publicSessionId, type RefreshOutcome } from './session/index.ts'
import { createStore } from './store/index.ts'
import { createForwarder } from './proxy/index.ts'
import type { AppState } from './http/app-state.ts'
import type { Deps } from './http/deps.ts'
import { accessLog } from './http/middleware/access-log.ts'
import { describeCause, problemMiddleware, writeProblem } from './http/middleware/problem.ts'
import { healthHandler, readyHandler } from './http/health.ts'
import { loginHandler } from './http/login.ts'
import { callbackHandler } from './http/callback.ts'
import { userHandler } from './http/user.ts'
import { logoutGetHandler, logoutPostHandler } from './http/logout.ts'
import { backchannelLogoutHandler } from './http/backchannel.ts'
import { routesHandler } from './http/routes.ts'
import { createProxiedRoutes } from './http/proxied-routes.ts'
import { upgradeHandler } from './http/upgrade.ts'
import { createMetrics, serveMetrics } from './observability/metrics.ts'
import { instrumentStore } from './observability/instrumented-store.ts'
import { instrumentOidc } from './observability/instrumented-oidc.ts'
import { inSpan } from './observability/tracing.ts'
import { createConcurrencyLimit } from './http/middleware/concurrency-limit.ts'
import { createSessionSockets } from './http/session-sockets.ts'
import { createSessionStreams } from './http/session-streams.ts'
import { eventsHandler } from './http/events.ts'
import { clientScriptHandler } from './http/client-script.ts'
import { serveAdmin } from './http/admin.ts'
import { sessionDeleteHandler, sessionListHandler } from './http/session-list.ts'
import { createClientErrorHandler, createConnectHandler } from './http/client-error.ts'

const REFRESH_OUTCOME = {
  ok: 'access token refreshed',
  invalid_grant: 'refresh refused (invalid_grant): the session ended',
  unavailable: 'refresh failed: the issuer is unavailable; the session is kept',
} as const satisfies Record<RefreshOutcome, string>

/** Forwarded requests and WebSockets one session (or, without one, one client address) may have in flight. */
const MAX_IN_FLIGHT_PER_CLIENT = 64

export interface ServerOptions {
  readonly config: Config
  readonly log: Logger
  /** Epoch milliseconds; tests may pass a settable clock. */
  readonly now?: () => number
  /** Replaces fetch for calls to the issuer. */
  readonly fetch?: CustomFetch
  /** Tests only: shorter HTTP server timeouts than the production values below. */
  readonly httpTimeouts?: HttpTimeouts
  /**
   * Called when the issuer's discovery at startup shows it cannot serve this configuration (no PKCE
   * S256, PAR always without an endpoint, …): the CLI stops then. An unreachable issuer is only a warning.
   */
  readonly onUnfitIssuer?: (reason: string) => void
}

export interface HttpTimeouts {
  readonly headersMs?: number
  readonly requestMs?: number
  readonly keepAliveMs?: number
  readonly checkIntervalMs?: number
}

export interface RunningServer {
  readonly port: number
  /** Stops accepting, lets in-flight requests finish (at most `drainMs`), closes the store. */
  close(drainMs?: number): Promise<void>
}

/** Builds Deps, lists the middleware order once, and listens. */
export async function startServer({ config, log, now = Date.now, fetch, httpTimeouts = {}, onUnfitIssuer }: ServerOptions): Promise<RunningServer> {
  const metrics = createMetrics()
  const store = instrumentStore(await createStore(config.store, { secrets: config.session.secrets, log, now }), metrics)
  // Whatever ends a session, on whichever instance, publishes its end: its WebSockets here close then.
  const sessionSockets = createSessionSockets({ store, now })
  const sessionStreams = createSessionStreams({ store, now })
  const oidc = instrumentOidc(await createOidcClient({ config, now, ...(fetch === undefined ? {} : { fetch }) }), metrics)
  const cookies = createSessionCookies(config.session, config.publicUrl.startsWith('https:'), now)
  const sessions = createSessions({ store, cookies, timeouts: config.session, now, onExpired: (reason) => metrics.sessionEnded(reason) })
  const refresher = createTokenRefresher({
    store,
    refresh: (grant) => inSpan('cloakroom.refresh', {}, () => oidc.refresh(grant)),
    prepare: () => oidc.discover(),
    refreshBefore: config.tokens.refreshBefore,
    // The issuer timeout plus the store calls under the lock (a read and a write, 3 s each at most)
    // and a second to spare, so a live holder never outlives its lock.
    // A DPoP grant may take two calls (the issuer's use_dpop_nonce, then the retry), each timeouts.idp.
    lockTtlMs: ((config.oidc.dpop ? 2 : 1) * config.timeouts.idp + 7) * 1000,
    now,
    onRefresh: (outcome, sessionId) => {
      metrics.refresh(outcome)
      if (outcome === 'invalid_grant') metrics.sessionEnded('refresh_refused')
      log[outcome === 'ok' ? 'debug' : 'info']({ event: 'refresh', outcome, sid: publicSessionId(sessionId) }, REFRESH_OUTCOME[outcome])
    },
    onUnsaved: (outcome) => log[outcome === 'stored' ? 'info' : 'error']({ event: 'refresh_unsaved', outcome }, outcome === 'stored'
      ? 'refreshed tokens stored after a store outage'
      : 'refreshed tokens could not be stored; the session will need a new login'),
  })
  const inFlight = createConcurrencyLimit(MAX_IN_FLIGHT_PER_CLIENT)
  const deps: Deps = { config, now, log, store, oidc, cookies, sessions, refresher, metrics, inFlight, sessionSockets, sessionStreams }
  const csrf = { headerName: config.csrf.headerName.toLowerCase(), origin: new URL(config.publicUrl).origin }
  const forwarder = createForwarder({
    config, isOwnCookie: cookies.isOwnCookie, writeError: writeProblem,
    onUpstream: (route, outcome, seconds) => metrics.observeUpstream(route.path, outcome, seconds),
  })

  oidc.discover().then(async () => {
    if (oidc.unfit !== undefined) {
      log.error({ event: 'issuer_unfit', reason: oidc.unfit }, 'the issuer cannot serve this configuration')
      onUnfitIssuer?.(oidc.unfit)
      return
    }
    for (const resource of await oidc.refusedResources().catch(() => [])) {
      const routes = config.routes.filter((route) => route.resource === resource).map((route) => route.path)
      log.error({ event: 'resource_refused', resource, routes }, 'the issuer refuses this resource (invalid_target): logins leave it out, and its routes answer 503')
    }
  }, (error: unknown) => log.warn({ code: (error as CloakroomError).code, cause: describeCause((error as CloakroomError).cause) }, 'issuer discovery failed; will retry on demand'))
  if (config.publicUrl.startsWith('https:') && !config.session.cookieName.startsWith('__Host-')) {
    log.warn({ cookieName: config.session.cookieName }, 'session.cookieName lacks the __Host- prefix: a sibling subdomain could plant cookies for this origin')
  }
  if (config.publicUrl.startsWith('http:')) {
    log.warn({ publicUrl: config.publicUrl }, 'publicUrl is plain http: the session cookie loses its Secure flag and __Host- prefix, so anyone on the network can take it: for development only')
  }
  for (const warning of configWarnings(config)) log.warn({ event: 'config' }, warning)

  const router = new Router<AppState>()
  router.get('/healthz', healthHandler())
  router.get('/readyz', readyHandler(deps))
  router.get('/auth/login', traced('cloakroom.login', loginHandler(deps)))
  router.get(config.oidc.callbackPath, traced('cloakroom.callback', callbackHandler(deps)))
  router.get('/auth/user', userHandler(deps, csrf))
  router.post('/auth/logout', logoutPostHandler(deps, csrf))
  router.get('/auth/logout', logoutGetHandler(deps))
  router.post('/auth/backchannel-logout', backchannelLogoutHandler(deps))
  router.get('/auth/events', eventsHandler(deps, csrf))
  router.get('/auth/client.js', clientScriptHandler())
  router.get('/auth/sessions', sessionListHandler(deps, csrf))
  router.delete('/auth/sessions/:sid', sessionDeleteHandler(deps, csrf))

  // Behind n trusted proxies, the client is the address the outermost one saw: the nth X-Forwarded-For
  // entry from the right. Entries left of it are whatever the client sent (rate-limit bypass otherwise).
  const app = new Koa<AppState>({ proxy: config.trustProxy > 0, maxIpsCount: Math.max(1, config.trustProxy) })
  app.silent = true
  app.use(accessLog(log, metrics))
  app.use(problemMiddleware())
  app.use(router.routes())
  app.use(routesHandler(deps, csrf))
  const koa = app.callback()
  // A path the router serves begins with one of its paths (it matches case-insensitively, a trailing
  // slash allowed): only such a path asks it.
  const endpointStarts = router.stack.map((layer) => String(layer.path).toLowerCase())
  const proxied = createProxiedRoutes(deps, forwarder, csrf, (path, method) => {
    const lower = path.toLowerCase()
    return endpointStarts.some((start) => lower.startsWith(start)) && router.match(path, method).route
  })

  const server = createServer({
    // A browser sends its headers in one go; 20 s leaves room for a lossy mobile link and stops a
    // slowloris client from holding a socket longer (408 through the clientError handler).
    headersTimeout: httpTimeouts.headersMs ?? 20_000,
    // A request body must arrive within 5 min (Node's default, chosen here on purpose): room for a
    // large upload on a slow link, while a trickling one cannot hold a connection forever.
    requestTimeout: httpTimeouts.requestMs ?? 300_000,
    // Longer than the 60 s idle timeout of common load balancers, so the balancer, not Cloakroom,
    // closes an idle connection and never sends a request on one we are closing (a 502 there).
    keepAliveTimeout: httpTimeouts.keepAliveMs ?? 65_000,
    // Node checks the two timeouts above on this interval (30 s by default, which would let a
    // stalled client stay up to 30 s past them); walking the connection list every 2 s is cheap.
    connectionsCheckingInterval: httpTimeouts.checkIntervalMs ?? 2_000,
  }, (req, res) => {
    if (!proxied.serve(req, res)) koa(req, res)
  })
  const upgraded = new Set<Duplex>()
  server.on('upgrade', upgradeHandler(deps, forwarder, csrf, upgraded))
  server.on('clientError', createClientErrorHandler(log, { now }))
  // CONNECT is for forward proxies: answered 400 like any request we cannot serve, never dropped.
  server.on('connect', createConnectHandler(log, { now }))
  await listen(server, config.listen.port, config.listen.host)
  const port = (server.address() as AddressInfo).port
  const metricsServer = config.metrics.listen === null ? undefined : await serveMetrics(metrics, config.metrics.listen)
  const adminServer = config.admin.listen === null || config.admin.token === undefined ? undefined : await serveAdmin(deps, config.admin.listen, config.admin.token)

  return {
    port,
    async close(drainMs = 10_000) {
      // Event streams never end by themselves: end them now, and the browsers reconnect elsewhere.
      sessionStreams.close()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Keep-alive connections turn idle as their requests finish: close each one as soon as it does.
      const sweep = setInterval(() => server.closeIdleConnections(), 50)
      // At the deadline, whatever is left goes: slow requests and WebSockets (which never end by themselves).
      const deadline = setTimeout(() => {
        server.closeAllConnections()
        for (const socket of upgraded) socket.destroy()
      }, drainMs)
      server.closeIdleConnections()
      await closed
      clearInterval(sweep)
      clearTimeout(deadline)
      metricsServer?.close()
      adminServer?.close()
      sessionSockets.close()
      forwarder.close()
      await store.close()
    },
  }
}

/** A handler run in a span of its own (OpenTelemetry; nothing recorded until an SDK is registered). */
function traced(name: string, handler: Middleware<AppState>): Middleware<AppState> {
  return (ctx, next) => inSpan(name, {}, () => handler(ctx, next))
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
