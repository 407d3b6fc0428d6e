/** The closed set of error codes Cloakroom reports (SPEC "Errors"). */
export type ErrorCode =
  | 'unauthenticated' | 'session_expired' | 'step_up_required' | 'csrf_required' | 'origin_mismatch'
  | 'bad_request' | 'not_found'
  | 'idp_unavailable' | 'store_unavailable' | 'upstream_unavailable' | 'rate_limited'

export interface CloakroomErrorOptions extends ErrorOptions {
  /** Overrides the code's usual status where SPEC gives one code two (504 for an upstream timeout). */
  status?: number
  /** Seconds, sent as Retry-After (rate_limited). */
  retryAfter?: number
  /** Where the browser signs in again, as the problem's `loginUrl` member (step_up_required). */
  loginUrl?: string
}

/**
 * The one error type. `message` is shown to the client, so it never holds a secret,
 * a token or a raw upstream message; the original error rides along as `cause` for the log.
 */
export class CloakroomError extends Error {
  readonly code: ErrorCode
  readonly status: number | undefined
  readonly retryAfter: number | undefined
  readonly loginUrl: string | undefined
  constructor(code: ErrorCode, message: string, options: CloakroomErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CloakroomError'
    this.code = code
    this.status = options.status
    this.retryAfter = options.retryAfter
    this.loginUrl = options.loginUrl
  }
}
