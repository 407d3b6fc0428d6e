import { startIdp } from '../demo/idp.ts'

/**
 * The demo's OpenID Provider as a container of its own (deploy/docker-compose.yml). It shares
 * Cloakroom's network namespace and listens on every interface, so its issuer,
 * http://127.0.0.1:9090, is one URL for both the browser (through the published port) and Cloakroom
 * (on loopback: the only place Cloakroom accepts a plain-http issuer). Any username and password log in.
 */
const env = process.env
const publicUrl = env['PUBLIC_URL'] ?? 'http://localhost:8080'
const clientSecret = env['OIDC_CLIENT_SECRET']
if (clientSecret === undefined || clientSecret === '') {
  process.stderr.write('OIDC_CLIENT_SECRET must be set (the secret Cloakroom presents as cloakroom-demo)\n')
  process.exit(2)
}

const idp = await startIdp({
  host: '0.0.0.0',
  port: Number(env['IDP_PORT'] ?? 9090),
  interactions: 'dev',
  accessTokenTtl: Number(env['ACCESS_TOKEN_TTL'] ?? 300),
  clients: [{ clientId: 'cloakroom-demo', clientSecret, redirectUris: [`${publicUrl}/auth/callback`], postLogoutRedirectUris: [`${publicUrl}/`] }],
})
process.stdout.write(`demo IdP: issuer ${idp.issuer}, client cloakroom-demo redirecting to ${publicUrl}/auth/callback\n`)

// PID 1 in a container gets no default signal handling: without these, `docker compose stop` waits 10 s.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void idp.stop().then(() => process.exit(0)))
}
