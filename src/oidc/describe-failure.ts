import { ClientError, ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client'
import { describeNetworkCode } from '../network-error.ts'

const codeOf = (value: unknown): string | undefined => {
  const code = (value as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/** A fetch failure's cause (`fetch failed` says nothing): "connection refused (ECONNREFUSED)", a TLS reason. */
function describeNetworkCause(cause: unknown): string {
  const code = codeOf(cause)
  const message = cause instanceof Error ? cause.message : ''
  if (code === undefined) return message === '' ? 'network error' : message
  // An AggregateError (every address of a host refused) has an empty message and the code.
  return describeNetworkCode(code, message === '' ? 'network error' : message)
}

/** The issuer a discovery document names where openid-client found it differs from oidc.issuer (a trailing slash, say). */
function issuerMismatch(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null || (cause as { attribute?: unknown }).attribute !== 'issuer') return undefined
  const issuer = ((cause as { body?: unknown }).body as { issuer?: unknown } | undefined)?.issuer
  return typeof issuer === 'string' ? issuer : undefined
}

/**
 * One line for an operator on why a call to the issuer failed: the network cause, the timeout, the
 * HTTP status or the OAuth error code. It never quotes a response body beyond its `error` code.
 */
export function describeIdpFailure(error: unknown): string {
  if (error instanceof TypeError && error.cause !== undefined) return describeNetworkCause(error.cause)
  if (error instanceof ResponseBodyError) return `${error.error} (HTTP ${error.status})`
  if (error instanceof WWWAuthenticateChallengeError) {
    const challenge = error.cause[0]
    return `${challenge?.parameters.error ?? `a ${challenge?.scheme ?? 'WWW-Authenticate'} challenge`} (HTTP ${error.status})`
  }
  if (error instanceof ClientError) {
    if (error.code === 'OAUTH_TIMEOUT') return 'no answer within timeouts.idp'
    const named = issuerMismatch(error.cause)
    if (named !== undefined) return `the document names the issuer ${JSON.stringify(named)}: oidc.issuer must be exactly that`
    if (error.cause instanceof Response) {
      const status = `HTTP ${error.cause.status}`
      return error.message === 'unexpected HTTP response status code' ? status : `${error.message} (${status})`
    }
    return error.message
  }
  if (error instanceof Error) {
    const code = codeOf(error)
    return code === undefined ? error.message : `${error.message} (${code})`
  }
  return String(error)
}
