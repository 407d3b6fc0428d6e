export { createOidcClient, discoveryUrl, isLoopbackHttp, jwtExpiry } from './client.ts'
export type { OidcClient, AuthorizationRequest, CodeExchangeResult, LogoutTokenClaims, Refreshed, RefreshGrant } from './client.ts'
export type { CredentialsProof } from './prove-credentials.ts'
export { isIdpUnavailable, oauthErrorCode, toIdpError } from './idp-error.ts'
