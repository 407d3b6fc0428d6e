import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { importJWK, SignJWT } from 'jose'
import { ACR_MFA, ACR_PASSWORD, finishAutoInteraction, handleDevInteraction, stepUpPolicy } from './idp-interactions.ts'
import Provider, { errors, type AdapterFactory, type AdapterPayload, type Configuration } from 'oidc-provider'

/** A relying party registered at the embedded provider. */
export interface IdpClient {
  readonly clientId: string
  readonly clientSecret: string
  readonly redirectUris: readonly string[]
  readonly postLogoutRedirectUris: readonly string[]
  /** Where the provider POSTs logout tokens when a session ends at the IdP (Back-Channel Logout 1.0). */
  readonly backchannelLogoutUri?: string
  /**
   * The client's registered token endpoint auth method (default client_secret_basic). oidc-provider
   * takes either secret method for either; with client_secret_post set here, an `Authorization: Basic`
   * header for this client is refused (401 invalid_client) at the token, revocation and introspection
   * endpoints, as a stricter IdP does.
   */
  readonly tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post'
}

export interface IdpOptions {
  readonly host?: string
  readonly port?: number
  readonly clients: readonly IdpClient[]
  /** Access token lifetime in seconds (default 300). */
  readonly accessTokenTtl?: number
  /**
   * 'dev': oidc-provider's own login and consent pages (the demo, browser tests);
   * 'auto': logs in `user` and grants consent without a page (tests that follow redirects).
   */
  readonly interactions: 'dev' | 'auto'
  /**
   * Serves the provider under this path instead of at the root: the issuer is the origin followed by
   * it, exactly as given (`/idp/` gives an issuer with a trailing slash), discovery is at
   * `<path>/.well-known/openid-configuration`, every endpoint and interaction below it; anything
   * outside it is 404. Default: at the root (issuer = origin).
   */
  readonly mountPath?: string
  /** Token revocation (RFC 7009): false → no revocation_endpoint in discovery, no route (default true). */
  readonly revocation?: boolean
  /**
   * The `iss` authorization response parameter (RFC 9207). oidc-provider 9 always sends it and always
   * advertises `authorization_response_iss_parameter_supported`; false removes both from its answers,
   * as an issuer that never implemented RFC 9207 (default true).
   */
  readonly issAuthResp?: boolean
  /** RP-Initiated Logout: false → no end_session_endpoint in discovery (default true). */
  readonly endSession?: boolean
  /** A new refresh token on every refresh grant (default true); false → the same one stays valid. */
  readonly rotateRefreshTokens?: boolean
  /** The algorithm of its signing key, used for ID tokens and logout tokens (default RS256). */
  readonly signingAlg?: 'RS256' | 'ES256'
  /**
   * Keeps every grant, token and session until it expires (default false). oidc-provider's own
   * in-memory adapter holds only about the 1,000 most recently used entries, some ten per login: past
   * about a hundred sessions it forgets the oldest grants, and their refresh fails with invalid_grant.
   */
  readonly unboundedStore?: boolean
  /** Pushed authorization requests (RFC 9126), advertised and served as oidc-provider does by default (default true). */
  readonly pushedAuthorizationRequests?: boolean
  /**
   * The APIs it issues tokens for (RFC 8707 resource indicators): a JWT access token whose `aud` is
   * the resource, signed with the IdP's key, lasting `ttl` seconds (default: accessTokenTtl). Any
   * other resource is invalid_target (default: none).
   */
  readonly resources?: Readonly<Record<string, { readonly ttl?: number }>>
  /** Back-Channel Logout 1.0: false → not advertised, and no logout tokens sent (default true). */
  readonly backchannelLogout?: boolean
  /** DPoP (RFC 9449), advertised and served as oidc-provider does by default (default true). */
  readonly dpop?: boolean
  /** DPoP proofs at the token endpoint must carry the IdP's nonce (use_dpop_nonce first; default false). */
  readonly dpopNonce?: boolean
}

/**
 * Rewrites a successful token endpoint answer: return the body to send instead (an object, sent as
 * JSON), or a string sent verbatim as `application/json` (malformed answers).
 */
export type TokenResponseTamper = (body: Record<string, unknown>, grantType: string) => Record<string, unknown> | string | Promise<Record<string, unknown> | string>

export interface Idp {
  readonly issuer: string
  readonly port: number
  /** Who 'auto' interactions log in next. */
  setUser(accountId: string): void
  /** Successful token endpoint calls, by grant_type (verified at the IdP, not by Cloakroom). */
  readonly grants: Record<string, number>
  /**
   * Token endpoint calls, by how the client authenticated: client_secret_basic (an Authorization
   * header), client_secret_post (client_secret in the body), none (neither).
   */
  readonly tokenEndpointAuth: Record<string, number>
  /** Grants the IdP revoked (token revocation, refresh token reuse) and back-channel logouts it delivered. */
  readonly revokedGrants: number
  readonly backchannelLogouts: number
  /** Token endpoint calls answered use_dpop_nonce (the client then retries with the nonce). */
  readonly dpopNonceChallenges: number
  /**
   * Holds every token endpoint call for `ms`: 'before' it is processed (a slow network: a caller
   * that gives up was never seen), or 'after' (a slow answer: the grant is done, tokens rotated).
   */
  setTokenDelay(ms: number, when?: 'before' | 'after'): void
  /**
   * Until cleared with undefined, every successful token endpoint answer goes through `tamper`
   * (a broken or hostile IdP, for tests). The grant itself is done as usual: codes are consumed.
   */
  setTokenResponseTamper(tamper: TokenResponseTamper | undefined): void
  /** Ends every grant of an account at the IdP, as an administrator would: its refresh tokens stop working. */
  revokeGrants(accountId: string): Promise<void>
  /**
   * The parameters an authorization request carried: those of its URL, or, for a pushed one (a URL
   * with only client_id and request_uri), those that were pushed (RFC 9126).
   */
  authorizationParams(url: string | URL): URLSearchParams
  /** From now on, `resource` is refused (invalid_target) wherever it is asked for, as if the IdP had dropped that API. */
  refuseResource(resource: string): void
  /** Signs a JWT with the IdP's own signing key (for crafted logout tokens). */
  sign(claims: Record<string, unknown>, header?: { typ?: string }): Promise<string>
  /** Stops answering (connections refused) while keeping all state; `resume` listens on the same port again. */
  halt(): Promise<void>
  resume(): Promise<void>
  stop(): Promise<void>
}

/** Any account id logs in (the demo accepts any username); alice and bob have proper names. */
function accountClaims(id: string): { sub: string; name: string; email: string } {
  const known: Readonly<Record<string, string>> = { alice: 'Alice Example', bob: 'Bob Example' }
  return { sub: id, name: known[id] ?? id, email: `${id}@example.com` }
}

/**
 * Starts oidc-provider configured like a strict production IdP: PKCE required for every client,
 * refresh tokens issued for offline_access and rotated on every use, short access tokens. The
 * optional settings (mountPath, revocation, issAuthResp, endSession, rotateRefreshTokens, signingAlg,
 * a client's tokenEndpointAuthMethod) describe other IdPs; left out, it is the demo's.
 */
export async function startIdp(options: IdpOptions): Promise<Idp> {
  const host = options.host ?? '127.0.0.1'
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve))
  const port = (server.address() as AddressInfo).port
  const mountPath = options.mountPath ?? ''
  if (mountPath !== '' && !mountPath.startsWith('/')) throw new Error(`mountPath must start with "/" (got ${JSON.stringify(mountPath)})`)
  // The routing prefix: '/idp/' and '/idp' both serve /idp/…; only the issuer keeps the slash.
  const prefix = mountPath.replace(/\/+$/, '')
  const issuer = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}${mountPath}`
  let user = 'alice'
  let tokenDelay = { ms: 0, when: 'before' as 'before' | 'after' }
  let tokenTamper: TokenResponseTamper | undefined
  const grants: Record<string, number> = {}
  const tokenEndpointAuth: Record<string, number> = {}
  const postOnly = new Set(options.clients.filter((client) => client.tokenEndpointAuthMethod === 'client_secret_post').map((client) => client.clientId))
  const counts = { revokedGrants: 0, backchannelLogouts: 0, dpopNonceChallenges: 0 }
  const grantsOf = new Map<string, Set<string>>()
  const pushed = new Map<string, URLSearchParams>()
  const refusedResources = new Set<string>()

  const signingAlg = options.signingAlg ?? 'RS256'
  const kid = signingAlg === 'RS256' ? 'demo-rs256' : 'demo-es256'
  const keyPair = signingAlg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const signingKey = keyPair.privateKey.export({ format: 'jwk' })
  const configuration: Configuration = {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: [...client.redirectUris],
      post_logout_redirect_uris: [...client.postLogoutRedirectUris],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? 'client_secret_basic',
      ...(signingAlg === 'RS256' ? {} : { id_token_signed_response_alg: signingAlg }),
      ...(client.backchannelLogoutUri === undefined || options.backchannelLogout === false ? {} : { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true }),
    })),
    jwks: { keys: [{ ...signingKey, kid, use: 'sig', alg: signingAlg }] as never },
    ...(options.unboundedStore === true ? { adapter: unboundedAdapter() } : {}),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    // Two strengths of sign-in: a password, or a password and a second factor (step-up, RFC 9470).
    acrValues: [ACR_PASSWORD, ACR_MFA],
    // A strict IdP for step-up: a login asking for acr_values its session does not have signs in
    // again (oidc-provider treats acr_values as voluntary otherwise, and would answer with the old acr).
    interactions: { policy: stepUpPolicy(), ...(prefix === '' ? {} : { url: (_ctx: unknown, interaction: { uid: string }) => `${prefix}/interaction/${interaction.uid}` }) },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    // acr in every ID token (oidc-provider otherwise sends it only when acr_values or the claims parameter ask).
    claims: { openid: ['sub', 'acr'], profile: ['name'], email: ['email'] },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => accountClaims(id) }),
    // oidc-provider drops offline_access unless the request says prompt=consent; issue a refresh
    // token to every client allowed the grant instead, as a typical production IdP does.
    // Profile claims in the ID token too, as most production IdPs do (oidc-provider's default keeps them for userinfo).
    conformIdTokenClaims: false,
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => options.rotateRefreshTokens ?? true,
    // A resource's own lifetime (its getResourceServerInfo accessTokenTTL) wins, as oidc-provider's default does.
    ttl: { AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? options.accessTokenTtl ?? 300, IdToken: 3600, RefreshToken: 14 * 24 * 3600, Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600 },
    // oidc-provider refuses to call loopback addresses (SSRF protection); this IdP's relying party
    // lives on loopback, so its back-channel logout calls go through a plain fetch.
    fetch: (url, init) => {
      const { dispatcher: _dispatcher, ...plain } = (init ?? {}) as RequestInit & { dispatcher?: unknown }
      return globalThis.fetch(url, plain)
    },
    features: {
      devInteractions: { enabled: options.interactions === 'dev' },
      revocation: { enabled: options.revocation ?? true },
      rpInitiatedLogout: { enabled: options.endSession ?? true },
      backchannelLogout: { enabled: options.backchannelLogout ?? true },
      pushedAuthorizationRequests: { enabled: options.pushedAuthorizationRequests ?? true },
      dPoP: { enabled: options.dpop ?? true, ...(options.dpopNonce === true ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}) },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (_ctx, resource) => {
          const api = options.resources?.[resource]
          if (api === undefined || refusedResources.has(resource)) throw new errors.InvalidTarget()
          return { scope: 'api', audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: api.ttl ?? options.accessTokenTtl ?? 300, jwt: { sign: { alg: signingAlg } } }
        },
      },
    },
  }
  const provider = new Provider(issuer, configuration)
  provider.on('grant.success', (ctx) => {
    const type = String(ctx.oidc.params?.['grant_type'] ?? 'unknown')
    grants[type] = (grants[type] ?? 0) + 1
  })

  provider.on('grant.revoked', () => { counts.revokedGrants++ })
  provider.on('backchannel.success', () => { counts.backchannelLogouts++ })
  provider.on('grant.error', (_ctx, error: { error?: string }) => { if (error.error === 'use_dpop_nonce') counts.dpopNonceChallenges++ })
  provider.on('grant.saved', (grant: { accountId?: string; jti: string }) => {
    if (grant.accountId === undefined) return
    grantsOf.set(grant.accountId, (grantsOf.get(grant.accountId) ?? new Set()).add(grant.jti))
  })
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || !['/token', '/token/revocation', '/token/introspection'].includes(ctx.path)) return next()
    const basicClient = basicClientId(ctx.get('authorization'))
    const count = (method: string) => { if (ctx.path === '/token') tokenEndpointAuth[method] = (tokenEndpointAuth[method] ?? 0) + 1 }
    if (basicClient !== undefined && postOnly.has(basicClient)) {
      count('client_secret_basic')
      ctx.status = 401
      ctx.set('www-authenticate', 'Basic realm="idp"')
      ctx.body = { error: 'invalid_client', error_description: 'this client authenticates with client_secret_post' }
      return
    }
    await next()
    count(basicClient !== undefined ? 'client_secret_basic' : ctx.oidc?.params?.['client_secret'] !== undefined ? 'client_secret_post' : 'none')
  })
  provider.use(async (ctx, next) => {
    await next()
    // What each pushed request carried, by its request_uri (without the client's credentials).
    const uri = (ctx.body as { request_uri?: unknown } | undefined)?.request_uri
    if (ctx.path !== '/request' || ctx.status !== 201 || typeof uri !== 'string') return
    const params = new URLSearchParams(Object.entries(ctx.oidc?.body ?? {})
      .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((one): [string, string] => [key, String(one)])))
    params.delete('client_secret')
    pushed.set(uri, params)
  })
  provider.use(async (ctx, next) => {
    const delayed = tokenDelay.ms > 0 && ctx.path === '/token' && ctx.method === 'POST'
    const { ms, when } = tokenDelay
    if (delayed && when === 'before') await new Promise((resolve) => setTimeout(resolve, ms))
    await next()
    if (delayed && when === 'after') await new Promise((resolve) => setTimeout(resolve, ms))
  })
  if (options.issAuthResp === false) {
    provider.use(async (ctx, next) => {
      await next()
      if (ctx.path.startsWith('/.well-known/') && typeof ctx.body === 'object' && ctx.body !== null) {
        delete (ctx.body as Record<string, unknown>)['authorization_response_iss_parameter_supported']
      }
      // Authorization responses (codes and errors alike) reach the client as redirects carrying iss.
      const location = ctx.response.get('location')
      if (ctx.status >= 300 && ctx.status < 400 && location !== '') {
        const url = new URL(location, ctx.href)
        if (url.searchParams.get('iss') === issuer) {
          url.searchParams.delete('iss')
          ctx.set('location', url.href)
        }
      }
    })
  }
  provider.use(async (ctx, next) => {
    await next()
    const tamper = tokenTamper
    if (tamper === undefined || ctx.path !== '/token' || ctx.method !== 'POST' || ctx.status !== 200) return
    if (typeof ctx.body !== 'object' || ctx.body === null) return
    const tampered = await tamper({ ...(ctx.body as Record<string, unknown>) }, String(ctx.oidc?.params?.['grant_type'] ?? 'unknown'))
    ctx.body = tampered
    if (typeof tampered === 'string') ctx.type = 'application/json'
  })

  const handle = provider.callback()
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (prefix !== '') {
      // Mounted as express or koa-mount would: oidc-provider reads the prefix from originalUrl.
      const url = req.url ?? '/'
      if (url !== prefix && !url.startsWith(`${prefix}/`)) {
        res.statusCode = 404
        res.end()
        return
      }
      Object.assign(req, { originalUrl: url })
      req.url = url.slice(prefix.length) || '/'
    }
    if (options.interactions === 'dev' && handleDevInteraction(provider, prefix, req, res)) return
    if (options.interactions === 'auto' && req.url?.startsWith('/interaction/')) {
      finishAutoInteraction(provider, req, res, user).catch(() => {
        res.statusCode = 500
        res.end('interaction failed')
      })
      return
    }
    void handle(req, res)
  })

  const close = () => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
  const privateKey = await importJWK({ ...signingKey, alg: signingAlg }, signingAlg)
  return {
    issuer,
    port,
    setUser: (accountId) => { user = accountId },
    grants,
    tokenEndpointAuth,
    get revokedGrants() { return counts.revokedGrants },
    get backchannelLogouts() { return counts.backchannelLogouts },
    get dpopNonceChallenges() { return counts.dpopNonceChallenges },
    setTokenDelay: (ms, when = 'before') => { tokenDelay = { ms, when } },
    setTokenResponseTamper: (tamper) => { tokenTamper = tamper },
    async revokeGrants(accountId) {
      for (const grantId of grantsOf.get(accountId) ?? []) {
        const grant = await provider.Grant.find(grantId)
        await grant?.destroy()
        await provider.RefreshToken.revokeByGrantId(grantId)
        await provider.AccessToken.revokeByGrantId(grantId)
      }
    },
    refuseResource: (resource) => { refusedResources.add(resource) },
    authorizationParams(url) {
      const params = new URL(url).searchParams
      const uri = params.get('request_uri')
      return uri === null ? params : new URLSearchParams(pushed.get(uri) ?? [])
    },
    sign: (claims, header = { typ: 'logout+jwt' }) =>
      new SignJWT(claims).setProtectedHeader({ alg: signingAlg, kid, ...header }).sign(privateKey),
    halt: close,
    resume: () => new Promise((resolve) => server.listen(port, host, resolve)),
    stop: close,
  }
}

/** oidc-provider's models whose entries belong to a grant (revoking the grant deletes them), as its memory adapter has them. */
const GRANTABLE: ReadonlySet<string> = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode'])

/**
 * oidc-provider's memory adapter without its size bound: one Map shared by every model, an entry
 * kept until it expires (dropped when next read after that, or by a sweep every 1,000 writes).
 */
function unboundedAdapter(): AdapterFactory {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>()
  const sessionByUid = new Map<string, string>()
  const byUserCode = new Map<string, string>()
  const grantMembers = new Map<string, Set<string>>()
  let writes = 0
  const read = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key)
    if (entry === undefined || entry.expiresAt > Date.now()) return entry?.payload
    entries.delete(key)
    return undefined
  }
  const sweep = () => {
    const now = Date.now()
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
  }
  return (model) => {
    const keyOf = (id: string) => `${model}:${id}`
    return {
      async upsert(id, payload, expiresIn) {
        if (++writes % 1000 === 0) sweep()
        const key = keyOf(id)
        entries.set(key, { payload, expiresAt: expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000 })
        if (model === 'Session' && payload.uid !== undefined) sessionByUid.set(payload.uid, id)
        if (payload.userCode !== undefined) byUserCode.set(payload.userCode, id)
        if (GRANTABLE.has(model) && payload.grantId !== undefined) {
          grantMembers.set(payload.grantId, (grantMembers.get(payload.grantId) ?? new Set()).add(key))
        }
      },
      find: async (id) => read(keyOf(id)),
      findByUid: async (uid) => {
        const id = sessionByUid.get(uid)
        return id === undefined ? undefined : read(keyOf(id))
      },
      findByUserCode: async (userCode) => {
        const id = byUserCode.get(userCode)
        return id === undefined ? undefined : read(keyOf(id))
      },
      async consume(id) {
        const payload = read(keyOf(id))
        if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000)
      },
      async destroy(id) {
        const key = keyOf(id)
        const payload = entries.get(key)?.payload
        entries.delete(key)
        if (payload?.uid !== undefined && sessionByUid.get(payload.uid) === id) sessionByUid.delete(payload.uid)
        if (payload?.userCode !== undefined && byUserCode.get(payload.userCode) === id) byUserCode.delete(payload.userCode)
        if (payload?.grantId !== undefined) grantMembers.get(payload.grantId)?.delete(key)
      },
      async revokeByGrantId(grantId) {
        for (const key of grantMembers.get(grantId) ?? []) entries.delete(key)
        grantMembers.delete(grantId)
      },
    }
  }
}

/** The client_id of an `Authorization: Basic` header (RFC 6749 §2.3.1: form-urlencoded), if it is one. */
function basicClientId(authorization: string): string | undefined {
  const [scheme, value] = authorization.split(' ')
  if (scheme?.toLowerCase() !== 'basic' || value === undefined) return undefined
  const decoded = Buffer.from(value, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) return undefined
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20'))
  } catch {
    return undefined
  }
}

export { ACR_MFA, ACR_PASSWORD, DEMO_OTP } from './idp-interactions.ts'
