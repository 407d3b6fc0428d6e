import assert from 'node:assert/strict'
import { test } from 'node:test'
import { configWarnings, loadConfig } from './index.ts'

const SECRET = 's'.repeat(32)
const configWith = (routes: string, sameSite = 'lax') => loadConfig(`
publicUrl: https://app.example.com
oidc: { issuer: https://idp.example.com, clientId: spa, clientSecret: x }
session: { secrets: [${SECRET}], sameSite: ${sameSite} }
routes: ${routes}
`, {})
const ADVICE = 'only for targets that refuse state changes without their own CSRF defence'

test('a config with the CSRF check on every session route has nothing to warn about', () => {
  const config = configWith('[{ path: /api, target: "http://a" }, { path: /, target: "http://b", token: none, csrf: false }]')
  assert.deepEqual(configWarnings(config), [])
})

test('each route that sends the user\'s token without the CSRF check gets a warning', () => {
  const config = configWith(`[
    { path: /api, target: "http://a", csrf: false },
    { path: /public, target: "http://b", token: none, csrf: false },
    { path: /maybe, target: "http://c", token: optional },
    { path: /legacy/, target: "http://d", token: user, csrf: false },
  ]`)
  const senders = 'other pages can send this session\'s requests (a sibling subdomain any request, any site links and GET forms)'
  assert.deepEqual(configWarnings(config), [
    `routes[0] (/api): token user with csrf false: ${senders}; ${ADVICE}`,
    `routes[3] (/legacy): token user with csrf false: ${senders}; ${ADVICE}`,
  ])
})

test('under sameSite strict the warning names only same-site pages', () => {
  const config = configWith('[{ path: /api, target: "http://a", csrf: false }]', 'strict')
  assert.deepEqual(configWarnings(config), [
    `routes[0] (/api): token user with csrf false: a page on a sibling subdomain can send this session's requests (form posts, images); ${ADVICE}`,
  ])
})
