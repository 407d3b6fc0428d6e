import { createServer, type Server } from 'node:http'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'
import type { HostPort } from '../config/index.ts'
import { STORE_OPERATIONS } from './instrumented-store.ts'

/** Why a session ended (`cloakroom_sessions_ended_total{reason}`). */
export type SessionEndReason = 'logout' | 'backchannel_logout' | 'refresh_refused' | 'idle_timeout' | 'absolute_timeout' | 'admin' | 'user'
export type RefreshMetricOutcome = 'ok' | 'invalid_grant' | 'unavailable'
export type LoginResult = 'ok' | 'refused'
export type IdpOperation = 'discovery' | 'code_grant' | 'refresh' | 'revocation' | 'jwks' | 'end_session'
/** A target's answer by status class, or no answer: `timeout` (timeouts.upstream/upstreamConnect) or `error` (refused, reset). */
export type UpstreamOutcome = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'error'

/**
 * Cloakroom's Prometheus metrics, in a registry of their own. Every label value comes from a closed
 * set the caller names (a configured route path, an endpoint name, a status): never a raw request path.
 */
export interface Metrics {
  /** One answered request: `route` is a configured route path ("/api") or an endpoint ("/auth/login"). */
  observeRequest(route: string, method: string, status: number, seconds: number): void
  /** One forwarded request's wait for its target, from sending to the response head (or the failure). */
  observeUpstream(route: string, outcome: UpstreamOutcome, seconds: number): void
  refresh(outcome: RefreshMetricOutcome): void
  login(result: LoginResult): void
  sessionStarted(): void
  sessionEnded(reason: SessionEndReason): void
  /** A store call that failed; `operation` is the SessionStore method name (instrumentStore counts these). */
  storeError(operation: string): void
  idpError(operation: IdpOperation): void
  /** The Prometheus text exposition of every metric, the process defaults included. */
  render(): Promise<string>
  readonly contentType: string
}

const SECONDS = 1
const MS = SECONDS / 1000
/** 0.5 ms (a proxy's own work) to 10 s (a slow target), about ×2.5 per step. */
export const DURATION_BUCKETS: readonly number[] = [
  0.5 * MS, 1 * MS, 2.5 * MS, 5 * MS, 10 * MS, 25 * MS, 50 * MS, 100 * MS, 250 * MS, 500 * MS,
  1, 2.5, 5, 10,
]

const REFRESH_OUTCOMES = ['ok', 'invalid_grant', 'unavailable'] as const satisfies readonly RefreshMetricOutcome[]
const LOGIN_RESULTS = ['ok', 'refused'] as const satisfies readonly LoginResult[]
const SESSION_END_REASONS = ['logout', 'backchannel_logout', 'refresh_refused', 'idle_timeout', 'absolute_timeout', 'admin', 'user'] as const satisfies readonly SessionEndReason[]
const IDP_OPERATIONS = ['discovery', 'code_grant', 'refresh', 'revocation', 'jwks', 'end_session'] as const satisfies readonly IdpOperation[]

// Node's HTTP parser accepts only a fixed list of methods, but an exotic one still gets one series.
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** The status class of an answer from a route's target, as `observeUpstream` labels it. */
export function upstreamOutcome(status: number): UpstreamOutcome {
  if (status >= 500) return '5xx'
  if (status >= 400) return '4xx'
  if (status >= 300) return '3xx'
  if (status >= 200) return '2xx'
  return '1xx'
}

type Observe = (seconds: number) => void

export function createMetrics(): Metrics {
  // A registry per instance, never prom-client's global one: servers (and tests) in one process stay apart.
  const register = new Registry()
  collectDefaultMetrics({ register })

  const requestDuration = new Histogram({
    name: 'cloakroom_http_request_duration_seconds',
    help: 'Requests Cloakroom answered, by route (configured path or auth endpoint), method and status, with the time to answer',
    labelNames: ['route', 'method', 'status'],
    buckets: [...DURATION_BUCKETS],
    registers: [register],
  })
  const upstreamDuration = new Histogram({
    name: 'cloakroom_upstream_duration_seconds',
    help: 'Forwarded requests by route and outcome (status class, timeout or error), with the time until the target answered',
    labelNames: ['route', 'outcome'],
    buckets: [...DURATION_BUCKETS],
    registers: [register],
  })
  const refreshes = new Counter({
    name: 'cloakroom_token_refreshes_total',
    help: 'Refresh token grants sent to the issuer, by outcome',
    labelNames: ['outcome'],
    registers: [register],
  })
  const logins = new Counter({
    name: 'cloakroom_logins_total',
    help: 'Callbacks that completed a login (ok) or were refused',
    labelNames: ['result'],
    registers: [register],
  })
  const sessionsStarted = new Counter({
    name: 'cloakroom_sessions_started_total',
    help: 'Sessions created by a completed login',
    registers: [register],
  })
  const sessionsEnded = new Counter({
    name: 'cloakroom_sessions_ended_total',
    help: 'Sessions ended, by reason',
    labelNames: ['reason'],
    registers: [register],
  })
  const storeErrors = new Counter({
    name: 'cloakroom_store_errors_total',
    help: 'Session store calls that failed, by operation',
    labelNames: ['operation'],
    registers: [register],
  })
  const idpErrors = new Counter({
    name: 'cloakroom_idp_errors_total',
    help: 'Calls to the issuer that failed (unreachable, timed out, or an error answer), by operation',
    labelNames: ['operation'],
    registers: [register],
  })

  // Closed sets start at 0, so rate() and increase() see the first event and alerts can be written
  // against series that exist from the start.
  for (const outcome of REFRESH_OUTCOMES) refreshes.inc({ outcome }, 0)
  for (const result of LOGIN_RESULTS) logins.inc({ result }, 0)
  for (const reason of SESSION_END_REASONS) sessionsEnded.inc({ reason }, 0)
  for (const operation of IDP_OPERATIONS) idpErrors.inc({ operation }, 0)
  for (const operation of STORE_OPERATIONS) storeErrors.inc({ operation }, 0)
  sessionsStarted.inc(0)

  // The hot path (every proxied request): three Map lookups to a cached child, then prom-client's observe.
  // Nested maps, not a joined key: no string is built or number formatted per call.
  const requestChildren = new Map<string, Map<string, Map<number, Observe>>>()
  const upstreamChildren = new Map<string, Map<string, Observe>>()

  function requestChild(route: string, method: string, status: number): Observe {
    let byMethod = requestChildren.get(route)
    if (byMethod === undefined) requestChildren.set(route, byMethod = new Map())
    let byStatus = byMethod.get(method)
    if (byStatus === undefined) byMethod.set(method, byStatus = new Map())
    let observe = byStatus.get(status)
    if (observe === undefined) {
      const child = requestDuration.labels(route, KNOWN_METHODS.has(method) ? method : 'OTHER', String(status))
      byStatus.set(status, observe = (seconds) => child.observe(seconds))
    }
    return observe
  }

  function upstreamChild(route: string, outcome: string): Observe {
    let byOutcome = upstreamChildren.get(route)
    if (byOutcome === undefined) upstreamChildren.set(route, byOutcome = new Map())
    let observe = byOutcome.get(outcome)
    if (observe === undefined) {
      const child = upstreamDuration.labels(route, outcome)
      byOutcome.set(outcome, observe = (seconds) => child.observe(seconds))
    }
    return observe
  }

  return {
    observeRequest(route, method, status, seconds) {
      requestChild(route, method, status)(seconds)
    },
    observeUpstream(route, outcome, seconds) {
      upstreamChild(route, outcome)(seconds)
    },
    refresh(outcome) {
      refreshes.inc({ outcome })
    },
    login(result) {
      logins.inc({ result })
    },
    sessionStarted() {
      sessionsStarted.inc()
    },
    sessionEnded(reason) {
      sessionsEnded.inc({ reason })
    },
    storeError(operation) {
      storeErrors.inc({ operation })
    },
    idpError(operation) {
      idpErrors.inc({ operation })
    },
    render: () => register.metrics(),
    contentType: register.contentType,
  }
}

/** GET /metrics on its own listener (metrics.listen), apart from the public port; anything else is 404. */
export async function serveMetrics(metrics: Metrics, listen: HostPort): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(500).end(),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}
