import type { CustomFetch } from 'openid-client'
import { loadConfig, type Config } from '../config/index.ts'

export const ISSUER = 'http://127.0.0.1:4000'
export const CLIENT_SECRET = 'unit-client-secret-0123456789'

/** What the fake token endpoint received. */
export interface TokenRequest {
  readonly authorization: string | null
  readonly body: URLSearchParams
}

/**
 * For unit tests: openid-client's customFetch answering as an issuer would. Discovery is served
 * (S256 advertised); the token endpoint answers with `token()`; anything else is a 404.
 */
export function fakeIssuer(token: (request: TokenRequest) => Response | Promise<Response>): { fetch: CustomFetch; requests: TokenRequest[] } {
  const requests: TokenRequest[] = []
  const fetch: CustomFetch = async (url, options) => {
    const { pathname } = new URL(url)
    if (pathname === '/.well-known/openid-configuration') {
      return Response.json({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/auth`,
        token_endpoint: `${ISSUER}/token`,
        jwks_uri: `${ISSUER}/jwks`,
        code_challenge_methods_supported: ['S256'],
      })
    }
    if (pathname === '/token') {
      const headers = new Headers(options.headers)
      const request = { authorization: headers.get('authorization'), body: new URLSearchParams(String(options.body)) }
      requests.push(request)
      return token(request)
    }
    return new Response('not found', { status: 404 })
  }
  return { fetch, requests }
}

/** A valid Config for the fake issuer: `oidc` overrides keys of its oidc section, `sections` whole sections. */
export function fakeIssuerConfig(oidc: Record<string, unknown> = {}, sections: Record<string, unknown> = {}): Config {
  return loadConfig(JSON.stringify({
    publicUrl: 'http://127.0.0.1:8080',
    oidc: { issuer: ISSUER, clientId: 'unit-client', clientSecret: CLIENT_SECRET, ...oidc },
    session: { secrets: ['s'.repeat(32)] },
    store: { type: 'memory' },
    routes: [{ path: '/api', target: 'http://127.0.0.1:1' }],
    ...sections,
  }), {})
}

/** A token endpoint error answer: a JSON body, and a WWW-Authenticate challenge when given. */
export function oauthError(status: number, body: Record<string, string> | undefined, challenge?: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(challenge === undefined ? {} : { 'www-authenticate': challenge }) }
  return new Response(body === undefined ? '' : JSON.stringify(body), { status, headers })
}
