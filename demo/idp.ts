import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { importJWK, SignJWT } from 'jose'
import Provider, { type Configuration } from 'oidc-provider'

/** A relying party registered at the embedded provider. */
export interface IdpClient {
  readonly clientId: string
  readonly clientSecret: string
  readonly redirectUris: readonly string[]
  readonly postLogoutRedirectUris: readonly string[]
  /** Where the provider POSTs logout tokens when a session ends at the IdP (Back-Channel Logout 1.0). */
  readonly backchannelLogoutUri?: string
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
  /** Grants the IdP revoked (token revocation, refresh token reuse) and back-channel logouts it delivered. */
  readonly revokedGrants: number
  readonly backchannelLogouts: number
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
 * refresh tokens issued for offline_access and rotated on every use, short access tokens.
 */
export async function startIdp(options: IdpOptions): Promise<Idp> {
  const host = options.host ?? '127.0.0.1'
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve))
  const port = (server.address() as AddressInfo).port
  const issuer = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  let user = 'alice'
  let tokenDelay = { ms: 0, when: 'before' as 'before' | 'after' }
  let tokenTamper: TokenResponseTamper | undefined
  const grants: Record<string, number> = {}
  const counts = { revokedGrants: 0, backchannelLogouts: 0 }
  const grantsOf = new Map<string, Set<string>>()

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })
  const configuration: Configuration = {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: [...client.redirectUris],
      post_logout_redirect_uris: [...client.postLogoutRedirectUris],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...(client.backchannelLogoutUri === undefined ? {} : { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true }),
    })),
    jwks: { keys: [{ ...signingKey, kid: 'demo-rs256', use: 'sig', alg: 'RS256' }] as never },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => accountClaims(id) }),
    // oidc-provider drops offline_access unless the request says prompt=consent; issue a refresh
    // token to every client allowed the grant instead, as a typical production IdP does.
    // Profile claims in the ID token too, as most production IdPs do (oidc-provider's default keeps them for userinfo).
    conformIdTokenClaims: false,
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    ttl: { AccessToken: options.accessTokenTtl ?? 300, IdToken: 3600, RefreshToken: 14 * 24 * 3600, Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600 },
    // oidc-provider refuses to call loopback addresses (SSRF protection); this IdP's relying party
    // lives on loopback, so its back-channel logout calls go through a plain fetch.
    fetch: (url, init) => {
      const { dispatcher: _dispatcher, ...plain } = (init ?? {}) as RequestInit & { dispatcher?: unknown }
      return globalThis.fetch(url, plain)
    },
    features: {
      devInteractions: { enabled: options.interactions === 'dev' },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
    },
  }
  const provider = new Provider(issuer, configuration)
  provider.on('grant.success', (ctx) => {
    const type = String(ctx.oidc.params?.['grant_type'] ?? 'unknown')
    grants[type] = (grants[type] ?? 0) + 1
  })

  provider.on('grant.revoked', () => { counts.revokedGrants++ })
  provider.on('backchannel.success', () => { counts.backchannelLogouts++ })
  provider.on('grant.saved', (grant: { accountId?: string; jti: string }) => {
    if (grant.accountId === undefined) return
    grantsOf.set(grant.accountId, (grantsOf.get(grant.accountId) ?? new Set()).add(grant.jti))
  })
  provider.use(async (ctx, next) => {
    const delayed = tokenDelay.ms > 0 && ctx.path === '/token' && ctx.method === 'POST'
    const { ms, when } = tokenDelay
    if (delayed && when === 'before') await new Promise((resolve) => setTimeout(resolve, ms))
    await next()
    if (delayed && when === 'after') await new Promise((resolve) => setTimeout(resolve, ms))
  })
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
    if (options.interactions === 'auto' && req.url?.startsWith('/interaction/')) {
      finishInteraction(provider, req, res, user).catch(() => {
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
  const privateKey = await importJWK({ ...signingKey, alg: 'RS256' }, 'RS256')
  return {
    issuer,
    port,
    setUser: (accountId) => { user = accountId },
    grants,
    get revokedGrants() { return counts.revokedGrants },
    get backchannelLogouts() { return counts.backchannelLogouts },
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
    sign: (claims, header = { typ: 'logout+jwt' }) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'demo-rs256', ...header }).sign(privateKey),
    halt: close,
    resume: () => new Promise((resolve) => server.listen(port, host, resolve)),
    stop: close,
  }
}

/** Completes login, then consent, for `accountId` without showing a page. */
async function finishInteraction(provider: Provider, req: IncomingMessage, res: ServerResponse, accountId: string): Promise<void> {
  const details = await provider.interactionDetails(req, res)
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false })
    return
  }
  const grant = new provider.Grant({ accountId: details.session?.accountId ?? accountId, clientId: String(details.params['client_id']) })
  grant.addOIDCScope(String(details.params['scope']))
  const grantId = await grant.save()
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
}
