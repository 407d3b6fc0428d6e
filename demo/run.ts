import { fileURLToPath } from 'node:url'
import { loadConfigFile } from '../src/config/index.ts'
import { createLogger } from '../src/log.ts'
import { startServer } from '../src/server.ts'
import { startIdp } from './idp.ts'
import { startDemoApi, type IssuerEndpoints } from './api.ts'

/**
 * The whole demo in one process: an OpenID Provider (oidc-provider, with its own login pages),
 * a demo API, the SPA (served by Cloakroom from demo/public) and Cloakroom in front of it all.
 * Ports: DEMO_PORT (8080), DEMO_IDP_PORT (9090), DEMO_API_PORT (7000). REDIS_URL switches to Redis.
 * DEMO_SAME_SITE=strict sets session.sameSite (config/demo.yaml reads it; the browser tests run both).
 * DEMO_DPOP=1 turns oidc.dpop on.
 */
const env = process.env
const ORDERS_RESOURCE = 'https://orders.demo.cloakroom.example'
const port = Number(env['DEMO_PORT'] ?? 8080)
const publicUrl = `http://localhost:${port}`
const clientSecret = 'demo-client-secret-not-for-production'

const idp = await startIdp({
  port: Number(env['DEMO_IDP_PORT'] ?? 9090),
  interactions: 'dev',
  accessTokenTtl: Number(env['DEMO_ACCESS_TOKEN_TTL'] ?? 300),
  // The orders API's own tokens (routes[].resource in config/demo.yaml): JWTs for that audience only.
  resources: { [ORDERS_RESOURCE]: {} },
  clients: [{ clientId: 'cloakroom-demo', clientSecret, redirectUris: [`${publicUrl}/auth/callback`], postLogoutRedirectUris: [`${publicUrl}/`] }],
})
let endpoints: IssuerEndpoints | undefined
const api = await startDemoApi(async () => {
  endpoints ??= (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as IssuerEndpoints
  return endpoints
}, Number(env['DEMO_API_PORT'] ?? 7000))

const redisUrl = env['REDIS_URL']
const config = await loadConfigFile(fileURLToPath(new URL('../config/demo.yaml', import.meta.url)), {
  ...env,
  DEMO_PORT: String(port),
  DEMO_ISSUER: idp.issuer,
  DEMO_CLIENT_SECRET: clientSecret,
  DEMO_API: api.url,
  DEMO_ORDERS_RESOURCE: ORDERS_RESOURCE,
  // DEMO_DPOP=1: DPoP-bound tokens, a proof with every API call.
  DEMO_DPOP: env['DEMO_DPOP'] === '1' ? 'true' : 'false',
  ...(redisUrl === undefined ? {} : { DEMO_STORE: JSON.stringify({ type: 'redis', url: redisUrl }) }),
})
const log = createLogger(env['LOG_LEVEL'] ?? 'info')
const server = await startServer({ config, log })

process.stdout.write(`\nCloakroom demo ready: open ${publicUrl}/ in a browser (any username and password log in; the second factor takes 123456).\n\n`)

async function stop(): Promise<void> {
  await server.close(2000)
  await Promise.all([api.stop(), idp.stop()])
  process.exit(0)
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
