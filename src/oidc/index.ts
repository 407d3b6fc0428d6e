export { createOidcClient, isLoopbackHttp, jwtExpiry } from './client.ts'
export type { OidcClient, AuthorizationRequest, CodeExchangeResult, LogoutTokenClaims, Refreshed } from './client.ts'
export { isIdpUnavailable, oauthErrorCode, toIdpError } from './idp-error.ts'
