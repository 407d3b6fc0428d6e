import type { Logger } from 'pino'
import type { SessionRecord } from '../store/index.ts'

/** What middleware leaves on `ctx.state` for the handlers after it. */
export interface AppState {
  log: Logger
  /** Set for browser navigations (login, callback): errors render as an HTML page, not problem+json. */
  page?: boolean
  session?: SessionRecord
  /** The configured route that served the request (its path), for metrics. */
  route?: string
}
