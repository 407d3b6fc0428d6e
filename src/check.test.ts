import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCheck } from './check.ts'
import { ConfigError } from './config/index.ts'
import { CLIENT_SECRET, fakeIssuer, fakeIssuerConfig, oauthError } from './oidc/fake-issuer.ts'

/** A port nothing listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function check(options: { token?: () => Response; oidc?: Record<string, unknown>; sections?: Record<string, unknown> } = {}) {
  const { fetch } = fakeIssuer(options.token ?? (() => oauthError(400, { error: 'invalid_grant' })))
  const lines: string[] = []
  const code = await runCheck(fakeIssuerConfig(options.oidc, options.sections), { print: (line) => lines.push(line), fetch })
  return { code, lines }
}

test('check: all good → exit 0, one line per finding, the credentials proven at the token endpoint', async () => {
  assert.deepEqual(await check(), {
    code: 0,
    lines: [
      'config: ok (1 routes, store memory, public URL http://127.0.0.1:8080)',
      'issuer: ok http://127.0.0.1:4000',
      '  authorization_endpoint: http://127.0.0.1:4000/auth',
      '  token_endpoint: http://127.0.0.1:4000/token',
      'pkce: ok S256 (of S256)',
      'iss parameter: WARNING not advertised: callbacks carry no iss to check (mix-up defence rests on this client having one issuer)',
      'revocation: WARNING no revocation endpoint: logout and ended sessions cannot revoke refresh tokens, which stay valid at the issuer until they expire',
      'end-session: WARNING no end_session_endpoint: logout ends Cloakroom\'s session only; the user stays signed in at the issuer (GET /auth/logout goes to http://127.0.0.1:8080/)',
      'back-channel logout: WARNING not supported: a sign-out at the issuer does not reach Cloakroom; sessions end at their deadlines or their next failed refresh',
      'PAR: ok not offered: authorization parameters travel in the browser\'s URL',
      'DPoP: ok (none advertised); not used (oidc.dpop: false): Bearer tokens',
      'acr values: ok (none advertised)',
      'resource indicators: ok not used (no route has a resource)',
      'credentials: ok (client_secret_basic accepted at http://127.0.0.1:4000/token)',
      '  redirect_uri to register: http://127.0.0.1:8080/auth/callback (not verifiable here)',
      '  post_logout_redirect_uri to register: http://127.0.0.1:8080/ (not verifiable here)',
      '  backchannel_logout_uri, if the issuer has back-channel logout: http://127.0.0.1:8080/auth/backchannel-logout',
      'store: ok memory (sessions live in one process: run a single instance)',
      'check: ok',
    ],
  })
})

test('check: a wrong client secret fails (exit 1), naming the keys to check and never the secret', async () => {
  const { code, lines } = await check({ token: () => oauthError(401, undefined, 'Basic realm="idp", error="invalid_client"') })
  assert.equal(code, 1)
  assert.equal(lines.find((line) => line.startsWith('credentials:')), 'credentials: FAILED the issuer refused client "unit-client" (invalid_client): check oidc.clientId, oidc.clientSecret and oidc.tokenEndpointAuthMethod (client_secret_basic)')
  assert.equal(lines.at(-1), 'check: FAILED (1 problem)')
  assert.ok(!lines.join('\n').includes(CLIENT_SECRET))
})

test('check: a static folder that is missing, or holds no index.html, fails (exit 1), naming the route and folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cloakroom-check-'))
  try {
    await mkdir(join(dir, 'empty'))
    await mkdir(join(dir, 'spa'))
    await writeFile(join(dir, 'spa', 'index.html'), '<!doctype html>')
    const routes = [
      { path: '/app', static: join(dir, 'spa') },
      { path: '/docs', static: join(dir, 'empty') },
      { path: '/', static: join(dir, 'missing') },
    ]
    const { code, lines } = await check({ sections: { routes } })
    assert.equal(code, 1)
    assert.deepEqual(lines.filter((line) => line.startsWith('static')), [
      `static: ok /app serves ${dir}/spa`,
      `static: FAILED /docs serves ${dir}/empty: no index.html in it (routes[1].static)`,
      `static: FAILED / serves ${dir}/missing: no such folder (routes[2].static)`,
    ])
    assert.equal(lines.at(-1), 'check: FAILED (2 problems)')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('check: Redis down fails at once (exit 1), naming the URL without its password and the cause', async () => {
  const port = await closedPort()
  const started = Date.now()
  const { code, lines } = await check({ sections: { store: { type: 'redis', url: `redis://:store-password-123@127.0.0.1:${port}/0` } } })
  assert.equal(code, 1)
  assert.equal(lines.at(-2), `store: FAILED redis://:***@127.0.0.1:${port}/0: connection refused (ECONNREFUSED)`)
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`)
})

test('check: an issuer that cannot be reached names the discovery URL and the cause; the credentials are skipped, not a second problem', async () => {
  const lines: string[] = []
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4000'), { code: 'ECONNREFUSED' })
  const code = await runCheck(fakeIssuerConfig(), { print: (line) => lines.push(line), fetch: () => Promise.reject(new TypeError('fetch failed', { cause: refused })) })
  assert.equal(code, 1)
  assert.deepEqual(lines.slice(1, 3), [
    'issuer: FAILED http://127.0.0.1:4000/.well-known/openid-configuration: connection refused (ECONNREFUSED)',
    'credentials: SKIPPED (no discovery document, so no token endpoint to prove them at)',
  ])
  assert.equal(lines.at(-1), 'check: FAILED (1 problem)')
})

test('check: a private key file that cannot be read is a config error (exit 2 in the CLI), before any line', async () => {
  const lines: string[] = []
  const config = fakeIssuerConfig({ tokenEndpointAuthMethod: 'private_key_jwt', clientSecret: null, privateKeyFile: '/nonexistent/key.pem' })
  await assert.rejects(runCheck(config, { print: (line) => lines.push(line) }), ConfigError)
  assert.deepEqual(lines, [])
})

test('check: a setting the issuer cannot serve (PAR always, no PAR endpoint) fails (exit 1), saying why', async () => {
  const { code, lines } = await check({ oidc: { pushedAuthorizationRequests: 'always' } })
  assert.equal(code, 1)
  assert.ok(lines.includes('PAR: FAILED oidc.pushedAuthorizationRequests is always, but the issuer has no pushed_authorization_request_endpoint: logins cannot start'), lines.join('\n'))
  assert.equal(lines.at(-1), 'check: FAILED (1 problem)')
})
