/**
 * Properties of loadConfig over generated input (fast-check, a random seed each run: a failure prints
 * the seed and path to replay it with `{ seed, path }` in fc.assert's options).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { ConfigError, type Config, type Env, loadConfig } from './index.ts'

const SESSION_SECRET = 's'.repeat(32)
/** A valid config that sets every mapping Cloakroom reads, so that any of them can be changed. */
const BASE = {
  listen: { host: '0.0.0.0', port: 8080 },
  publicUrl: 'https://app.example.com',
  trustProxy: false,
  oidc: {
    issuer: 'https://idp.example.com',
    clientId: 'spa',
    clientSecret: 'client-secret',
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: ['openid', 'profile'],
    authorizationParams: { audience: 'api' },
    callbackPath: '/auth/callback',
    postLogoutRedirectUri: 'https://app.example.com/',
  },
  session: { cookieName: '__Host-cloakroom', secrets: [SESSION_SECRET], sameSite: 'lax', idleTimeout: '30m', absoluteTimeout: '12h' },
  store: { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'cloakroom:' },
  tokens: { refreshBefore: '30s' },
  timeouts: { idp: '10s', upstreamConnect: '5s', upstream: '60s' },
  login: { ratePerMinute: 60 },
  metrics: { listen: { host: '127.0.0.1', port: 9464 } },
  csrf: { headerName: 'X-CSRF' },
  routes: [
    { path: '/api', target: 'http://127.0.0.1:7000', token: 'user', stripPath: false, csrf: true },
    { path: '/', static: './public', token: 'none', csrf: false },
  ],
}

type Segment = string | number

/** YAML text for a document; a literal `${` is written `$${`, as substitution would otherwise read it. */
function yamlOf(document: unknown): string {
  return stringify(document, { lineWidth: 0 }).replaceAll('${', () => '$${')
}

/** BASE with the value at `path` replaced (`undefined` removes the key). */
function baseWith(path: readonly Segment[], value: unknown): unknown {
  if (path.length === 0) return value
  const document: unknown = structuredClone(BASE)
  let parent = document
  path.forEach((segment, index) => {
    assert.ok(typeof parent === 'object' && parent !== null)
    const record = parent as Record<Segment, unknown>
    if (index < path.length - 1) parent = record[segment]
    else if (value === undefined) delete record[segment]
    else record[segment] = value
  })
  return document
}

/** Every key path in BASE, of mappings and leaves alike. */
function pathsOf(value: unknown, prefix: readonly Segment[] = []): Segment[][] {
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, child]) => {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key]
    return [path, ...pathsOf(child, path)]
  })
}
const PATHS = pathsOf(BASE)

function isDeeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true
  return Object.isFrozen(value) && Object.values(value).every(isDeeplyFrozen)
}

/** loadConfig's result: a deeply frozen Config, or the lines of a ConfigError (anything else fails). */
function outcome(text: string, env: Env = {}): Config | readonly string[] {
  let config: Config
  try {
    config = loadConfig(text, env, { baseDir: '/srv/cloakroom' })
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`)
    assert.ok(error.lines.length > 0, 'a ConfigError has at least one line')
    for (const line of error.lines) assert.match(line, /^[^\n\r]+$/, 'each problem is one non-empty line')
    return error.lines
  }
  assert.ok(isDeeplyFrozen(config), 'the config is deeply frozen')
  return config
}

function linesOf(text: string, env: Env = {}): readonly string[] {
  const result = outcome(text, env)
  return Array.isArray(result) ? result : []
}

// Short runs: the whole file takes about three seconds.
const RUNS = { numRuns: 150 }

// The pieces YAML builds its structure from, for text that gets further into the parser than noise.
const YAML_PIECES = [
  'publicUrl', 'oidc', 'session', 'secrets', 'routes', 'path', 'trustProxy', ':', ': ', ' ', '  ', '\n', '\t', '- ',
  '[', ']', '{', '}', ',', '"', '\'', '&a ', '*a', '!!binary ', '!!set ', '!!omap ', '!!str ', '!!int ', '? ', '#',
  '${X}', '${X:-1}', '${1}', '$${', '---\n', '...\n', '0', '-1', '1.5', '.nan', 'true', 'null', '~', '<<: ', '|\n',
  '>-\n', '%YAML 1.2\n', '__proto__', 'https://a.example',
]

test('any text is a frozen Config or a ConfigError of one-line problems, never another failure', () => {
  const noise = fc.string({ unit: 'binary', maxLength: 200 })
  const yamlish = fc.array(fc.constantFrom(...YAML_PIECES), { maxLength: 60 }).map((pieces) => pieces.join(''))
  fc.assert(fc.property(fc.oneof(noise, yamlish), fc.constantFrom<Env>({}, { X: 'x' }), (text, env) => {
    outcome(text, env)
  }), { numRuns: 400 })
})

test('any JSON value as the document, or in place of any key of a valid one, is a Config or a ConfigError', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), (document) => {
    outcome(yamlOf(document))
  }), RUNS)
  // Strings of the characters that break lines, quotes and paths, alone and in lists, beside any JSON.
  const awkward = fc.string({ unit: fc.constantFrom('a', '/', ' ', '\n', '\r', '\u2028', '"', '\\', '.', '${', '#', ':'), maxLength: 8 })
  const value = fc.oneof(fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }), awkward, fc.array(awkward, { maxLength: 3 }))
  fc.assert(fc.property(fc.constantFrom(...PATHS), fc.option(value, { nil: undefined }), (path, replacement) => {
    outcome(yamlOf(baseWith(path, replacement)))
  }), { numRuns: 300 })
})

// Secrets are made of this word around arbitrary text: a problem line that shows a secret, or its
// start or end, shows the word (no line says "SeCrEt" otherwise).
const MARK = 'SeCrEt'
const marked = (text: fc.Arbitrary<string>) => text.map((inner) => `${MARK}${inner}${MARK}`)
const leaked = (lines: readonly string[]) => lines.some((line) => line.includes(MARK))
// What YAML keeps as it is inside a double-quoted scalar: anything but `"`, `\` and line breaks. Those
// three are left out where a secret goes through `"${NAME}"`: substitution happens before parsing, so
// such a value changes the YAML around it, and one written to do so (`x", key: "`) can make a key of
// its own text, which an unknown-key line then shows. Written into the file, any text is covered.
const quotable = fc.string({ unit: 'binary', maxLength: 40 }).map((text) => text.replace(/["\\\n\r]/g, ''))

test('a session secret that is too short is never shown, only its length', () => {
  const short = marked(fc.string({ unit: 'binary', maxLength: 19 }))
  fc.assert(fc.property(short, (secret) => {
    fc.pre(secret.length < 32)
    const lines = linesOf(yamlOf(baseWith(['session', 'secrets'], [SESSION_SECRET, secret])))
    assert.deepEqual(lines, [`session.secrets[1]: must be at least 32 characters (got ${secret.length})`])
  }), RUNS)
  // The same through the environment, in each way a reference can be written.
  const written = fc.constantFrom('["${S}"]', '[${S}]', '\n    - ${S}', '\n    - "${S}"', '${S}')
  fc.assert(fc.property(marked(quotable), written, (secret, reference) => {
    fc.pre(secret.length < 32)
    const text = yamlOf(baseWith(['session', 'secrets'], 'REFERENCE')).replace('REFERENCE', reference)
    const lines = linesOf(text, { S: secret })
    assert.notDeepEqual(lines, [])
    assert.ok(!leaked(lines), lines.join('\n'))
  }), RUNS)
})

test('a client secret that is empty or not wanted is never shown', () => {
  const method = fc.constantFrom('private_key_jwt', 'none')
  fc.assert(fc.property(marked(fc.string({ unit: 'binary', maxLength: 40 })), method, (secret, auth) => {
    const oidc = { ...BASE.oidc, clientSecret: secret, tokenEndpointAuthMethod: auth, privateKeyFile: auth === 'none' ? undefined : 'key.pem' }
    const lines = linesOf(yamlOf(baseWith(['oidc'], oidc)))
    assert.deepEqual(lines, [`oidc.clientSecret: only used with tokenEndpointAuthMethod client_secret_basic or client_secret_post (it is ${auth})`])
  }), RUNS)
})

// Keys that are each wrong on their own, for secrets to sit next to.
const OTHER_PROBLEMS: readonly (readonly [Segment[], unknown])[] = [
  [['publicUrl'], 'app.example.com'],
  [['login', 'ratePerMinute'], 0],
  [['oidc', 'scope'], ['openid']],
  [['routes', 0, 'target'], 'localhost:7000'],
  [['store', 'type'], 'mongo'],
  [['csrf', 'headerName'], 'Content-Type'],
  [['timeouts', 'idp'], '1.5h'],
  [['trustProxy'], 'yes'],
  [['session', 'sameSite'], 'none'],
]

test('valid secrets from the environment never show up in the lines about other keys', () => {
  const valid = marked(quotable).map((secret) => secret.padEnd(32, '.'))
  fc.assert(fc.property(valid, valid, fc.constantFrom(...OTHER_PROBLEMS), (sessionSecret, clientSecret, [path, wrong]) => {
    const document = baseWith(path, wrong) as typeof BASE
    const text = yamlOf({ ...document, oidc: { ...document.oidc, clientSecret: 'CLIENT' }, session: { ...document.session, secrets: ['SESSION'] } })
      .replace('CLIENT', '"${OIDC_CLIENT_SECRET}"').replace('- SESSION', '- "${SESSION_SECRET}"')
    const lines = linesOf(text, { OIDC_CLIENT_SECRET: clientSecret, SESSION_SECRET: sessionSecret })
    assert.notDeepEqual(lines, [])
    assert.ok(!leaked(lines), lines.join('\n'))
  }), RUNS)
})

test('the password in a store URL is never shown, whatever it holds', () => {
  const scheme = fc.constantFrom('redis://', 'rediss://', 'http://', 'redis:/', '')
  const user = fc.constantFrom('', 'user')
  const url = (prefix: string, name: string, password: string) => `${prefix}${name}:${password}@redis.internal:6379`
  // Another key is wrong too, so that there are lines even when the URL is fine.
  const badLogin = baseWith(['login'], { ratePerMinute: 0 }) as typeof BASE
  fc.assert(fc.property(scheme, user, marked(fc.string({ unit: 'binary', maxLength: 30 })), (prefix, name, password) => {
    const lines = linesOf(yamlOf({ ...badLogin, store: { ...badLogin.store, url: url(prefix, name, password) } }))
    assert.notDeepEqual(lines, [])
    assert.ok(!leaked(lines), lines.join('\n'))
  }), RUNS)
  fc.assert(fc.property(scheme, user, marked(quotable), (prefix, name, password) => {
    const text = yamlOf(badLogin).replace('redis://127.0.0.1:6379', '"${REDIS_URL}"')
    const lines = linesOf(text, { REDIS_URL: url(prefix, name, password) })
    assert.notDeepEqual(lines, [])
    assert.ok(!leaked(lines), lines.join('\n'))
  }), RUNS)
})

const UNIT_SECONDS = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }
const DURATION_KEYS = [['tokens', 'refreshBefore'], ['timeouts', 'idp'], ['timeouts', 'upstreamConnect'], ['timeouts', 'upstream']] as const

test('a whole number with any unit is read as that many seconds, in every duration key', () => {
  const unit = fc.constantFrom(...(Object.keys(UNIT_SECONDS) as (keyof typeof UNIT_SECONDS)[]))
  const count = fc.oneof(fc.nat({ max: 1000 }), fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 17n }).map(Number))
  fc.assert(fc.property(fc.constantFrom(...DURATION_KEYS), count, unit, ([section, key], n, suffix) => {
    const seconds = n * UNIT_SECONDS[suffix]
    const result = outcome(yamlOf(baseWith([section, key], `${n}${suffix}`)))
    const path = `${section}.${key}`
    if (!Number.isSafeInteger(seconds)) {
      assert.deepEqual(result, [`${path}: must be a duration such as "90s", "30m", "8h", "14d" or a number of seconds (got "${n}${suffix}")`])
    } else if (seconds === 0 && section === 'timeouts') {
      assert.deepEqual(result, [`${path}: must be more than 0 seconds (got "${n}${suffix}")`])
    } else {
      assert.ok(!Array.isArray(result), `${n}${suffix} is accepted`)
      const config = result as Config
      assert.equal(section === 'tokens' ? config.tokens.refreshBefore : config.timeouts[key as keyof Config['timeouts']], seconds)
    }
  }), RUNS)
})

test('any other text in a duration key is one problem line naming the key', () => {
  const garbage = fc.string({ unit: 'binary', maxLength: 30 }).filter((text) => !/^\d+[smhd]?$/.test(text))
  fc.assert(fc.property(fc.constantFrom(...DURATION_KEYS), garbage, ([section, key], text) => {
    const lines = linesOf(yamlOf(baseWith([section, key], text)))
    assert.equal(lines.length, 1, lines.join('\n'))
    assert.ok(lines[0]?.startsWith(`${section}.${key}: must be a duration such as "90s", "30m", "8h", "14d" or a number of seconds (got `), lines[0])
  }), RUNS)
})

/** The keys each mapping of BASE allows (SPEC "Configuration file"). */
const MAPPINGS: readonly (readonly [Segment[], readonly string[]])[] = [
  [[], ['listen', 'publicUrl', 'trustProxy', 'oidc', 'session', 'store', 'tokens', 'timeouts', 'login', 'metrics', 'csrf', 'routes']],
  [['listen'], ['host', 'port']],
  [['oidc'], ['issuer', 'clientId', 'clientSecret', 'tokenEndpointAuthMethod', 'privateKeyFile', 'scopes', 'authorizationParams', 'callbackPath', 'postLogoutRedirectUri']],
  [['session'], ['cookieName', 'secrets', 'sameSite', 'idleTimeout', 'absoluteTimeout']],
  [['store'], ['type', 'keyPrefix', 'url', 'nodes', 'sentinels', 'masterName']],
  [['tokens'], ['refreshBefore']],
  [['timeouts'], ['idp', 'upstreamConnect', 'upstream']],
  [['login'], ['ratePerMinute']],
  [['metrics'], ['listen']],
  [['metrics', 'listen'], ['host', 'port']],
  [['csrf'], ['headerName']],
  [['routes', 0], ['path', 'target', 'static', 'token', 'stripPath', 'csrf']],
  [['routes', 1], ['path', 'target', 'static', 'token', 'stripPath', 'csrf']],
]

function shownPath(path: readonly Segment[]): string {
  return path.map((segment) => typeof segment === 'number' ? `[${segment}]` : `.${segment}`).join('').replace(/^\./, '')
}

test('an unknown key at any level is reported by its full key path, and nothing else is', () => {
  const name = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,15}$/), fc.string({ unit: 'binary', maxLength: 12 }))
  fc.assert(fc.property(fc.constantFrom(...MAPPINGS), name, fc.jsonValue({ maxDepth: 1 }), ([path, keys], key, value) => {
    fc.pre(!keys.includes(key))
    const mapping = path.reduce<unknown>((parent, segment) => (parent as Record<Segment, unknown>)[segment], BASE)
    const lines = linesOf(yamlOf(baseWith(path, { ...(mapping as object), [key]: value })))
    const plain = /^[A-Za-z_$][\w$-]*$/.test(key)
    const keyPath = [shownPath(path), plain ? key : JSON.stringify(key)].filter((part) => part !== '').join('.')
    assert.equal(lines.length, 1, lines.join('\n'))
    assert.ok(lines[0]?.startsWith(`${keyPath}: unknown key (`), `${lines[0]} names ${keyPath}`)
  }), RUNS)
})

test('trustProxy takes every boolean and every whole number from 0 to 10, and nothing else', () => {
  const value = fc.oneof(fc.boolean(), fc.integer({ min: -3, max: 13 }), fc.integer(), fc.double(), fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }))
  fc.assert(fc.property(value, (trustProxy) => {
    const result = outcome(yamlOf(baseWith(['trustProxy'], trustProxy)))
    const hops = typeof trustProxy === 'boolean' ? Number(trustProxy)
      : typeof trustProxy === 'number' && Number.isInteger(trustProxy) && trustProxy >= 0 && trustProxy <= 10 ? trustProxy + 0
        : trustProxy === null ? 0 : undefined
    if (hops === undefined) {
      assert.ok(Array.isArray(result) && result.length === 1, `${JSON.stringify(trustProxy)} is refused`)
      assert.ok(String(result[0]).startsWith('trustProxy: must be true, false or a number of proxies from 0 to 10 (got '), result[0])
    } else {
      assert.equal((result as Config).trustProxy, hops)
    }
  }), { numRuns: 300 })
})
