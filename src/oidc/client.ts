import * as client from 'openid-client'
import type { Config } from '../config/index.ts'
import type { DpopKey, TokenSet } from '../store/index.ts'
import { dpopThumbprint } from '../session/dpop-key.ts'
import { dpopKeyPair } from './dpop-handle.ts'
import { CloakroomError } from '../errors.ts'
import { createClientAuth } from './client-auth.ts'
import { describeIdpFailure } from './describe-failure.ts'
import { describeIssuer } from './issuer-features.ts'
import { probeResource, type ResourceProbe } from './probe-resource.ts'
import { clientRefusedError, isClientRefused, oauthErrorCode, toIdpError } from './idp-error.ts'
import { proveCredentials, type CredentialsProof } from './prove-credentials.ts'
import { createLogoutTokenValidator, type LogoutTokenClaims } from './logout-token.ts'

export interface AuthorizationRequest {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier: string
  /** Step-up and re-authentication (RFC 9470, OIDC Core §3.1.2.1): passed on to the issuer; `maxAge` also checked against `auth_time`. */
  readonly prompt?: string | undefined
  readonly acrValues?: string | undefined
  readonly maxAge?: number | undefined
  /** With oidc.dpop: the key the code is bound to (dpop_jkt) and the code grant proven with. */
  readonly dpopKey?: DpopKey | undefined
}

/** A refresh token grant: for the login's own token, or for one resource's (RFC 8707). */
export interface RefreshGrant {
  readonly refreshToken: string
  readonly expectedSub: string
  readonly resource?: string | undefined
  /** With oidc.dpop: the session's key, which the grant is proven with and the new tokens bound to. */
  readonly dpopKey?: DpopKey | undefined
}

export interface Refreshed {
  /** The new tokens: the presented refresh token where the issuer rotated none, no ID token where it sent none. */
  readonly tokens: Omit<TokenSet, 'idToken'> & { readonly idToken: string | undefined }
  /** The claims of a new ID token, when the issuer sent one. */
  readonly claims: Readonly<Record<string, unknown>> | undefined
}

export interface CodeExchangeResult {
  readonly tokens: TokenSet
  readonly claims: Readonly<Record<string, unknown>> & { readonly sub: string }
}

/** Everything Cloakroom asks of the issuer. The only module that talks to openid-client. */
export interface OidcClient {
  /** True once the issuer's discovery document is loaded, and the issuer can serve this configuration. */
  readonly ready: boolean
  /** Once discovered: why the issuer cannot serve this configuration (every other call is idp_unavailable then), or undefined. */
  readonly unfit: string | undefined
  /**
   * Loads discovery (once; retried on the next call after a failure), fit for this configuration or
   * not (see `unfit`). Throws idp_unavailable whose cause's message names the discovery URL and why
   * it failed ("connection refused (ECONNREFUSED)").
   */
  discover(): Promise<client.ServerMetadata>
  /** Whether the issuer takes `resource` (RFC 8707) in an authorization request (for `cloakroom check`). */
  probeResource(resource: string): Promise<ResourceProbe>
  /**
   * The routes' resources the issuer refuses (tried once): logins leave them out, so that they do
   * not fail, and their routes answer 503 idp_unavailable.
   */
  refusedResources(): Promise<string[]>
  /**
   * Proves the client's credentials at the token endpoint with a made-up code (for `cloakroom check`).
   * Throws idp_unavailable when discovery fails.
   */
  proveCredentials(): Promise<CredentialsProof>
  authorizationUrl(request: AuthorizationRequest): Promise<URL>
  /** Validates the callback (state, iss, code) and redeems the code (PKCE, nonce, ID token). */
  exchangeCode(callbackUrl: URL, request: AuthorizationRequest): Promise<CodeExchangeResult>
  /**
   * The refresh token grant. Returns the new tokens, and the new ID token's claims when the issuer
   * sent one, which must be about `expectedSub`. Throws session_expired for invalid_grant (the grant
   * is gone) or an ID token for another subject, and idp_unavailable for anything else (network,
   * timeout, 5xx, other refusals).
   */
  refresh(grant: RefreshGrant): Promise<Refreshed>
  /** RFC 7009 revocation; false when the issuer has no revocation endpoint. Throws idp_unavailable or bad_request. */
  revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean>
  /** The end-session URL with id_token_hint and post_logout_redirect_uri, or undefined when the issuer has none. */
  endSessionUrl(idToken: string | undefined): Promise<string | undefined>
  /** Validates a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6). Throws bad_request naming the reason. */
  validateLogoutToken(token: string): Promise<LogoutTokenClaims>
}

export interface OidcDeps {
  readonly config: Config
  /** Epoch milliseconds. */
  readonly now: () => number
  /** Replaces fetch for every call to the issuer (tests, instrumentation). */
  readonly fetch?: client.CustomFetch
}

// One DPoP handle per session key (and issuer configuration): the handle keeps the issuer's last
// nonce, so a session's next grant sends it at once instead of being told use_dpop_nonce again.
const dpopHandles = new WeakMap<DpopKey, { configuration: client.Configuration; handle: Promise<client.DPoPHandle> }>()

/**
 * openid-client's DPoP option for a grant with `key`: it signs the proof, and answers the issuer's
 * use_dpop_nonce by retrying once with the nonce.
 */
async function dpopOptions(configuration: client.Configuration, key: DpopKey | undefined): Promise<client.DPoPOptions | undefined> {
  if (key === undefined) return undefined
  let kept = dpopHandles.get(key)
  if (kept?.configuration !== configuration) {
    kept = { configuration, handle: dpopKeyPair(key).then((pair) => client.getDPoPHandle(configuration, pair)) }
    dpopHandles.set(key, kept)
  }
  return { DPoP: await kept.handle }
}

/** Plain http is allowed only for an issuer on a loopback address (tests, the demo), never in production. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
}

/** Where openid-client looks for the issuer's metadata (OpenID Connect Discovery 1.0 §4). */
export function discoveryUrl(issuer: URL): string {
  const url = new URL(issuer)
  url.pathname = `${url.pathname}/.well-known/openid-configuration`.replace('//', '/')
  return url.href
}

export type { LogoutTokenClaims } from './logout-token.ts'

/** Builds the client; reads the private key file now (private_key_jwt), so a bad one stops startup. */
export async function createOidcClient({ config, now, fetch }: OidcDeps): Promise<OidcClient> {
  const issuer = new URL(config.oidc.issuer)
  const clientAuth = await createClientAuth(config.oidc)
  const redirectUri = new URL(config.oidc.callbackPath, config.publicUrl).href
  let configuration: client.Configuration | undefined
  // Why the discovered issuer cannot serve this configuration (describeIssuer's failures), if it cannot.
  let unfit: string | undefined
  let pending: Promise<client.Configuration> | undefined

  async function load(): Promise<client.Configuration> {
    // Every ID token's signature is checked against the issuer's JWKS, also from the token endpoint
    // (where OIDC Core §3.1.3.7 would let TLS stand in for it): a forged or foreign key is refused.
    const execute = [client.enableNonRepudiationChecks, ...(isLoopbackHttp(issuer) ? [client.allowInsecureRequests] : [])]
    try {
      const loaded = await client.discovery(
        issuer,
        config.oidc.clientId,
        { redirect_uris: [redirectUri], response_types: ['code'] },
        clientAuth,
        { execute, timeout: config.timeouts.idp, ...(fetch === undefined ? {} : { [client.customFetch]: fetch }) },
      )
      // What cannot work with this configuration (no PKCE S256, PAR always without an endpoint, …).
      const failed = describeIssuer(loaded.serverMetadata(), config).filter((finding) => finding.verdict === 'FAILED')
      unfit = failed.length === 0 ? undefined : failed.map((finding) => `${finding.feature}: ${finding.detail}`).join('; ')
      configuration = loaded
      return loaded
    } catch (error) {
      // Whatever went wrong (unreachable, 404, not JSON), it is the issuer's side, never the user's.
      // The cause says where and why, for the log and `cloakroom check`; the message stays generic.
      const cause = new Error(`${discoveryUrl(issuer)}: ${describeIdpFailure(error)}`, { cause: error })
      cause.name = 'DiscoveryFailed'
      throw new CloakroomError('idp_unavailable', 'The identity provider is unavailable', { cause })
    } finally {
      pending = undefined
    }
  }

  const resources = [...new Set(config.routes.flatMap((route) => route.resource ?? []))]
  const scope = config.oidc.scopes.join(' ')
  const getManual = fetch === undefined ? undefined : (url: URL, init: { redirect: 'manual' }) => fetch(url.href, { ...init, method: 'GET', headers: {} } as client.CustomFetchOptions)
  const probe = (loaded: client.Configuration, resource: string) => probeResource(loaded, redirectUri, scope, resource, usesPar(loaded.serverMetadata()), getManual)
  // The resources logins ask for: every route's, less those the issuer refuses (one refused resource
  // would fail every login). Tried once per process; a route whose resource is left out answers 503.
  let grantable: Promise<{ asked: string[]; refused: string[] }> | undefined
  const grantableResources = (loaded: client.Configuration) => {
    grantable ??= Promise.all(resources.map(async (resource) => ({ resource, verdict: (await probe(loaded, resource)).verdict }))).then((probes) => ({
      asked: probes.filter(({ verdict }) => verdict !== 'refused').map(({ resource }) => resource),
      refused: probes.filter(({ verdict }) => verdict === 'refused').map(({ resource }) => resource),
    }))
    return grantable
  }

  /** PAR per oidc.pushedAuthorizationRequests: always, never, or (auto) when the issuer offers it. */
  const usesPar = (metadata: client.ServerMetadata) => config.oidc.pushedAuthorizationRequests === 'always' ||
    (config.oidc.pushedAuthorizationRequests === 'auto' && metadata.pushed_authorization_request_endpoint !== undefined)

  /** The issuer's configuration as discovered, fit for this configuration or not. */
  async function discovered(): Promise<client.Configuration> {
    if (configuration !== undefined) return configuration
    pending ??= load()
    return pending
  }

  /** The issuer's configuration, to use: idp_unavailable while it cannot serve this configuration. */
  async function current(): Promise<client.Configuration> {
    const loaded = await discovered()
    if (unfit === undefined) return loaded
    const cause = Object.assign(new Error(unfit), { name: 'IssuerUnfit' })
    throw new CloakroomError('idp_unavailable', 'The identity provider is unavailable', { cause })
  }
  // A max_age in authorizationParams is asked of every login that sets none itself.
  const configuredMaxAge = /^(?:0|[1-9]\d{0,8})$/.test(config.oidc.authorizationParams['max_age'] ?? '') ? Number(config.oidc.authorizationParams['max_age']) : undefined
  const effectiveMaxAge = (maxAge: number | undefined) => maxAge ?? configuredMaxAge
  const validateLogoutToken = createLogoutTokenValidator({
    metadata: async () => (await current()).serverMetadata(),
    clientId: config.oidc.clientId,
    timeoutMs: config.timeouts.idp * 1000,
    now,
    ...(fetch === undefined ? {} : { fetch: fetch as unknown as typeof globalThis.fetch }),
  })

  return {
    get ready() { return configuration !== undefined && unfit === undefined },
    get unfit() { return unfit },

    async discover() {
      return (await discovered()).serverMetadata()
    },

    async proveCredentials() {
      return proveCredentials(await discovered(), redirectUri, config.oidc)
    },

    async probeResource(resource) {
      return probe(await discovered(), resource)
    },

    async refusedResources() {
      return resources.length === 0 ? [] : (await grantableResources(await current())).refused
    },

    async authorizationUrl({ state, nonce, codeVerifier, prompt, acrValues, maxAge, dpopKey }) {
      const loaded = await current()
      const parameters = new URLSearchParams({
        ...config.oidc.authorizationParams,
        // A login's own prompt, acr_values and max_age (a step-up) win over the configured ones.
        ...(prompt === undefined ? {} : { prompt }),
        ...(acrValues === undefined ? {} : { acr_values: acrValues }),
        ...(maxAge === undefined ? {} : { max_age: String(maxAge) }),
        redirect_uri: redirectUri,
        response_type: 'code',
        scope,
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      })
      // RFC 8707: the grant covers every route's resource; each token is then asked for one of them.
      const { asked } = resources.length === 0 ? { asked: [] } : await grantableResources(loaded)
      for (const resource of asked) parameters.append('resource', resource)
      // RFC 9449 §10: the code is bound to the session's key; only a proof of it redeems the code.
      if (dpopKey !== undefined) parameters.set('dpop_jkt', dpopThumbprint(dpopKey))
      if (!usesPar(loaded.serverMetadata())) return client.buildAuthorizationUrl(loaded, parameters)
      try {
        // RFC 9126: the parameters go to the issuer from here; the browser carries client_id and request_uri only.
        return await client.buildAuthorizationUrlWithPAR(loaded, parameters)
      } catch (error) {
        // Unreachable: idp_unavailable; refused (invalid_client, invalid_target, …): "Login failed (code)".
        throw toIdpError(error, 'Login', config.oidc)
      }
    },

    async exchangeCode(callbackUrl, { state, nonce, codeVerifier, maxAge, dpopKey }) {
      const loaded = await current()
      try {
        // openid-client checks state, the `iss` parameter when the issuer advertises it (RFC 9207),
        // the ID token's signature, iss, aud, exp and nonce.
        const response = await client.authorizationCodeGrant(loaded, callbackUrl, {
          expectedState: state,
          expectedNonce: nonce,
          pkceCodeVerifier: codeVerifier,
          idTokenExpected: true,
          // auth_time no older than the max_age asked for (and present at all), by the login or the configuration.
          ...(effectiveMaxAge(maxAge) === undefined ? {} : { maxAge: effectiveMaxAge(maxAge) }),
        }, undefined, await dpopOptions(loaded, dpopKey))
        const claims = response.claims()
        if (claims === undefined || response.id_token === undefined) {
          throw new CloakroomError('bad_request', 'The identity provider returned no ID token')
        }
        return { tokens: tokenSetFrom(response, Math.floor(now() / 1000)), claims: { ...claims } }
      } catch (error) {
        throw toIdpError(error, 'Login', config.oidc)
      }
    },

    async refresh({ refreshToken, expectedSub, resource, dpopKey }) {
      const loaded = await current()
      let response: Awaited<ReturnType<typeof client.refreshTokenGrant>>
      try {
        response = await client.refreshTokenGrant(loaded, refreshToken, resource === undefined ? {} : { resource }, await dpopOptions(loaded, dpopKey))
      } catch (error) {
        // invalid_grant: the refresh token was revoked, expired or already used; the grant is gone.
        if (oauthErrorCode(error) === 'invalid_grant') {
          throw new CloakroomError('session_expired', 'The session has expired; please log in again', { cause: error })
        }
        // Anything else (unreachable, 5xx, or a refusal such as invalid_client that no user can
        // fix) keeps the session, to retry once the issuer or its configuration is right again.
        // A refused client is logged as such, naming the keys to check.
        const cause = isClientRefused(error) ? clientRefusedError(config.oidc, error) : error
        throw new CloakroomError('idp_unavailable', 'The identity provider is unavailable', { cause })
      }
      const next = tokenSetFrom(response, Math.floor(now() / 1000))
      const claims = response.claims()
      // OpenID Connect Core §12.2: a refreshed ID token must be about the same subject.
      if (claims !== undefined && claims.sub !== expectedSub) {
        throw new CloakroomError('session_expired', 'The identity provider answered for another subject')
      }
      return {
        tokens: { ...next, refreshToken: next.refreshToken ?? refreshToken, idToken: next.idToken || undefined },
        claims: claims === undefined ? undefined : { ...claims },
      }
    },

    async revoke(token, hint) {
      const loaded = await current()
      if (loaded.serverMetadata().revocation_endpoint === undefined) return false
      try {
        await client.tokenRevocation(loaded, token, { token_type_hint: hint })
        return true
      } catch (error) {
        throw toIdpError(error, 'Revocation', config.oidc)
      }
    },

    async endSessionUrl(idToken) {
      const loaded = await current()
      if (loaded.serverMetadata().end_session_endpoint === undefined) return undefined
      return client.buildEndSessionUrl(loaded, {
        post_logout_redirect_uri: config.oidc.postLogoutRedirectUri,
        ...(idToken === undefined || idToken === '' ? { client_id: config.oidc.clientId } : { id_token_hint: idToken }),
      }).href
    },

    validateLogoutToken,
  }
}

function tokenSetFrom(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, nowSeconds: number): TokenSet {
  const expiresIn = response.expiresIn()
  return {
    accessToken: response.access_token,
    accessTokenExpiresAt: expiresIn === undefined ? jwtExpiry(response.access_token) : nowSeconds + expiresIn,
    refreshToken: response.refresh_token,
    idToken: response.id_token ?? '',
    tokenType: response.token_type,
    scope: response.scope,
  }
}

/**
 * The `exp` of an access token that is a JWT, read without verifying it: only to know when to
 * refresh, for issuers that send no expires_in (RFC 6749 §5.1 makes it optional).
 */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1]
  if (token.split('.').length !== 3 || payload === undefined) return undefined
  try {
    const exp: unknown = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined
  } catch {
    return undefined
  }
}
