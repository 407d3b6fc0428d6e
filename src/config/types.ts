/** Durations are held in seconds throughout. */
export type Seconds = number

export interface HostPort { readonly host: string; readonly port: number }

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

export interface OidcConfig {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string | undefined
  readonly tokenEndpointAuthMethod: TokenEndpointAuthMethod
  /** private_key_jwt only: absolute path of a PEM or JWK file (a relative one is resolved against the config file's folder). */
  readonly privateKeyFile: string | undefined
  readonly scopes: readonly string[]
  readonly authorizationParams: Readonly<Record<string, string>>
  readonly callbackPath: string
  readonly postLogoutRedirectUri: string
  /** Pushed authorization requests (RFC 9126): auto uses them when discovery advertises an endpoint. */
  readonly pushedAuthorizationRequests: 'auto' | 'always' | 'never'
  /** DPoP (RFC 9449): tokens bound to a key pair of each session; targets get proofs. */
  readonly dpop: boolean
}

export interface SessionConfig {
  /** Already adjusted: the `__Host-` prefix is dropped when publicUrl is plain http. */
  readonly cookieName: string
  readonly secrets: readonly string[]
  readonly sameSite: 'lax' | 'strict'
  readonly idleTimeout: Seconds
  readonly absoluteTimeout: Seconds
}

export type StoreConfig =
  | { readonly type: 'memory'; readonly keyPrefix: string }
  | { readonly type: 'redis'; readonly url: string; readonly keyPrefix: string }
  | { readonly type: 'redis-cluster'; readonly nodes: readonly string[]; readonly keyPrefix: string }
  | { readonly type: 'redis-sentinel'; readonly sentinels: readonly string[]; readonly masterName: string; readonly keyPrefix: string }

export type RouteTokenMode = 'user' | 'optional' | 'none'

export interface RouteConfig {
  /** Normalised: starts with "/", no trailing "/" except for the root route. */
  readonly path: string
  /** Origin plus optional base path, without a trailing "/" ("http://127.0.0.1:7000", "http://api:80/v1"). */
  readonly target: string | undefined
  /** A folder to serve instead of a target (index.html fallback); absolute, resolved like privateKeyFile. */
  readonly static: string | undefined
  readonly token: RouteTokenMode
  readonly stripPath: boolean
  readonly csrf: boolean
  /** Step-up (SPEC): the session's ID token `acr` must be one of these, else 401 step_up_required. */
  readonly acrValues: readonly string[] | undefined
  /** Step-up: the session's `auth_time` must be at most this many seconds ago. */
  readonly maxAge: number | undefined
  /** RFC 8707: the route forwards an access token issued for this resource (an absolute URI), not the login's. */
  readonly resource: string | undefined
}

export interface Config {
  readonly listen: HostPort
  readonly publicUrl: string
  /**
   * How many front proxies (load balancers, ingress) stand between the browser and Cloakroom, each adding
   * itself to X-Forwarded-For: the forwarding headers are believed from that many hops and no further.
   * 0 (`trustProxy: false`, the default) believes none of them; `true` means 1. At most 10.
   */
  readonly trustProxy: number
  readonly oidc: OidcConfig
  readonly session: SessionConfig
  readonly store: StoreConfig
  readonly tokens: { readonly refreshBefore: Seconds }
  readonly timeouts: { readonly idp: Seconds; readonly upstreamConnect: Seconds; readonly upstream: Seconds }
  readonly login: { readonly ratePerMinute: number }
  readonly metrics: { readonly listen: HostPort | null }
  /** The admin API's listener and bearer token (set together, or neither). */
  readonly admin: { readonly listen: HostPort | null; readonly token: string | undefined }
  readonly csrf: { readonly headerName: string }
  readonly routes: readonly RouteConfig[]
}
