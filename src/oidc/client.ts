import * as client from 'openid-client'
import type { Config } from '../config/index.ts'
import type { TokenSet } from '../store/index.ts'
import { CloakroomError } from '../errors.ts'
import { createClientAuth } from './client-auth.ts'
import { toIdpError } from './idp-error.ts'

export interface AuthorizationRequest { readonly state: string; readonly nonce: string; readonly codeVerifier: string }

export interface CodeExchangeResult {
  readonly tokens: TokenSet
  readonly claims: Readonly<Record<string, unknown>> & { readonly sub: string }
}

/** Everything Cloakroom asks of the issuer. The only module that talks to openid-client. */
export interface OidcClient {
  /** True once the issuer's discovery document is loaded. */
  readonly ready: boolean
  /** Loads discovery (once; retried on the next call after a failure). Throws idp_unavailable. */
  discover(): Promise<client.ServerMetadata>
  authorizationUrl(request: AuthorizationRequest): Promise<URL>
  /** Validates the callback (state, iss, code) and redeems the code (PKCE, nonce, ID token). */
  exchangeCode(callbackUrl: URL, request: AuthorizationRequest): Promise<CodeExchangeResult>
}

export interface OidcDeps {
  readonly config: Config
  /** Epoch milliseconds. */
  readonly now: () => number
  /** Replaces fetch for every call to the issuer (tests, instrumentation). */
  readonly fetch?: client.CustomFetch
}

/** Plain http is allowed only for an issuer on a loopback address (tests, the demo), never in production. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
}

export function createOidcClient({ config, now, fetch }: OidcDeps): OidcClient {
  const issuer = new URL(config.oidc.issuer)
  const redirectUri = new URL(config.oidc.callbackPath, config.publicUrl).href
  let configuration: client.Configuration | undefined
  let pending: Promise<client.Configuration> | undefined

  async function load(): Promise<client.Configuration> {
    const execute = isLoopbackHttp(issuer) ? [client.allowInsecureRequests] : []
    try {
      const loaded = await client.discovery(
        issuer,
        config.oidc.clientId,
        { redirect_uris: [redirectUri], response_types: ['code'] },
        await createClientAuth(config.oidc),
        { execute, timeout: config.timeouts.idp, ...(fetch === undefined ? {} : { [client.customFetch]: fetch }) },
      )
      configuration = loaded
      return loaded
    } catch (error) {
      throw toIdpError(error, 'Discovery')
    } finally {
      pending = undefined
    }
  }

  async function current(): Promise<client.Configuration> {
    if (configuration !== undefined) return configuration
    pending ??= load()
    return pending
  }

  return {
    get ready() { return configuration !== undefined },

    async discover() {
      const loaded = await current()
      const metadata = loaded.serverMetadata()
      if (metadata.code_challenge_methods_supported?.includes('S256') === false) {
        throw new CloakroomError('idp_unavailable', 'The issuer does not support PKCE S256')
      }
      return metadata
    },

    async authorizationUrl({ state, nonce, codeVerifier }) {
      const loaded = await current()
      return client.buildAuthorizationUrl(loaded, {
        ...config.oidc.authorizationParams,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: config.oidc.scopes.join(' '),
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      })
    },

    async exchangeCode(callbackUrl, { state, nonce, codeVerifier }) {
      const loaded = await current()
      try {
        // openid-client checks state, the `iss` parameter when the issuer advertises it (RFC 9207),
        // the ID token's signature, iss, aud, exp and nonce.
        const response = await client.authorizationCodeGrant(loaded, callbackUrl, {
          expectedState: state,
          expectedNonce: nonce,
          pkceCodeVerifier: codeVerifier,
          idTokenExpected: true,
        })
        const claims = response.claims()
        if (claims === undefined || response.id_token === undefined) {
          throw new CloakroomError('bad_request', 'The identity provider returned no ID token')
        }
        return { tokens: tokenSetFrom(response, Math.floor(now() / 1000)), claims: { ...claims } }
      } catch (error) {
        throw toIdpError(error, 'Login')
      }
    },
  }
}

function tokenSetFrom(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, nowSeconds: number): TokenSet {
  const expiresIn = response.expiresIn()
  return {
    accessToken: response.access_token,
    accessTokenExpiresAt: expiresIn === undefined ? undefined : nowSeconds + expiresIn,
    refreshToken: response.refresh_token,
    idToken: response.id_token ?? '',
    tokenType: response.token_type,
    scope: response.scope,
  }
}
