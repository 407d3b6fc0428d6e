import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, loadConfig } from './index.ts'

const SECRET = 's'.repeat(32)
// A valid config, one section a line, so that a row can replace one section or add another.
const BASE: Readonly<Record<string, string>> = {
  publicUrl: 'publicUrl: https://app.example.com',
  oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: client-secret }',
  session: `session: { secrets: [${SECRET}] }`,
  routes: 'routes: [{ path: /api, target: "http://127.0.0.1:7000" }]',
}

/** BASE with some sections replaced (or dropped, with ''); new names add a section at the end. */
function yamlWith(sections: Record<string, string>): string {
  return `${Object.values({ ...BASE, ...sections }).filter((text) => text !== '').join('\n')}\n`
}

interface Row { readonly name: string; readonly yaml: string; readonly env?: Record<string, string>; readonly lines: readonly string[] }

const KEYS_LIST = 'listen, publicUrl, trustProxy, oidc, session, store, tokens, timeouts, login, metrics, admin, csrf, routes'

const rows: readonly Row[] = [
  { name: 'the base is valid', yaml: yamlWith({}), lines: [] },

  // the file as a whole
  { name: 'empty file', yaml: '', lines: ['(top level): the file is empty (expected a mapping with publicUrl, oidc, session and routes)'] },
  { name: 'comments only', yaml: '# todo\n', lines: ['(top level): the file is empty (expected a mapping with publicUrl, oidc, session and routes)'] },
  { name: 'a list', yaml: '- publicUrl\n', lines: ['(top level): must be a mapping with publicUrl, oidc, session and routes (got a list)'] },
  { name: 'yaml syntax', yaml: 'publicUrl: a: b\n', lines: ['yaml: line 1, column 12: invalid YAML (block as implicit key)'] },
  { name: 'duplicate key', yaml: yamlWith({ again: 'publicUrl: https://b.example.com' }), lines: ['yaml: line 5, column 1: a key is repeated'] },
  { name: 'two documents', yaml: `${yamlWith({})}---\na: 1\n`, lines: ['yaml: line 5, column 1: the file holds more than one YAML document'] },
  {
    name: 'nothing required given',
    yaml: 'listen: { port: 8080 }\n',
    lines: [
      'publicUrl: required (an http(s) URL)',
      'oidc.issuer: required (an http(s) URL)',
      'oidc.clientId: required (a non-empty string)',
      'oidc.clientSecret: required (a non-empty string, for tokenEndpointAuthMethod client_secret_basic)',
      'session.secrets: required (a list of secrets of at least 32 characters)',
      'routes: must list at least one route',
    ],
  },
  { name: 'unresolved alias', yaml: yamlWith({ x: 'trustProxy: *yes' }), lines: ['yaml: the document cannot be built (unresolved alias)'] },
  { name: 'unknown tag', yaml: yamlWith({ x: 'trustProxy: !env X' }), lines: ['yaml: line 5, column 13: invalid YAML (tag resolve failed)'] },
  { name: 'binary value', yaml: yamlWith({ publicUrl: 'publicUrl: !!binary aGVsbG8=' }), lines: ['publicUrl: must be an http(s) URL (got binary data)'] },
  { name: 'unknown top-level key, close', yaml: yamlWith({ x: 'trust_proxy: true' }), lines: ['trust_proxy: unknown key (did you mean "trustProxy"?)'] },
  {
    name: 'an unknown key that is not a plain name is quoted, and its line stays one line',
    yaml: yamlWith({ x: '"a\\nb": 1\n"": 2\n"x.y": 3', routes: 'routes: [{ path: /api, target: "http://x", "to ken": user }]' }),
    lines: [
      `"a\\nb": unknown key (expected one of: ${KEYS_LIST})`,
      `"": unknown key (expected one of: ${KEYS_LIST})`,
      `"x.y": unknown key (expected one of: ${KEYS_LIST})`,
      'routes[0]."to ken": unknown key (did you mean "token"?)',
    ],
  },
  { name: 'unknown top-level key, far', yaml: yamlWith({ x: 'logLevel: debug' }), lines: [`logLevel: unknown key (expected one of: ${KEYS_LIST})`] },
  {
    name: 'missing env var',
    yaml: yamlWith({ oidc: 'oidc: { issuer: "${ISSUER}", clientId: spa, clientSecret: x }' }),
    lines: ['line 2: environment variable ISSUER is not set (write ${ISSUER:-default} to give a default)', 'oidc.issuer: must be an http(s) URL (got "")'],
  },

  // YAML faults are placed where they are in the file, never quoting it
  {
    name: 'a key indented deeper than the one above is reported on its own line, not the line above',
    yaml: 'publicUrl: https://app.example.com\noidc:\n  issuer: https://idp.example.com\n   clientId: spa\n',
    lines: ['yaml: line 4, column 12: invalid YAML (a key that runs on from the line above: is this line indented too deep?)'],
  },
  {
    name: 'a route key indented too deep',
    yaml: `${yamlWith({ routes: '' })}routes:\n  - path: /api\n     target: http://127.0.0.1:7000\n`,
    lines: ['yaml: line 6, column 12: invalid YAML (a key that runs on from the line above: is this line indented too deep?)'],
  },
  {
    name: 'a top-level key indented after a blank line is reported on its own line',
    yaml: 'publicUrl: https://app.example.com\n\n oidc:\n  issuer: https://idp.example.com\n',
    lines: ['yaml: line 3, column 6: invalid YAML (a key that runs on from the line above: is this line indented too deep?)'],
  },
  {
    name: 'columns count the file as written, not the substituted text',
    yaml: yamlWith({ oidc: 'oidc: { issuer: "${ISSUER}", clientId: spa, clientSecret: x, clientId: b }' }),
    env: { ISSUER: 'https://idp.example.com/realms/a-long-realm-name' },
    lines: ['yaml: line 2, column 62: a key is repeated'],
  },
  {
    name: 'a fault inside a substituted value is placed at its reference and names the variable',
    yaml: yamlWith({ session: 'session: { secrets: ["${SESSION_SECRET}"] }' }),
    env: { SESSION_SECRET: `${'s'.repeat(20)}" x "${'s'.repeat(20)}` },
    lines: ['yaml: line 3, column 23, in the value of ${SESSION_SECRET}: invalid YAML (missing char)'],
  },
  {
    name: 'a line break inside a substituted value does not move the lines after it',
    yaml: 'publicUrl: "${URL}"\noidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x }\nsession: { secrets: [x] }\nroutes: [}\n',
    env: { URL: 'https://app.example.com\n\n ' },
    lines: ['yaml: line 4, column 10: invalid YAML (bad indent)'],
  },

  // a secret that is empty or short names the variable it came from, never its value
  {
    name: 'an empty session secret from the environment',
    yaml: yamlWith({ session: 'session: { secrets: ["${SESSION_SECRET}"] }' }),
    env: { SESSION_SECRET: '' },
    lines: ['session.secrets[0]: must be at least 32 characters (got 0 from ${SESSION_SECRET}, which is empty or unset)'],
  },
  {
    name: 'an unset session secret',
    yaml: yamlWith({ session: 'session: { secrets: ["${SESSION_SECRET}"] }' }),
    lines: [
      'line 3: environment variable SESSION_SECRET is not set (write ${SESSION_SECRET:-default} to give a default)',
      'session.secrets[0]: must be at least 32 characters (got 0 from ${SESSION_SECRET}, which is empty or unset)',
    ],
  },
  {
    name: 'a short session secret from the environment',
    yaml: yamlWith({ session: 'session: { secrets: ["${SESSION_SECRET}"] }' }),
    env: { SESSION_SECRET: 'hunter2' },
    lines: ['session.secrets[0]: must be at least 32 characters (got 7 from ${SESSION_SECRET})'],
  },
  {
    name: 'a short default',
    yaml: yamlWith({ session: 'session: { secrets: ["${SESSION_SECRET:-too-short}"] }' }),
    lines: ['session.secrets[0]: must be at least 32 characters (got 9 from the default of ${SESSION_SECRET}; ${SESSION_SECRET} is empty or unset)'],
  },
  {
    name: 'a secret made of two variables',
    yaml: yamlWith({ session: 'session: { secrets: ["${PART_A}${PART_B}"] }' }),
    env: { PART_A: '', PART_B: '' },
    lines: ['session.secrets[0]: must be at least 32 characters (got 0 from ${PART_A} and ${PART_B}, which are empty or unset)'],
  },
  {
    name: 'only the secret that is wrong is blamed, not its neighbours',
    yaml: yamlWith({ session: `session: { secrets: ["\${NEW}", "\${OLD}", ${SECRET}] }` }),
    env: { NEW: SECRET, OLD: '' },
    lines: ['session.secrets[1]: must be at least 32 characters (got 0 from ${OLD}, which is empty or unset)'],
  },
  {
    name: 'an unquoted empty secret empties the list',
    yaml: yamlWith({ session: 'session: { secrets: [${SESSION_SECRET}] }' }),
    env: { SESSION_SECRET: '' },
    lines: ['session.secrets: must list at least one secret (got an empty list from ${SESSION_SECRET}, which is empty or unset)'],
  },
  {
    name: 'an unquoted empty secret as a list item',
    yaml: yamlWith({ session: 'session:\n  secrets:\n    - ${SESSION_SECRET}' }),
    env: { SESSION_SECRET: '' },
    lines: ['session.secrets[0]: must be a string of at least 32 characters (got nothing from ${SESSION_SECRET}, which is empty or unset)'],
  },
  {
    name: 'an empty secret without the list',
    yaml: yamlWith({ session: 'session:\n  secrets: ${SESSION_SECRET}' }),
    env: { SESSION_SECRET: '' },
    lines: ['session.secrets: required (a list of secrets of at least 32 characters; got nothing from ${SESSION_SECRET}, which is empty or unset)'],
  },
  {
    name: 'an empty client secret, quoted',
    yaml: yamlWith({ oidc: 'oidc: { issuer: "${ISSUER}", clientId: spa, clientSecret: "${OIDC_CLIENT_SECRET}" }' }),
    env: { ISSUER: 'https://idp.example.com', OIDC_CLIENT_SECRET: '' },
    lines: ['oidc.clientSecret: must not be empty (got an empty string from ${OIDC_CLIENT_SECRET}, which is empty or unset)'],
  },
  {
    name: 'an empty client secret, unquoted',
    yaml: yamlWith({ oidc: 'oidc:\n  issuer: https://idp.example.com\n  clientId: spa\n  clientSecret: ${OIDC_CLIENT_SECRET}\n  scopes: [openid]' }),
    env: { OIDC_CLIENT_SECRET: '' },
    lines: ['oidc.clientSecret: required (a non-empty string, for tokenEndpointAuthMethod client_secret_basic; got nothing from ${OIDC_CLIENT_SECRET}, which is empty or unset)'],
  },
  {
    name: 'a secret written into the file names no variable',
    yaml: yamlWith({ publicUrl: 'publicUrl: ${URL}', session: 'session: { secrets: [twelve-chars] }' }),
    env: { URL: 'https://app.example.com' },
    lines: ['session.secrets[0]: must be at least 32 characters (got 12)'],
  },

  // listen, publicUrl, trustProxy
  { name: 'port too large', yaml: yamlWith({ listen: 'listen: { port: 70000 }' }), lines: ['listen.port: must be an integer from 0 to 65535 (got 70000)'] },
  { name: 'port as string', yaml: yamlWith({ listen: 'listen: { port: "8080" }' }), lines: ['listen.port: must be an integer from 0 to 65535 (got "8080")'] },
  { name: 'listen typo', yaml: yamlWith({ listen: 'listen: { prot: 80 }' }), lines: ['listen.prot: unknown key (did you mean "port"?)'] },
  { name: 'listen scalar', yaml: yamlWith({ listen: 'listen: 8080' }), lines: ['listen: must be a mapping (got 8080)'] },
  { name: 'publicUrl no scheme', yaml: yamlWith({ publicUrl: 'publicUrl: app.example.com' }), lines: ['publicUrl: must be an http(s) URL (got "app.example.com")'] },
  { name: 'publicUrl ftp', yaml: yamlWith({ publicUrl: 'publicUrl: ftp://app.example.com' }), lines: ['publicUrl: must be an http(s) URL (got "ftp://app.example.com")'] },
  {
    name: 'publicUrl with path',
    yaml: yamlWith({ publicUrl: 'publicUrl: https://app.example.com/app' }),
    lines: ['publicUrl: must be an http(s) origin without a path (such as "https://app.example.com") (got "https://app.example.com/app")'],
  },
  { name: 'publicUrl with query', yaml: yamlWith({ publicUrl: 'publicUrl: "https://app.example.com?a"' }), lines: ['publicUrl: must be an http(s) URL without query or fragment (got "https://app.example.com?a")'] },
  {
    name: 'publicUrl with credentials, not echoed',
    yaml: yamlWith({ publicUrl: 'publicUrl: https://me:pw@app.example.com' }),
    lines: ['publicUrl: must be an http(s) URL without user name or password (got "https://***@app.example.com")'],
  },
  { name: 'trustProxy yes', yaml: yamlWith({ x: 'trustProxy: yes' }), lines: ['trustProxy: must be true, false or a number of proxies from 0 to 10 (got "yes")'] },
  { name: 'trustProxy negative', yaml: yamlWith({ x: 'trustProxy: -1' }), lines: ['trustProxy: must be true, false or a number of proxies from 0 to 10 (got -1)'] },
  { name: 'trustProxy too many', yaml: yamlWith({ x: 'trustProxy: 11' }), lines: ['trustProxy: must be true, false or a number of proxies from 0 to 10 (got 11)'] },
  { name: 'trustProxy fraction', yaml: yamlWith({ x: 'trustProxy: 1.5' }), lines: ['trustProxy: must be true, false or a number of proxies from 0 to 10 (got 1.5)'] },
  { name: 'trustProxy quoted', yaml: yamlWith({ x: 'trustProxy: "2"' }), lines: ['trustProxy: must be true, false or a number of proxies from 0 to 10 (got "2")'] },
  { name: 'trustProxy as a list', yaml: yamlWith({ x: 'trustProxy: [10.0.0.1]' }), lines: ['trustProxy: must be true, false or a number of proxies from 0 to 10 (got a list)'] },

  // oidc
  {
    name: 'oidc typo and unquoted number',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: 1234, clientSecret: x, scope: [openid] }' }),
    lines: ['oidc.scope: unknown key (did you mean "scopes"?)', 'oidc.clientId: must be a non-empty string (got 1234; quote it to make it a string)'],
  },
  {
    name: 'issuer with fragment',
    yaml: yamlWith({ oidc: 'oidc: { issuer: "https://idp.example.com#x", clientId: spa, clientSecret: x }' }),
    lines: ['oidc.issuer: must be an http(s) URL without query or fragment (got "https://idp.example.com#x")'],
  },
  {
    name: 'client secret empty',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: "" }' }),
    lines: ['oidc.clientSecret: must not be empty'],
  },
  {
    name: 'client secret as a list',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: [abc] }' }),
    lines: ['oidc.clientSecret: must be a non-empty string (got a list)'],
  },
  {
    name: 'long values are cut short',
    yaml: yamlWith({ oidc: `oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, callbackPath: ${'x'.repeat(70)} }` }),
    lines: [`oidc.callbackPath: must be a path starting with "/" (got "${'x'.repeat(60)}…")`],
  },
  {
    name: 'unknown auth method',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, tokenEndpointAuthMethod: basic }' }),
    lines: ['oidc.tokenEndpointAuthMethod: must be one of client_secret_basic, client_secret_post, private_key_jwt, none (got "basic")'],
  },
  {
    name: 'private_key_jwt needs a key file, not a secret',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, tokenEndpointAuthMethod: private_key_jwt }' }),
    lines: [
      'oidc.clientSecret: only used with tokenEndpointAuthMethod client_secret_basic or client_secret_post (it is private_key_jwt)',
      'oidc.privateKeyFile: required (a path to a PEM or JWK file, for tokenEndpointAuthMethod private_key_jwt)',
    ],
  },
  {
    name: 'client_secret_post needs a secret',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, tokenEndpointAuthMethod: client_secret_post }' }),
    lines: ['oidc.clientSecret: required (a non-empty string, for tokenEndpointAuthMethod client_secret_post)'],
  },
  {
    name: 'none takes no key file',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, tokenEndpointAuthMethod: none, privateKeyFile: k.pem }' }),
    lines: ['oidc.privateKeyFile: only used with tokenEndpointAuthMethod private_key_jwt (it is none)'],
  },
  {
    name: 'scopes without openid',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, scopes: [profile, "a b"] }' }),
    lines: ['oidc.scopes[1]: must be a scope name without spaces or quotes (got "a b")', 'oidc.scopes: must include "openid" (got [profile, "a b"])'],
  },
  {
    name: 'a scope with a line break keeps its problem lines one line each',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, scopes: ["a\\nb", 7] }' }),
    lines: [
      'oidc.scopes[0]: must be a scope name without spaces or quotes (got "a\\nb")',
      'oidc.scopes[1]: must be a scope name without spaces or quotes (got 7)',
      'oidc.scopes: must include "openid" (got ["a\\nb", 7])',
    ],
  },
  {
    name: 'scopes as one string',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, scopes: openid profile }' }),
    lines: ['oidc.scopes: must be a list of scope names such as [openid, profile] (got "openid profile")'],
  },
  {
    name: 'protocol parameters are Cloakroom\'s',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, authorizationParams: { state: a, audience: api, scope: b, acr: [1] } }' }),
    lines: [
      'oidc.authorizationParams.state: is set by Cloakroom and cannot be configured',
      'oidc.authorizationParams.scope: is set by Cloakroom and cannot be configured; list scopes in oidc.scopes',
      'oidc.authorizationParams.acr: must be a string, number or boolean (got a list)',
    ],
  },
  {
    name: 'callbackPath and postLogoutRedirectUri',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, callbackPath: auth/cb, postLogoutRedirectUri: /bye }' }),
    lines: ['oidc.callbackPath: must be a path starting with "/" (got "auth/cb")', 'oidc.postLogoutRedirectUri: must be an http(s) URL (got "/bye")'],
  },
  {
    name: 'callbackPath with query, post-logout URI with fragment',
    yaml: yamlWith({ oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x, callbackPath: "/cb?x", postLogoutRedirectUri: "https://a.example/#f" }' }),
    lines: [
      'oidc.callbackPath: must be a plain path, without "..", "//", "?", "#" or spaces (got "/cb?x")',
      'oidc.postLogoutRedirectUri: must be an http(s) URL without a fragment (got "https://a.example/#f")',
    ],
  },

  // session
  { name: 'short secret', yaml: yamlWith({ session: 'session: { secrets: [twelve-chars] }' }), lines: ['session.secrets[0]: must be at least 32 characters (got 12)'] },
  { name: 'secret not in a list', yaml: yamlWith({ session: `session: { secrets: ${SECRET} }` }), lines: ['session.secrets: must be a list of secrets of at least 32 characters (got a string)'] },
  { name: 'no secrets', yaml: yamlWith({ session: 'session: { secrets: [] }' }), lines: ['session.secrets: must list at least one secret (got an empty list)'] },
  {
    name: 'secret of the wrong type',
    yaml: yamlWith({ session: `session: { secrets: [${SECRET}, 42, ~] }` }),
    lines: ['session.secrets[1]: must be a string of at least 32 characters (got a number)', 'session.secrets[2]: must be a string of at least 32 characters (got nothing)'],
  },
  {
    name: 'cookie name, sameSite',
    yaml: yamlWith({ session: `session: { secrets: [${SECRET}], cookieName: "my cookie", sameSite: none }` }),
    lines: ['session.cookieName: must be a cookie name of letters, digits and !#$%&\'*+-.^_`|~ (got "my cookie")', 'session.sameSite: must be one of lax, strict (got "none")'],
  },
  {
    name: 'a prefix alone on http',
    yaml: yamlWith({ publicUrl: 'publicUrl: http://localhost', session: `session: { secrets: [${SECRET}], cookieName: __Host- }` }),
    lines: ['session.cookieName: must be a cookie name of letters, digits and !#$%&\'*+-.^_`|~, after dropping its __Host-/__Secure- prefix for an http publicUrl (got "__Host-")'],
  },
  {
    name: 'timeouts of the session',
    yaml: yamlWith({ session: `session: { secrets: [${SECRET}], idleTimeout: 0, absoluteTimeout: 1.5h }` }),
    lines: [
      'session.idleTimeout: must be more than 0 seconds (got 0)',
      'session.absoluteTimeout: must be a duration such as "90s", "30m", "8h", "14d" or a number of seconds (got "1.5h")',
    ],
  },
  {
    name: 'idle longer than absolute',
    yaml: yamlWith({ session: `session: { secrets: [${SECRET}], idleTimeout: 1d }` }),
    lines: ['session.idleTimeout: must not exceed session.absoluteTimeout (got 1d, more than 12h)'],
  },

  // store
  { name: 'unknown store type', yaml: yamlWith({ store: 'store: { type: mongo, url: mongodb://x }' }), lines: ['store.type: must be one of redis, redis-cluster, redis-sentinel, memory (got "mongo")'] },
  { name: 'a cluster key on plain redis', yaml: yamlWith({ store: 'store: { type: redis, nodes: [redis://a:6379] }' }), lines: ['store.nodes: only used with store type redis-cluster (type is redis)'] },
  { name: 'a redis key on memory', yaml: yamlWith({ store: 'store: { type: memory, url: redis://a:6379 }' }), lines: ['store.url: only used with store type redis (type is memory)'] },
  {
    name: 'store url with password and the wrong scheme',
    yaml: yamlWith({ store: 'store: { url: "http://user:hunter2@redis:6379" }' }),
    lines: ['store.url: must be a redis:// or rediss:// URL (got "http://***@redis:6379")'],
  },
  ...([
    ['redis://:abc/def+ghi@redis:6379', 'redis://***@redis:6379'],
    ['redis://:a?b#c@redis:6379', 'redis://***@redis:6379'],
    ['http://user:p@ss@redis:6379', 'http://***@redis:6379'],
    ['user:hunter2@redis:6379', '***@redis:6379'],
  ] satisfies [string, string][]).map(([url, shown]) => ({
    name: `a store URL password with / ? # @ or without a scheme is not echoed (${shown})`,
    yaml: yamlWith({ store: 'store: { url: "${REDIS_URL}" }' }),
    env: { REDIS_URL: url },
    lines: [`store.url: must be a redis:// or rediss:// URL (got "${shown}")`],
  })),
  { name: 'cluster without nodes', yaml: yamlWith({ store: 'store: { type: redis-cluster }' }), lines: ['store.nodes: required (a list of redis:// or rediss:// URLs of the seed nodes)'] },
  {
    name: 'cluster with bad nodes',
    yaml: yamlWith({ store: 'store: { type: redis-cluster, nodes: ["10.0.0.1:6379"] }' }),
    lines: ['store.nodes[0]: must be a redis:// or rediss:// URL (got "10.0.0.1:6379")'],
  },
  { name: 'cluster with no nodes', yaml: yamlWith({ store: 'store: { type: redis-cluster, nodes: [] }' }), lines: ['store.nodes: must list at least one of the seed nodes (got an empty list)'] },
  {
    name: 'sentinel without sentinels or master',
    yaml: yamlWith({ store: 'store: { type: redis-sentinel, masterNmae: x }' }),
    lines: [
      'store.masterNmae: unknown key (did you mean "masterName"?)',
      'store.sentinels: required (a list of redis:// or rediss:// URLs of the sentinels)',
      'store.masterName: required (the name of the master the sentinels watch)',
    ],
  },
  { name: 'keyPrefix not a string', yaml: yamlWith({ store: 'store: { keyPrefix: 5 }' }), lines: ['store.keyPrefix: must be a string (got 5; quote it to make it a string)'] },

  // tokens, timeouts, login, metrics, csrf
  {
    name: 'negative and zero durations',
    yaml: yamlWith({ tokens: 'tokens: { refreshBefore: -5 }', timeouts: 'timeouts: { idp: 0s, upstream: 10 minutes }' }),
    lines: [
      'tokens.refreshBefore: must be a duration such as "90s", "30m", "8h", "14d" or a number of seconds (got -5)',
      'timeouts.idp: must be more than 0 seconds (got "0s")',
      'timeouts.upstream: must be a duration such as "90s", "30m", "8h", "14d" or a number of seconds (got "10 minutes")',
    ],
  },
  { name: 'rate of zero', yaml: yamlWith({ login: 'login: { ratePerMinute: 0 }' }), lines: ['login.ratePerMinute: must be an integer of at least 1 (got 0)'] },
  { name: 'fractional rate', yaml: yamlWith({ login: 'login: { rate: 1, ratePerMinute: 1.5 }' }), lines: ['login.rate: unknown key (expected one of: ratePerMinute)', 'login.ratePerMinute: must be an integer of at least 1 (got 1.5)'] },
  { name: 'metrics without a port', yaml: yamlWith({ metrics: 'metrics: { listen: { host: 127.0.0.1 } }' }), lines: ['metrics.listen.port: required (an integer from 0 to 65535)'] },
  { name: 'metrics on the main port', yaml: yamlWith({ metrics: 'metrics: { listen: { port: 8080 } }' }), lines: ['metrics.listen.port: must differ from listen.port (both are 8080)'] },
  { name: 'metrics as a port', yaml: yamlWith({ metrics: 'metrics: { listen: 9464 }' }), lines: ['metrics.listen: must be a mapping (got 9464)'] },
  ...([
    ['Content-Type', 'must not be a CORS-safelisted header (Content-Type): browsers send it cross-site without a preflight'],
    ['accept', 'must not be a CORS-safelisted header (accept): browsers send it cross-site without a preflight'],
    ['Accept-Language', 'must not be a CORS-safelisted header (Accept-Language): browsers send it cross-site without a preflight'],
    ['CONTENT-LANGUAGE', 'must not be a CORS-safelisted header (CONTENT-LANGUAGE): browsers send it cross-site without a preflight'],
    ['Range', 'must not be a CORS-safelisted header (Range): browsers send it cross-site without a preflight'],
    ['Cookie', 'must not be a forbidden request header (Cookie): browsers do not let JavaScript set it'],
    ['origin', 'must not be a forbidden request header (origin): browsers do not let JavaScript set it'],
    ['Referer', 'must not be a forbidden request header (Referer): browsers do not let JavaScript set it'],
    ['dnt', 'must not be a forbidden request header (dnt): browsers do not let JavaScript set it'],
    ['Transfer-Encoding', 'must not be a forbidden request header (Transfer-Encoding): browsers do not let JavaScript set it'],
    ['Sec-CSRF', 'must not start with Sec- (Sec-CSRF): browsers do not let JavaScript set such headers'],
    ['sec-fetch-site', 'must not start with Sec- (sec-fetch-site): browsers do not let JavaScript set such headers'],
    ['Proxy-Authorization', 'must not start with Proxy- (Proxy-Authorization): browsers do not let JavaScript set such headers'],
    ['Authorization', 'must not be Authorization (Authorization): Cloakroom strips it before forwarding'],
  ] satisfies [string, string][]).map(([header, line]) => ({ name: `csrf header ${header}`, yaml: yamlWith({ csrf: `csrf: { headerName: ${header} }` }), lines: [`csrf.headerName: ${line}`] })),
  // Near misses of the refused names are ordinary custom headers.
  ...['X-CSRF', 'X-Requested-With', 'X-Content-Type', 'Content-Type-X', 'Accepts', 'Secret', 'Proxied', 'X-Sec-Token', 'X-Authorization'].map((header) => (
    { name: `csrf header ${header} is fine`, yaml: yamlWith({ csrf: `csrf: { headerName: ${header} }` }), lines: [] }
  )),
  { name: 'csrf header with a space', yaml: yamlWith({ csrf: 'csrf: { headerName: X CSRF }' }), lines: ['csrf.headerName: must be a header name of letters, digits and !#$%&\'*+-.^_`|~ (got "X CSRF")'] },

  // routes
  { name: 'no routes', yaml: yamlWith({ routes: '' }), lines: ['routes: must list at least one route'] },
  { name: 'empty routes', yaml: yamlWith({ routes: 'routes: []' }), lines: ['routes: must list at least one route'] },
  { name: 'routes as a mapping', yaml: yamlWith({ routes: 'routes: { path: /api }' }), lines: ['routes: must be a list of routes (got a mapping)'] },
  { name: 'a route as a string', yaml: yamlWith({ routes: 'routes: [/api]' }), lines: ['routes[0]: must be a mapping with a path and a target or static (got "/api")'] },
  {
    name: 'neither target nor static, typo',
    yaml: yamlWith({ routes: 'routes: [{ path: /api, tagret: "http://x" }]' }),
    lines: ['routes[0].tagret: unknown key (did you mean "target"?)', 'routes[0]: must have a target (an http(s) URL) or static (a folder)'],
  },
  {
    name: 'a step-up on a route that lets requests without a session through',
    yaml: yamlWith({ routes: 'routes: [{ path: /pay, target: "http://x", token: optional, acrValues: [urn:mfa] }, { path: /, target: "http://y", token: none, maxAge: 5m }]' }),
    lines: [
      'routes[0].acrValues: needs token: user (the route has token: optional, so a request without a session would pass)',
      'routes[1].maxAge: needs token: user (the route has token: none, so a request without a session would pass)',
    ],
  },
  {
    name: 'resources, and the PAR and DPoP settings',
    yaml: yamlWith({
      oidc: 'oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: client-secret, pushedAuthorizationRequests: sometimes, dpop: yes }',
      routes: 'routes: [{ path: /a, target: "http://x", resource: "https://a.example.com#frag" }, { path: /b, target: "http://x", resource: "not a uri" }, { path: /c, target: "http://x", token: none, resource: "https://c.example.com" }, { path: /, static: ./public, resource: "api://d" }]',
    }),
    lines: [
      'oidc.dpop: must be true or false (got "yes")',
      'oidc.pushedAuthorizationRequests: must be one of auto, always, never (got "sometimes")',
      'routes[0].resource: must not have a fragment (RFC 8707 §2)',
      'routes[1].resource: must be an absolute URI such as https://api.example.com (got "not a uri")',
      'routes[2].resource: only for a route with a target and token: user or optional (no token goes anywhere else)',
      'routes[3].resource: only for a route with a target and token: user or optional (no token goes anywhere else)',
    ],
  },
  {
    name: 'both target and static',
    yaml: yamlWith({ routes: 'routes: [{ path: /, target: "http://x", static: ./public }]' }),
    lines: ['routes[0]: must have a target or static, not both'],
  },
  {
    name: 'route paths',
    yaml: yamlWith({
      routes: 'routes: [{ target: "http://x" }, { path: api, target: "http://x" }, { path: /a//b, target: "http://x" }, { path: /a/../b, target: "http://x" }, { path: "/a#b", target: "http://x" }, { path: "/a b", target: "http://x" }]',
    }),
    lines: [
      'routes[0].path: required (a path starting with "/")',
      'routes[1].path: must be a path starting with "/" (got "api")',
      'routes[2].path: must be a plain path, without "..", "//", "?", "#" or spaces (got "/a//b")',
      'routes[3].path: must be a plain path, without "..", "//", "?", "#" or spaces (got "/a/../b")',
      'routes[4].path: must be a plain path, without "..", "//", "?", "#" or spaces (got "/a#b")',
      'routes[5].path: must be a plain path, without "..", "//", "?", "#" or spaces (got "/a b")',
    ],
  },
  {
    name: 'route targets',
    yaml: yamlWith({ routes: 'routes: [{ path: /a, target: localhost:7000 }, { path: /b, target: "http://x/?q=1" }, { path: /c, static: "" }]' }),
    lines: [
      'routes[0].target: must be an http(s) URL (got "localhost:7000")',
      'routes[1].target: must be an http(s) URL without query or fragment (got "http://x/?q=1")',
      'routes[2].static: must be a non-empty string (got "")',
    ],
  },
  {
    name: 'route options',
    yaml: yamlWith({ routes: 'routes: [{ path: /a, target: "http://x", token: admin, stripPath: "yes", csrf: 0 }]' }),
    lines: [
      'routes[0].token: must be one of user, optional, none (got "admin")',
      'routes[0].stripPath: must be true or false (got "yes")',
      'routes[0].csrf: must be true or false (got 0)',
    ],
  },
  {
    name: 'same path twice, after normalising',
    yaml: yamlWith({ routes: 'routes: [{ path: /api, target: "http://x" }, { path: /api/, target: "http://x" }]' }),
    lines: ['routes[1].path: duplicates routes[0].path ("/api")'],
  },
  {
    name: 'a route behind the root route',
    yaml: yamlWith({ routes: 'routes: [{ path: /, target: "http://x" }, { path: /api, target: "http://x" }, { path: /api/v2, target: "http://x" }]' }),
    lines: [
      'routes[1].path: never reached, routes[0] ("/") comes first and matches it',
      'routes[2].path: never reached, routes[0] ("/") comes first and matches it',
    ],
  },
  {
    name: 'prefixes match on segment boundaries',
    yaml: yamlWith({ routes: 'routes: [{ path: /api, target: "http://x" }, { path: /apix, target: "http://x" }, { path: /api/v2, target: "http://x" }]' }),
    lines: ['routes[2].path: never reached, routes[0] ("/api") comes first and matches it'],
  },
]

for (const row of rows) {
  test(`config problems: ${row.name}`, () => {
    let lines: readonly string[] = []
    try {
      loadConfig(row.yaml, row.env ?? {})
    } catch (error) {
      assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`)
      assert.equal(error.message, error.lines.join('\n'))
      lines = error.lines
    }
    assert.deepEqual(lines, row.lines)
  })
}
