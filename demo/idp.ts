import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Provider, { type Configuration } from 'oidc-provider'

/** A relying party registered at the embedded provider. */
export interface IdpClient {
  readonly clientId: string
  readonly clientSecret: string
  readonly redirectUris: readonly string[]
  readonly postLogoutRedirectUris: readonly string[]
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

export interface Idp {
  readonly issuer: string
  readonly port: number
  /** Who 'auto' interactions log in next. */
  setUser(accountId: string): void
  /** Successful token endpoint calls, by grant_type (verified at the IdP, not by Cloakroom). */
  readonly grants: Record<string, number>
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
  const grants: Record<string, number> = {}

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
    })),
    jwks: { keys: [{ ...signingKey, kid: 'demo-rs256', use: 'sig', alg: 'RS256' }] as never },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email'], sid: ['sid'] } as never,
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => accountClaims(id) }),
    // oidc-provider drops offline_access unless the request says prompt=consent; issue a refresh
    // token to every client allowed the grant instead, as a typical production IdP does.
    // Profile claims in the ID token too, as most production IdPs do (oidc-provider's default keeps them for userinfo).
    conformIdTokenClaims: false,
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    ttl: { AccessToken: options.accessTokenTtl ?? 300, IdToken: 3600, RefreshToken: 14 * 24 * 3600, Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600 },
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

  return {
    issuer,
    port,
    setUser: (accountId) => { user = accountId },
    grants,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
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
