import { stat } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { join } from 'node:path'
import type { CustomFetch } from 'openid-client'
import type { Config } from './config/index.ts'
import { CloakroomError } from './errors.ts'
import { createOidcClient, discoveryUrl, type CredentialsProof, type OidcClient } from './oidc/index.ts'
import { describeIssuer } from './oidc/issuer-features.ts'
import { createStore, type StoreLog } from './store/index.ts'
import { withDeadline } from './deadline.ts'

export interface CheckOptions {
  /** Where the human lines go (stdout in the CLI). */
  readonly print: (line: string) => void
  /** Replaces fetch for calls to the issuer (tests). */
  readonly fetch?: CustomFetch
  /** Bound on connecting to the store and its PING (default 2000 ms). */
  readonly storeTimeoutMs?: number
}

/** The store writes no log line in a one-shot check; its finding is printed instead. */
const QUIET: StoreLog = { info() {}, warn() {}, error() {} }

/** A finding's verdict: only FAILED makes the check fail (exit 1). */
type Verdict = 'ok' | 'FAILED' | 'WARNING' | 'SKIPPED'

/**
 * `cloakroom check`: the config is valid (already, to get here); the issuer's discovery loads; the
 * token endpoint accepts the client's credentials; every `static` folder holds an index.html; the
 * store answers a PING. One human line per finding, no log lines. Returns the exit code: 0 when all
 * is well, 1 when something cannot work. Throws ConfigError (exit 2) for a private key that cannot
 * be read, as startup would.
 */
export async function runCheck(config: Config, { print, fetch, storeTimeoutMs = 2000 }: CheckOptions): Promise<number> {
  const oidc = await createOidcClient({ config, now: Date.now, ...(fetch === undefined ? {} : { fetch }) })
  let failures = 0
  const report = (what: string, verdict: Verdict, detail: string) => {
    if (verdict === 'FAILED') failures++
    print(`${what}: ${verdict} ${detail}`)
  }
  report('config', 'ok', `(${config.routes.length} routes, store ${config.store.type}, public URL ${config.publicUrl})`)

  await checkIssuer(config, oidc, report, print)
  for (const [index, route] of config.routes.entries()) {
    if (route.static === undefined) continue
    const problem = await staticFolderProblem(route.static)
    report('static', problem === undefined ? 'ok' : 'FAILED', `${route.path} serves ${route.static}${problem === undefined ? '' : `: ${problem} (routes[${index}].static)`}`)
  }
  try {
    const store = await createStore(config.store, { secrets: config.session.secrets, log: QUIET, now: Date.now, oneShot: true, connectTimeoutMs: storeTimeoutMs })
    await store.close()
    report('store', 'ok', config.store.type === 'memory' ? 'memory (sessions live in one process: run a single instance)' : `(${config.store.type}, PING answered)`)
  } catch (error) {
    report('store', 'FAILED', operatorDetail(error))
  }

  print(failures === 0 ? 'check: ok' : `check: FAILED (${failures} ${failures === 1 ? 'problem' : 'problems'})`)
  return failures === 0 ? 0 : 1
}

type Report = (what: string, verdict: Verdict, detail: string) => void

/** Discovery, then the credentials at the token endpoint (only once discovery has named it). */
async function checkIssuer(config: Config, oidc: OidcClient, report: Report, print: (line: string) => void): Promise<void> {
  // The issuer's own timeout bounds each call; a second more lets its error, not ours, be the one shown.
  const bound = (config.timeouts.idp + 1) * 1000
  const late = (where: string) => () => {
    throw new Error(`${where}: no answer within ${config.timeouts.idp + 1}s`)
  }
  let tokenEndpoint: string
  try {
    const metadata = await withDeadline(oidc.discover(), bound, late(discoveryUrl(new URL(config.oidc.issuer))))
    report('issuer', 'ok', metadata.issuer)
    for (const key of ['authorization_endpoint', 'token_endpoint'] as const) print(`  ${key}: ${metadata[key] ?? '(none)'}`)
    // What the issuer supports, and what that means for this configuration (FAILED: it cannot work).
    for (const finding of describeIssuer(metadata, config)) report(finding.feature, finding.verdict, finding.detail)
    await checkResources(config, oidc, report, bound)
    tokenEndpoint = metadata.token_endpoint ?? '(none)'
  } catch (error) {
    report('issuer', 'FAILED', operatorDetail(error))
    // Not a second problem: the token endpoint is unknown until discovery loads.
    report('credentials', 'SKIPPED', '(no discovery document, so no token endpoint to prove them at)')
    return
  }
  try {
    const proof = await withDeadline(oidc.proveCredentials(), bound, late(tokenEndpoint))
    report('credentials', ...credentialsFinding(proof, config.oidc.tokenEndpointAuthMethod, tokenEndpoint))
  } catch (error) {
    report('credentials', 'FAILED', operatorDetail(error))
  }
  // Not findings: no issuer lets a client read its registration, so these can only be named.
  for (const line of registeredUris(config)) print(`  ${line}`)
}

/**
 * Each route's resource (RFC 8707), asked of the issuer in an authorization request: discovery has
 * no field that says whether it takes them, so each is tried (no user signs in).
 */
async function checkResources(config: Config, oidc: OidcClient, report: Report, bound: number): Promise<void> {
  const resources = [...new Set(config.routes.flatMap((route) => route.resource ?? []))]
  if (resources.length === 0) {
    report('resource indicators', 'ok', 'not used (no route has a resource)')
    return
  }
  if (!config.oidc.scopes.includes('offline_access')) {
    report('resource indicators', 'WARNING', 'routes with a resource get their tokens with the refresh token, and oidc.scopes has no offline_access: without a refresh token those routes answer 503')
  }
  for (const resource of resources) {
    const routes = config.routes.filter((route) => route.resource === resource).map((route) => route.path).join(', ')
    const probe = await withDeadline(oidc.probeResource(resource), bound, () => ({ verdict: 'unproven' as const, detail: `no answer within ${bound / 1000}s` }))
    if (probe.verdict === 'accepted') report('resource indicators', 'ok', `${resource} accepted by the issuer (${routes})`)
    else if (probe.verdict === 'refused') report('resource indicators', 'FAILED', `${resource} refused by the issuer (invalid_target): ${routes} cannot get a token`)
    else report('resource indicators', 'WARNING', `${resource} not proven: ${probe.detail} (${routes})`)
  }
}

/** The URIs the client's registration at the issuer must hold, which check cannot verify. */
export function registeredUris(config: Config): string[] {
  const base = (path: string) => new URL(path, config.publicUrl).href
  return [
    `redirect_uri to register: ${base(config.oidc.callbackPath)} (not verifiable here)`,
    `post_logout_redirect_uri to register: ${config.oidc.postLogoutRedirectUri} (not verifiable here)`,
    `backchannel_logout_uri, if the issuer has back-channel logout: ${base('/auth/backchannel-logout')}`,
  ]
}

function credentialsFinding(proof: CredentialsProof, method: string, tokenEndpoint: string): [Verdict, string] {
  switch (proof.verdict) {
    case 'accepted': return ['ok', `(${method} accepted at ${tokenEndpoint})`]
    case 'refused': return ['FAILED', proof.detail]
    case 'unavailable': return ['FAILED', `${tokenEndpoint}: ${proof.detail}`]
    case 'unproven': return ['WARNING', `not proven: ${proof.detail}`]
  }
}

/** Why a `static` folder cannot serve the app, or undefined when it holds a regular index.html. */
export async function staticFolderProblem(folder: string): Promise<string | undefined> {
  const found = await statOrCode(folder)
  if (typeof found === 'string') return found === 'ENOENT' ? 'no such folder' : `cannot be read (${found})`
  if (!found.isDirectory()) return 'not a folder'
  const index = await statOrCode(join(folder, 'index.html'))
  if (typeof index === 'string') return index === 'ENOENT' ? 'no index.html in it' : `its index.html cannot be read (${index})`
  if (!index.isFile()) return 'its index.html is not a file'
  return undefined
}

/** The file's stats, or the error code that stat failed with ("ENOENT", "EACCES"). */
async function statOrCode(path: string): Promise<Stats | string> {
  try {
    return await stat(path)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    return typeof code === 'string' ? code : String(error)
  }
}

/** For the operator: a CloakroomError's cause says where and why (its message is the one a browser sees). */
function operatorDetail(error: unknown): string {
  if (error instanceof CloakroomError && error.cause instanceof Error) return error.cause.message
  return error instanceof Error ? error.message : String(error)
}
