import { startDemoApi } from '../demo/api.ts'

/**
 * The demo's API as a container of its own (deploy/docker-compose.yml), in Cloakroom's network
 * namespace: it listens on 127.0.0.1:7000 (the `/api` route's target) and asks the demo IdP's
 * userinfo endpoint who each token belongs to.
 */
const env = process.env
const issuer = env['OIDC_ISSUER'] ?? 'http://127.0.0.1:9090'

const api = await startDemoApi(async () => {
  const discovery = await fetch(`${issuer}/.well-known/openid-configuration`)
  return ((await discovery.json()) as { userinfo_endpoint: string }).userinfo_endpoint
}, Number(env['API_PORT'] ?? 7000))
process.stdout.write(`demo API: ${api.url}, tokens checked at ${issuer}\n`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void api.stop().then(() => process.exit(0)))
}
