import { ClientError, ResponseBodyError, AuthorizationResponseError, WWWAuthenticateChallengeError } from 'openid-client'
import type { OidcConfig } from '../config/index.ts'
import { CloakroomError } from '../errors.ts'

/** Who the client is and how it authenticates: enough to name the keys to check, never a secret. */
export type ClientIdentity = Pick<OidcConfig, 'clientId' | 'tokenEndpointAuthMethod'>

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

/**
 * The OAuth `error` code of a failed token or authorization response, if it was one. A token
 * endpoint may put it in a WWW-Authenticate challenge only (RFC 6749 §5.2: invalid_client as a 401).
 */
export function oauthErrorCode(error: unknown): string | undefined {
  if (error instanceof ResponseBodyError || error instanceof AuthorizationResponseError) return error.error
  if (error instanceof WWWAuthenticateChallengeError) return error.cause.find((challenge) => challenge.parameters.error !== undefined)?.parameters.error
  return undefined
}

/**
 * True when the token endpoint refused to authenticate the client: invalid_client, or a bare 401
 * challenge (RFC 6749 §5.2). No user can fix that; the configured credentials are wrong.
 */
export function isClientRefused(error: unknown): boolean {
  const code = oauthErrorCode(error)
  if (code !== undefined) return code === 'invalid_client'
  return error instanceof WWWAuthenticateChallengeError && error.status === 401
}

/** The config key that holds the credential each method presents. */
const CREDENTIAL_KEY = {
  client_secret_basic: 'oidc.clientSecret',
  client_secret_post: 'oidc.clientSecret',
  private_key_jwt: 'oidc.privateKeyFile',
  none: 'oidc.clientId',
} as const satisfies Record<OidcConfig['tokenEndpointAuthMethod'], string>

/** What an operator reads when the issuer refuses the client: the keys to check, never their values. */
export function clientRefusal({ clientId, tokenEndpointAuthMethod: method }: ClientIdentity): string {
  // The client id may be the wrong one too: an issuer answers invalid_client to an unknown client.
  const keys = [...new Set(['oidc.clientId', CREDENTIAL_KEY[method]])].join(', ')
  return `the issuer refused client ${JSON.stringify(clientId)} (invalid_client): check ${keys} and oidc.tokenEndpointAuthMethod (${method})`
}

/** The cause logged for a refused client: `clientRefusal`, with the issuer's own answer as its cause. */
export function clientRefusedError(client: ClientIdentity, error: unknown): Error {
  const refused = new Error(clientRefusal(client), { cause: error })
  refused.name = 'ClientRefused'
  return refused
}

/**
 * Translates an openid-client failure into a CloakroomError, keeping the original as `cause`. A
 * refused client (invalid_client) gets a cause that names the config keys to check, for the log;
 * the message, which the browser sees, names only the OAuth code.
 */
export function toIdpError(error: unknown, what: string, client?: ClientIdentity): CloakroomError {
  if (error instanceof CloakroomError) return error
  if (isIdpUnavailable(error)) {
    return new CloakroomError('idp_unavailable', 'The identity provider is unavailable', { cause: error })
  }
  const code = isClientRefused(error) ? 'invalid_client' : oauthErrorCode(error)
  const detail = code === undefined ? '' : ` (${code})`
  const cause = code === 'invalid_client' && client !== undefined ? clientRefusedError(client, error) : error
  return new CloakroomError('bad_request', `${what} failed${detail}`, { cause })
}
