import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ConfigError, type Config, configWarnings, loadConfig, loadConfigFile } from './index.ts'

const SECRET = 'session-secret-of-at-least-32-chars!'
const MINIMAL = `
publicUrl: https://app.example.com/
oidc:
  issuer: https://idp.example.com
  clientId: spa-bff
  clientSecret: \${OIDC_CLIENT_SECRET}
session:
  secrets: ["\${SESSION_SECRET}"]
routes:
  - path: /api
    target: http://127.0.0.1:7000
`
const ENV = { OIDC_CLIENT_SECRET: 'client-secret', SESSION_SECRET: SECRET }

function problemsOf(text: string, env: Record<string, string> = ENV): readonly string[] {
  try {
    loadConfig(text, env)
    return []
  } catch (error) {
    assert.ok(error instanceof ConfigError, 'a ConfigError')
    return error.lines
  }
}

test('a minimal config gets every default', () => {
  const expected: Config = {
    listen: { host: '0.0.0.0', port: 8080 },
    publicUrl: 'https://app.example.com',
    trustProxy: 0,
    oidc: {
      issuer: 'https://idp.example.com',
      clientId: 'spa-bff',
      clientSecret: 'client-secret',
      tokenEndpointAuthMethod: 'client_secret_basic',
      privateKeyFile: undefined,
      scopes: ['openid', 'profile', 'offline_access'],
      authorizationParams: {},
      callbackPath: '/auth/callback',
      postLogoutRedirectUri: 'https://app.example.com/',
      pushedAuthorizationRequests: 'auto',
      dpop: false,
    },
    session: { cookieName: '__Host-cloakroom', secrets: [SECRET], sameSite: 'lax', idleTimeout: 1800, absoluteTimeout: 43_200 },
    store: { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'cloakroom:' },
    tokens: { refreshBefore: 30 },
    timeouts: { idp: 10, upstreamConnect: 5, upstream: 60 },
    login: { ratePerMinute: 60 },
    metrics: { listen: null },
    admin: { listen: null, token: undefined },
    csrf: { headerName: 'X-CSRF' },
    routes: [{ path: '/api', target: 'http://127.0.0.1:7000', static: undefined, token: 'user', stripPath: false, csrf: true, acrValues: undefined, maxAge: undefined, resource: undefined }],
  }
  assert.deepEqual(loadConfig(MINIMAL, ENV), expected)
})

test('every key set explicitly is read as written, with paths and URLs normalised', () => {
  const text = `
listen: { host: 127.0.0.1, port: 0 }
publicUrl: http://localhost:3000
trustProxy: true
oidc:
  issuer: http://127.0.0.1:4000/realms/demo/
  clientId: "12345"
  tokenEndpointAuthMethod: private_key_jwt
  privateKeyFile: keys/client.pem
  scopes: [openid, email]
  authorizationParams: { audience: https://api.example.com, max_age: 300, ui_locales: de, prompt: consent, x: true }
  callbackPath: /bff/callback
  postLogoutRedirectUri: https://www.example.com/bye?from=app
  pushedAuthorizationRequests: always
  dpop: true
session:
  cookieName: __Secure-sid
  secrets: ["${SECRET}", "${SECRET}-old"]
  sameSite: strict
  idleTimeout: 90s
  absoluteTimeout: 1d
store: { type: redis-sentinel, sentinels: [redis://10.0.0.1:26379, rediss://10.0.0.2:26379], masterName: main, keyPrefix: "" }
tokens: { refreshBefore: 0 }
timeouts: { idp: 2, upstreamConnect: "1", upstream: 0.5 }
login: { ratePerMinute: 5 }
metrics: { listen: { host: 127.0.0.1, port: 9464 } }
csrf: { headerName: X-Requested-By }
routes:
  - { path: /api/, target: "http://127.0.0.1:7000/v1/", token: optional, stripPath: true, resource: "api://orders" }
  - { path: /public, target: "https://example.org", token: none, csrf: false }
  - { path: /, static: ./public, token: none, csrf: false }
`
  const config = loadConfig(text, {}, { baseDir: '/srv/cloakroom' })
  const expected: Config = {
    listen: { host: '127.0.0.1', port: 0 },
    publicUrl: 'http://localhost:3000',
    trustProxy: 1,
    oidc: {
      issuer: 'http://127.0.0.1:4000/realms/demo/',
      clientId: '12345',
      clientSecret: undefined,
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKeyFile: '/srv/cloakroom/keys/client.pem',
      scopes: ['openid', 'email'],
      authorizationParams: { audience: 'https://api.example.com', max_age: '300', ui_locales: 'de', prompt: 'consent', x: 'true' },
      callbackPath: '/bff/callback',
      postLogoutRedirectUri: 'https://www.example.com/bye?from=app',
      pushedAuthorizationRequests: 'always',
      dpop: true,
    },
    session: { cookieName: 'sid', secrets: [SECRET, `${SECRET}-old`], sameSite: 'strict', idleTimeout: 90, absoluteTimeout: 86_400 },
    store: { type: 'redis-sentinel', sentinels: ['redis://10.0.0.1:26379', 'rediss://10.0.0.2:26379'], masterName: 'main', keyPrefix: '' },
    tokens: { refreshBefore: 0 },
    timeouts: { idp: 2, upstreamConnect: 1, upstream: 0.5 },
    login: { ratePerMinute: 5 },
    metrics: { listen: { host: '127.0.0.1', port: 9464 } },
    admin: { listen: null, token: undefined },
    csrf: { headerName: 'X-Requested-By' },
    routes: [
      { path: '/api', target: 'http://127.0.0.1:7000/v1', static: undefined, token: 'optional', stripPath: true, csrf: true, acrValues: undefined, maxAge: undefined, resource: 'api://orders' },
      { path: '/public', target: 'https://example.org', static: undefined, token: 'none', stripPath: false, csrf: false, acrValues: undefined, maxAge: undefined, resource: undefined },
      { path: '/', target: undefined, static: '/srv/cloakroom/public', token: 'none', stripPath: false, csrf: false, acrValues: undefined, maxAge: undefined, resource: undefined },
    ],
  }
  assert.deepEqual(config, expected)
})

test('the other store types and the metrics host default', () => {
  const table: [string, Config['store']][] = [
    ['store: { type: memory }', { type: 'memory', keyPrefix: 'cloakroom:' }],
    ['store: { type: redis, url: "rediss://:pw@redis.internal:6380/2", keyPrefix: "app:" }', { type: 'redis', url: 'rediss://:pw@redis.internal:6380/2', keyPrefix: 'app:' }],
    ['store: { type: redis-cluster, nodes: [redis://10.0.0.1:6379] }', { type: 'redis-cluster', nodes: ['redis://10.0.0.1:6379'], keyPrefix: 'cloakroom:' }],
  ]
  for (const [yaml, store] of table) assert.deepEqual(loadConfig(`${MINIMAL}${yaml}\n`, ENV).store, store, yaml)
  assert.deepEqual(loadConfig(`${MINIMAL}metrics: { listen: { port: 9464 } }\n`, ENV).metrics, { listen: { host: '127.0.0.1', port: 9464 } })
})

test('trustProxy is read as the number of trusted front proxies', () => {
  const table: [string, number][] = [
    ['', 0],
    ['trustProxy: ~', 0],
    ['trustProxy: false', 0],
    ['trustProxy: true', 1],
    ['trustProxy: 0', 0],
    ['trustProxy: -0', 0],
    ['trustProxy: 1', 1],
    ['trustProxy: 2', 2],
    ['trustProxy: 2.0', 2],
    ['trustProxy: 10', 10],
    ['trustProxy: ${HOPS:-false}', 0],
  ]
  for (const [yaml, hops] of table) assert.equal(loadConfig(`${MINIMAL}${yaml}\n`, ENV).trustProxy, hops, yaml)
  assert.equal(loadConfig(`${MINIMAL}trustProxy: \${HOPS:-false}\n`, { ...ENV, HOPS: '3' }).trustProxy, 3)
})

test('the __Host- and __Secure- prefixes are dropped from the cookie name when publicUrl is http', () => {
  const table: [string, string | undefined, string][] = [
    ['https://app.example.com', undefined, '__Host-cloakroom'],
    ['http://localhost:8080', undefined, 'cloakroom'],
    ['http://localhost:8080', '__Secure-sid', 'sid'],
    ['http://localhost:8080', '__host-sid', 'sid'],
    ['http://localhost:8080', 'plain', 'plain'],
    ['https://app.example.com', '__Secure-sid', '__Secure-sid'],
  ]
  for (const [publicUrl, cookieName, expected] of table) {
    const text = MINIMAL.replace('https://app.example.com/', publicUrl)
      .replace('secrets:', cookieName === undefined ? 'secrets:' : `cookieName: "${cookieName}"\n  secrets:`)
    assert.equal(loadConfig(text, ENV).session.cookieName, expected, `${publicUrl} ${cookieName}`)
  }
})

test('the config is deeply frozen', () => {
  const config = loadConfig(`${MINIMAL}metrics: { listen: { port: 9464 } }\n`, ENV)
  const unfrozen: string[] = []
  const walk = (value: unknown, path: string): void => {
    if (typeof value !== 'object' || value === null) return
    if (!Object.isFrozen(value)) unfrozen.push(path)
    for (const [key, child] of Object.entries(value)) walk(child, `${path}.${key}`)
  }
  walk(config, 'config')
  assert.deepEqual(unfrozen, [])
  // ES modules run in strict mode, where writing to a frozen object throws.
  assert.throws(() => Object.assign(config.listen, { port: 1 }), TypeError)
  assert.throws(() => Array.prototype.push.call(config.routes, {}), TypeError)
  assert.throws(() => Object.assign(config.oidc.authorizationParams, { prompt: 'none' }), TypeError)
  assert.equal(config.listen.port, 8080)
})

test('env substitution fills values and reports every unset variable', () => {
  assert.equal(loadConfig(`${MINIMAL}listen: { port: \${PORT:-9000} }\n`, ENV).listen.port, 9000)
  assert.equal(loadConfig(`${MINIMAL}listen: { port: \${PORT:-9000} }\n`, { ...ENV, PORT: '7000' }).listen.port, 7000)
  assert.deepEqual(problemsOf(MINIMAL, { SESSION_SECRET: SECRET }), [
    'line 6: environment variable OIDC_CLIENT_SECRET is not set (write ${OIDC_CLIENT_SECRET:-default} to give a default)',
    'oidc.clientSecret: required (a non-empty string, for tokenEndpointAuthMethod client_secret_basic; got nothing from ${OIDC_CLIENT_SECRET}, which is empty or unset)',
  ])
})

test('no problem line ever shows a secret', () => {
  const clientSecret = 'CLIENT-SECRET-VALUE'
  const short = 'SHORTSECRET'
  const cases: [string, Record<string, string>][] = [
    [MINIMAL, { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }],
    [MINIMAL.replace('secrets: ["${SESSION_SECRET}"]', 'secrets: ${SESSION_SECRET}'), { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }],
    [`${MINIMAL.replace('clientSecret', 'clientSecrets')}`, { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }],
    [MINIMAL.replace('oidc:', 'oidc:\n  tokenEndpointAuthMethod: none'), { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }],
    // a quote inside a substituted secret breaks the YAML; the syntax error must not quote the line
    [MINIMAL, { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: `${short}"${'x'.repeat(32)}` }],
    [`${MINIMAL}store: { url: "http://:\${SESSION_SECRET}@redis" }\n`, { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }],
    // a typo before a secret: the YAML library's message quotes the next token, here the secret
    [MINIMAL.replace('oidc:', 'oidc: }'), { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }],
    [MINIMAL.replace('secrets: ["${SESSION_SECRET}"]', 'secrets: ["${SESSION_SECRET}" }'), { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }],
  ]
  for (const [text, env] of cases) {
    const lines = problemsOf(text, env)
    assert.notDeepEqual(lines, [], 'the case has problems')
    const message = lines.join('\n')
    assert.ok(!message.includes(short) && !message.includes(clientSecret), message)
  }
  assert.deepEqual(problemsOf(MINIMAL, { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: short }), [
    'session.secrets[0]: must be at least 32 characters (got 11 from ${SESSION_SECRET})',
  ])
})

test('a key that is a YAML collection is reported as unknown, without the YAML library printing it to stderr', async () => {
  const warnings: Error[] = []
  const listener = (warning: Error) => warnings.push(warning)
  process.on('warning', listener)
  try {
    assert.deepEqual(problemsOf(`${MINIMAL}? [a, b]\n: 1\n`), [
      '"[ a, b ]": unknown key (expected one of: listen, publicUrl, trustProxy, oidc, session, store, tokens, timeouts, login, metrics, admin, csrf, routes)',
    ])
    // process.emitWarning reports on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', listener)
  }
  assert.deepEqual(warnings, [])
})

test('loadConfigFile resolves relative paths against the file and reports an unreadable file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloakroom-config-'))
  try {
    const file = join(dir, 'cloakroom.yaml')
    writeFileSync(file, `${MINIMAL}\n  - { path: /, static: ./public, token: none, csrf: false }\n`)
    assert.equal(loadConfigFile(file, ENV).routes[1]?.static, resolve(dir, 'public'))
    const missing = join(dir, 'missing.yaml')
    assert.throws(() => loadConfigFile(missing, ENV), { name: 'ConfigError', lines: [`${missing}: cannot read the config file (no such file)`] })
    assert.throws(() => loadConfigFile(dir, ENV), { name: 'ConfigError', lines: [`${dir}: cannot read the config file (it is a directory)`] })
  } finally {
    rmSync(dir, { recursive: true })
  }
})

test('config/example.yaml is a valid config that trusts no front proxy', () => {
  const file = fileURLToPath(new URL('../../config/example.yaml', import.meta.url))
  const config = loadConfigFile(file, { OIDC_CLIENT_SECRET: 'client-secret', SESSION_SECRET: SECRET, CLOAKROOM_ADMIN_TOKEN: SECRET })
  assert.equal(config.trustProxy, 0)
  assert.deepEqual(configWarnings(config), [])
})

test('without a baseDir, static folders resolve against the working directory', () => {
  const config = loadConfig(`${MINIMAL}  - { path: /, static: public }\n`, ENV)
  assert.equal(config.routes[1]?.static, resolve(process.cwd(), 'public'))
})

test('ConfigError carries its lines and joins them into the message', () => {
  const error = new ConfigError(['a: one', 'b: two'])
  assert.equal(error.message, 'a: one\nb: two')
  assert.deepEqual(error.lines, ['a: one', 'b: two'])
  assert.ok(error instanceof Error)
})

test('admin: off by default; on its own loopback listener with a token of at least 32 characters, never on another listener\'s port', () => {
  const token = 'a'.repeat(32)
  assert.deepEqual(loadConfig(MINIMAL, ENV).admin, { listen: null, token: undefined })
  assert.deepEqual(loadConfig(`${MINIMAL}admin: { listen: { port: 9465 }, token: ${token} }\n`, ENV).admin, { listen: { host: '127.0.0.1', port: 9465 }, token })
  const problems = (yaml: string) => {
    try {
      loadConfig(`${MINIMAL}${yaml}`, { ...ENV, ADMIN_TOKEN: 'short' })
      return ''
    } catch (error) {
      return (error as Error).message
    }
  }
  assert.match(problems('admin: { listen: { port: 9465 } }\n'), /admin\.token: required \(a string of at least 32 characters, when admin\.listen is set\)/)
  const short = problems('admin: { listen: { port: 9465 }, token: "${ADMIN_TOKEN}" }\n')
  assert.match(short, /admin\.token: must be at least 32 characters \(got 5 from \$\{ADMIN_TOKEN\}/)
  assert.doesNotMatch(short, /short/, 'the token itself is never echoed')
  assert.match(problems(`metrics: { listen: { port: 9464 } }\nadmin: { listen: { port: 9464 }, token: ${token} }\n`), /admin\.listen\.port: must differ from metrics\.listen\.port/)
})
