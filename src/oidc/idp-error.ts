import { ClientError, ResponseBodyError, AuthorizationResponseError } from 'openid-client'
import { CloakroomError } from '../errors.ts'

/**
 * True when the issuer could not be reached or failed on its side (network error, timeout,
 * 5xx): the caller should keep its state and retry later, not treat it as a protocol failure.
 */
export function isIdpUnavailable(error: unknown): boolean {
  if (error instanceof TypeError) return true // fetch() network failure
  if (error instanceof ResponseBodyError) return error.status >= 500
  if (error instanceof ClientError) {
    if (error.code === 'OAUTH_TIMEOUT' || error.code === 'OAUTH_ABORT') return true
    const cause: unknown = error.cause
    if (cause instanceof Response) return cause.status >= 500
  }
  return false
}

/** The OAuth `error` code of a failed token or authorization response, if it was one. */
export function oauthErrorCode(error: unknown): string | undefined {
  if (error instanceof ResponseBodyError || error instanceof AuthorizationResponseError) return error.error
  return undefined
}

/** Translates an openid-client failure into a CloakroomError, keeping the original as `cause`. */
export function toIdpError(error: unknown, what: string): CloakroomError {
  if (error instanceof CloakroomError) return error
  if (isIdpUnavailable(error)) {
    return new CloakroomError('idp_unavailable', 'The identity provider is unavailable', { cause: error })
  }
  const code = oauthErrorCode(error)
  const detail = code === undefined ? '' : ` (${code})`
  return new CloakroomError('bad_request', `${what} failed${detail}`, { cause: error })
}
