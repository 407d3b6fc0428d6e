import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import type { OidcClient } from '../oidc/index.ts'
import type { SessionCookies, Sessions, TokenRefresher } from '../session/index.ts'
import type { SessionStore } from '../store/index.ts'
import type { Metrics } from '../observability/metrics.ts'
import type { ConcurrencyLimit } from './middleware/concurrency-limit.ts'
import type { SessionSockets } from './session-sockets.ts'
import type { SessionStreams } from './session-streams.ts'

/** Everything the endpoints need, built once by server.ts. Time is a parameter (epoch milliseconds). */
export interface Deps {
  readonly config: Config
  readonly now: () => number
  readonly log: Logger
  readonly store: SessionStore
  readonly oidc: OidcClient
  readonly cookies: SessionCookies
  readonly sessions: Sessions
  readonly refresher: TokenRefresher
  readonly metrics: Metrics
  /** Forwarded requests and WebSockets in flight, per session or client address. */
  readonly inFlight: ConcurrencyLimit
  /** The WebSockets of each session, closed when it ends. */
  readonly sessionSockets: SessionSockets
  /** The event streams (GET /auth/events) of each session. */
  readonly sessionStreams: SessionStreams
}
