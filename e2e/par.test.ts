import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli } from './fixtures/cloakroom.ts'
import { startStack, type Stack } from './fixtures/stack.ts'

// Pushed authorization requests (RFC 9126, SPEC "Tokens for each API"): oidc.pushedAuthorizationRequests.
// `auto` against an issuer that offers PAR is in login.test.ts; here the other settings and issuers.

const CSRF = { 'x-csrf': '1' }
const signedIn = async (stack: Stack) => {
  const { client, hops } = await stack.login('/')
  const user = await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })
  return { authorize: new URL(hops[0]?.location ?? ''), status: user.status }
}

describe('an issuer that offers PAR, with pushedAuthorizationRequests: auto', () => {
  let stack: Stack
  before(async () => { stack = await startStack({ logLevel: 'warn', oidc: { clientSecret: 'a-wrong-client-secret-0123456789' } }) })
  after(() => stack.stop())

  test('a client the issuer refuses is told at the push: the login start is the 400 page "Login failed (invalid_client)", and the log names the keys to check', async () => {
    const page = await fetch(`${stack.cloakroom.url}/auth/login`, { redirect: 'manual' })
    assert.equal(page.status, 400)
    assert.match(await page.text(), /Login failed \(invalid_client\)/)
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.match(stack.cloakroom.output(), /ClientRefused: the issuer refused client .*check oidc\.clientId, oidc\.clientSecret/)
  })
})

describe('an issuer that offers PAR, with pushedAuthorizationRequests: never', () => {
  let stack: Stack
  before(async () => { stack = await startStack({ logLevel: 'warn', oidc: { pushedAuthorizationRequests: 'never' } }) })
  after(() => stack.stop())

  test('the parameters travel in the browser\'s URL, and the login completes', async () => {
    const { authorize, status } = await signedIn(stack)
    assert.equal(authorize.searchParams.has('request_uri'), false)
    assert.equal(authorize.searchParams.get('response_type'), 'code')
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
    assert.equal(status, 200)
  })
})

describe('an issuer that offers PAR, with pushedAuthorizationRequests: always', () => {
  let stack: Stack
  before(async () => { stack = await startStack({ logLevel: 'warn', oidc: { pushedAuthorizationRequests: 'always' } }) })
  after(() => stack.stop())

  test('the browser\'s URL carries only client_id and request_uri, and the login completes', async () => {
    const { authorize, status } = await signedIn(stack)
    assert.deepEqual([...authorize.searchParams.keys()].sort(), ['client_id', 'request_uri'])
    assert.equal(stack.idp.authorizationParams(authorize).get('code_challenge_method'), 'S256')
    assert.equal(status, 200)
  })
})

describe('an issuer without PAR', () => {
  let stack: Stack
  before(async () => { stack = await startStack({ logLevel: 'warn', idp: { pushedAuthorizationRequests: false, resources: { 'https://orders.example.com': {} } } }) })
  after(() => stack.stop())

  test('check tries a route\'s resource at the authorization endpoint instead: accepted, or refused (invalid_target)', async () => {
    const upstream = stack.upstream.url
    const routes = [
      { path: '/orders', target: upstream, resource: 'https://orders.example.com' },
      { path: '/unknown', target: upstream, resource: 'https://unknown.example.com' },
      ...(stack.config['routes'] as object[]),
    ]
    const { code, stdout } = await runCli(['check', '--config', '{config}'], { ...stack.config, listen: { port: 0 }, routes }, 20_000)
    assert.equal(code, 1, stdout)
    assert.deepEqual(stdout.split('\n').filter((line) => line.startsWith('resource indicators:')), [
      'resource indicators: ok https://orders.example.com accepted by the issuer (/orders)',
      'resource indicators: FAILED https://unknown.example.com refused by the issuer (invalid_target): /unknown cannot get a token',
    ])
  })

  test('auto: the parameters travel in the URL, and the login completes', async () => {
    const { authorize, status } = await signedIn(stack)
    assert.equal(authorize.searchParams.has('request_uri'), false)
    assert.match(authorize.searchParams.get('state') ?? '', /^[\w-]{43}$/)
    assert.equal(status, 200)
  })

  test('always: startup stops (exit 1) with a message that names the setting; check fails on it too', async () => {
    const oidc = { ...(stack.config['oidc'] as object), pushedAuthorizationRequests: 'always' }
    const served = await runCli(['--config', '{config}'], { ...stack.config, listen: { host: '127.0.0.1', port: 0 }, oidc }, 20_000)
    assert.equal(served.code, 1, served.stdout + served.stderr)
    assert.match(served.stderr, /the issuer cannot serve this configuration: PAR: oidc\.pushedAuthorizationRequests is always, but the issuer has no pushed_authorization_request_endpoint/)

    const checked = await runCli(['check', '--config', '{config}'], { ...stack.config, listen: { port: 0 }, oidc }, 20_000)
    assert.equal(checked.code, 1, checked.stdout)
    assert.match(checked.stdout, /^PAR: FAILED oidc\.pushedAuthorizationRequests is always, but the issuer has no pushed_authorization_request_endpoint: logins cannot start$/m)
  })
})
