/**
 * A certified peer to measure Cloakroom against: Apache httpd with mod_auth_openidc (Debian's
 * `apache2` and `libapache2-mod-auth-openidc`), its sessions in Redis (`OIDCSessionType
 * server-cache`, `OIDCCacheType redis`), PKCE S256, proxying `/api/` to the target with the
 * session's access token as `Authorization: Bearer` (mod_headers from `OIDC_access_token`).
 * bench/run.ts starts it with `--peer` when both packages are installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCookieClient } from '../e2e/fixtures/cookie-client.ts'
import { freePort } from '../e2e/fixtures/free-port.ts'

const MODULES = '/usr/lib/apache2/modules'
export const PEER_CLIENT_ID = 'bench-mod-auth-openidc'
const CLIENT_SECRET = 'bench-mod-auth-openidc-secret-0123456789'

/** True when Debian's apache2 and mod_auth_openidc are installed. */
export function peerAvailable(): boolean {
  return existsSync('/usr/sbin/apache2') && existsSync(join(MODULES, 'mod_auth_openidc.so'))
}

/** Its port and client, known before the IdP starts (the IdP registers the redirect URI). */
export async function reservePeer() {
  const port = await freePort()
  return {
    port,
    client: { clientId: PEER_CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`http://127.0.0.1:${port}/redirect_uri`], postLogoutRedirectUris: [] },
  }
}

export interface Peer {
  readonly url: string
  /** The main Apache process (its children serve; CPU is read for the whole group). */
  readonly pid: number
  /** One `Cookie` header value per logged-in session. */
  readonly cookies: string[]
  stop(): Promise<void>
}

export async function startPeer(options: { port: number; issuer: string; redisUrl: string; targetUrl: string; sessions: number }): Promise<Peer> {
  const dir = await mkdtemp(join(tmpdir(), 'cloakroom-peer-'))
  // Apache's children run as www-data: they need to reach the files in here.
  await chmod(dir, 0o755)
  const redis = new URL(options.redisUrl)
  const load = (name: string, file: string) => `LoadModule ${name} ${MODULES}/${file}`
  const config = [
    `ServerRoot ${dir}`,
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${options.port}`,
    `PidFile ${dir}/httpd.pid`,
    `DefaultRuntimeDir ${dir}`,
    `Mutex file:${dir} default`,
    `ErrorLog ${dir}/error.log`,
    'LogLevel warn',
    'User www-data',
    'Group www-data',
    load('mpm_event_module', 'mod_mpm_event.so'),
    load('authn_core_module', 'mod_authn_core.so'),
    load('authz_core_module', 'mod_authz_core.so'),
    load('authz_user_module', 'mod_authz_user.so'),
    load('headers_module', 'mod_headers.so'),
    load('proxy_module', 'mod_proxy.so'),
    load('proxy_http_module', 'mod_proxy_http.so'),
    load('auth_openidc_module', 'mod_auth_openidc.so'),
    // Debian's defaults for the event MPM; keep-alive without a request limit, as Node's servers
    // here (Debian's 100 requests a connection would make wrk reconnect, which Node never has to).
    'StartServers 2', 'ThreadsPerChild 25', 'MaxRequestWorkers 150', 'KeepAliveTimeout 60', 'MaxKeepAliveRequests 0',
    `OIDCProviderMetadataURL ${options.issuer}/.well-known/openid-configuration`,
    `OIDCClientID ${PEER_CLIENT_ID}`,
    `OIDCClientSecret ${CLIENT_SECRET}`,
    `OIDCRedirectURI http://127.0.0.1:${options.port}/redirect_uri`,
    `OIDCCryptoPassphrase ${randomBytes(24).toString('hex')}`,
    'OIDCScope "openid profile"',
    'OIDCPKCEMethod S256',
    'OIDCSessionType server-cache',
    'OIDCCacheType redis',
    `OIDCRedisCacheServer ${redis.hostname}:${redis.port}`,
    'OIDCSessionInactivityTimeout 3600',
    'OIDCPassClaimsAs environment',
    // Like Cloakroom, which never forwards its own cookie.
    'OIDCStripCookies mod_auth_openidc_session',
    '<Location />',
    '  AuthType openid-connect',
    '  Require valid-user',
    // Sends even a fetch() to the IdP (by default it answers 401 to anything but a navigation).
    '  OIDCUnAuthAction auth true',
    '</Location>',
    'RequestHeader set Authorization "Bearer %{OIDC_access_token}e" env=OIDC_access_token',
    `ProxyPass /api/ ${options.targetUrl}/api/ keepalive=On`,
    '',
  ].join('\n')
  const file = join(dir, 'httpd.conf')
  await writeFile(file, config)
  const checked = spawnSync('/usr/sbin/apache2', ['-f', file, '-t'], { encoding: 'utf8' })
  if (checked.status !== 0) throw new Error(`apache2 -t: ${checked.stderr}`)
  const child: ChildProcess = spawn('/usr/sbin/apache2', ['-f', file, '-DFOREGROUND'], { stdio: 'ignore' })
  const url = `http://127.0.0.1:${options.port}`
  const stop = async () => {
    child.kill('SIGTERM')
    await new Promise((resolve) => { if (child.exitCode !== null) resolve(undefined); else child.once('exit', resolve) })
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; ; i++) {
      if (await fetch(`${url}/`, { redirect: 'manual' }).then(() => true, () => false)) break
      if (i === 100) throw new Error(`Apache did not start: ${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const cookies: string[] = []
    for (let i = 0; i < options.sessions; i++) {
      // The login a browser makes: mod_auth_openidc's redirect, the IdP (auto-consenting), the code back.
      const client = createCookieClient()
      const { response, hops } = await client.follow(`${url}/api/x`)
      const body = await response.text()
      if (response.status !== 200) throw new Error(`mod_auth_openidc login ended in ${response.status} after ${hops.map((hop) => `${hop.status} ${hop.url}`).join(' → ')}: ${body.slice(0, 300)}`)
      cookies.push([...client.cookies(url)].map(([name, value]) => `${name}=${value}`).join('; '))
    }
    return { url, pid: child.pid ?? 0, cookies, stop }
  } catch (error) {
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')
    await stop()
    throw new Error(`${String(error)}\n${log.slice(-2000)}`)
  }
}
