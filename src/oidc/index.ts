export { createOidcClient, isLoopbackHttp } from './client.ts'
export type { OidcClient, AuthorizationRequest, CodeExchangeResult, LogoutTokenClaims } from './client.ts'
export { isIdpUnavailable, oauthErrorCode, toIdpError } from './idp-error.ts'
