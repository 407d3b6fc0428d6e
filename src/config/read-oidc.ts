import { resolve } from 'node:path'
import type { OidcConfig, TokenEndpointAuthMethod } from './types.ts'
import { readPlainPath } from './paths.ts'
import { readHttpUrl } from './urls.ts'
import {
  describe, describeKind, gotNothing, isAbsent, isMapping, itemPath, keyPath, mismatch, type Problems, readBoolean, readChoice, readList,
  readMapping, readSecret, readString, required, requireString,
} from './validate.ts'
import { NO_ORIGINS, type OriginOf, type VariableOrigin } from './variable-origin.ts'

/** The keys of `oidc`. */
export const OIDC_KEYS: readonly string[] = [
  'issuer', 'clientId', 'clientSecret', 'tokenEndpointAuthMethod', 'privateKeyFile', 'scopes',
  'authorizationParams', 'callbackPath', 'postLogoutRedirectUri', 'pushedAuthorizationRequests', 'dpop',
]
const PAR_MODES = ['auto', 'always', 'never'] as const
const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']
const SECRET_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post']
const DEFAULT_SCOPES: readonly string[] = ['openid', 'profile', 'offline_access']

// Parameters of the authorization request that Cloakroom sets itself: overriding one would break
// state/nonce/PKCE checks (RFC 6749 §4.1.1, RFC 7636 §4.3) or the GET callback (response_mode).
const OWNED_PARAMS = [
  'state', 'nonce', 'code_challenge', 'code_challenge_method', 'redirect_uri', 'response_type', 'client_id',
  'scope', 'response_mode',
]

/**
 * Reads `oidc`. `publicUrl` is undefined when it was itself invalid; `baseDir` anchors privateKeyFile;
 * `origins` names the `${NAME}` variables a wrong client secret came from.
 */
export function readOidc(problems: Problems, value: unknown, publicUrl: string | undefined, baseDir: string, origins: OriginOf = NO_ORIGINS): OidcConfig {
  const oidc = readMapping(problems, 'oidc', value, OIDC_KEYS)
  // OpenID Connect Discovery §4.3: the issuer is compared byte for byte, so it is kept as written.
  const issuer = readHttpUrl(problems, 'oidc.issuer', oidc.issuer, { path: true, query: false }) === undefined ? '' : String(oidc.issuer)
  const clientId = requireString(problems, 'oidc.clientId', oidc.clientId) ?? ''
  // default: client_secret_basic, the method RFC 6749 §2.3.1 says every server supports
  const method = readChoice(problems, 'oidc.tokenEndpointAuthMethod', oidc.tokenEndpointAuthMethod, AUTH_METHODS, 'client_secret_basic')
  const methodValid = isAbsent(oidc.tokenEndpointAuthMethod) || oidc.tokenEndpointAuthMethod === method
  const secretOrigin = origins(['oidc', 'clientSecret'])
  const clientSecret = readSecret(problems, 'oidc.clientSecret', oidc.clientSecret, 1, secretOrigin)
  const privateKeyFile = readString(problems, 'oidc.privateKeyFile', oidc.privateKeyFile, '')
  if (methodValid) {
    checkCredentials(problems, method, oidc.clientSecret, oidc.privateKeyFile, secretOrigin)
  }
  const dpop = readBoolean(problems, 'oidc.dpop', oidc.dpop, false)
  return {
    issuer,
    clientId,
    clientSecret,
    tokenEndpointAuthMethod: method,
    privateKeyFile: privateKeyFile === '' ? undefined : resolve(baseDir, privateKeyFile),
    scopes: readScopes(problems, oidc.scopes),
    authorizationParams: readAuthorizationParams(problems, oidc.authorizationParams),
    // default: under /auth, next to the other endpoints
    callbackPath: isAbsent(oidc.callbackPath) ? '/auth/callback' : readPlainPath(problems, 'oidc.callbackPath', oidc.callbackPath) ?? '',
    postLogoutRedirectUri: readPostLogoutRedirectUri(problems, oidc.postLogoutRedirectUri, publicUrl),
    // default: auto, PAR whenever the issuer offers it (the authorization parameters stay out of the URL)
    pushedAuthorizationRequests: readChoice(problems, 'oidc.pushedAuthorizationRequests', oidc.pushedAuthorizationRequests, PAR_MODES, 'auto'),
    // default: false, Bearer tokens
    dpop,
  }
}

/** Exactly the credential the auth method needs: a secret, a key file, or neither. */
function checkCredentials(
  problems: Problems, method: TokenEndpointAuthMethod, secret: unknown, keyFile: unknown, secretOrigin: VariableOrigin | undefined,
): void {
  const wantsSecret = SECRET_METHODS.includes(method)
  const wantsKey = method === 'private_key_jwt'
  if (wantsSecret && isAbsent(secret)) {
    problems.push(required('oidc.clientSecret', `a non-empty string, for tokenEndpointAuthMethod ${method}${gotNothing(secretOrigin)}`))
  }
  if (!wantsSecret && !isAbsent(secret)) {
    problems.push(`oidc.clientSecret: only used with tokenEndpointAuthMethod client_secret_basic or client_secret_post (it is ${method})`)
  }
  if (wantsKey && isAbsent(keyFile)) {
    problems.push(required('oidc.privateKeyFile', 'a path to a PEM or JWK file, for tokenEndpointAuthMethod private_key_jwt'))
  }
  if (!wantsKey && !isAbsent(keyFile)) {
    problems.push(`oidc.privateKeyFile: only used with tokenEndpointAuthMethod private_key_jwt (it is ${method})`)
  }
}

function readScopes(problems: Problems, value: unknown): readonly string[] {
  // default: openid for the ID token, profile for the user endpoint's claims, offline_access for a refresh token
  if (isAbsent(value)) return DEFAULT_SCOPES
  const list = readList(problems, 'oidc.scopes', value, 'a list of scope names such as [openid, profile]')
  if (list === undefined) return DEFAULT_SCOPES
  const scopes: string[] = []
  list.forEach((item, index) => {
    if (isScopeToken(item)) scopes.push(item)
    else problems.push(mismatch(itemPath('oidc.scopes', index), 'a scope name without spaces or quotes', item))
  })
  if (!list.includes('openid')) {
    // Good scope names as written; anything else quoted, so that the line stays one line.
    problems.push(`oidc.scopes: must include "openid" (got [${list.map((item) => isScopeToken(item) ? item : describe(item)).join(', ')}])`)
  }
  return scopes
}

// RFC 6749 §3.3: scope tokens are separated by spaces, so one cannot contain a space.
function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(value)
}

function readAuthorizationParams(problems: Problems, value: unknown): Readonly<Record<string, string>> {
  // default: none beyond the protocol's own
  if (isAbsent(value)) return {}
  if (!isMapping(value)) {
    problems.push(mismatch('oidc.authorizationParams', 'a mapping of parameter names to values', value))
    return {}
  }
  const params: Record<string, string> = {}
  for (const [name, param] of Object.entries(value)) {
    const path = keyPath('oidc.authorizationParams', name)
    if (OWNED_PARAMS.includes(name)) {
      const where = name === 'scope' ? '; list scopes in oidc.scopes' : ''
      problems.push(`${path}: is set by Cloakroom and cannot be configured${where}`)
    } else if (typeof param === 'string' || typeof param === 'number' || typeof param === 'boolean') {
      params[name] = String(param)
    } else {
      problems.push(`${path}: must be a string, number or boolean (got ${describeKind(param)})`)
    }
  }
  return params
}

function readPostLogoutRedirectUri(problems: Problems, value: unknown, publicUrl: string | undefined): string {
  // default: the app's root, on the origin the browser already knows
  if (isAbsent(value)) return publicUrl === undefined ? '' : `${publicUrl}/`
  // Kept as written: the IdP compares it with its registered list exactly.
  return readHttpUrl(problems, 'oidc.postLogoutRedirectUri', value, { path: true, query: true }) === undefined ? '' : String(value)
}
