import type { Logger } from 'pino'
import type { Config } from './config/index.ts'
import { createOidcClient } from './oidc/index.ts'
import { createStore } from './store/index.ts'
import { withDeadline } from './deadline.ts'

/** Bounds a step of `cloakroom check` so it answers even when a dependency hangs. */
function within<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  return withDeadline(promise, seconds * 1000, () => {
    throw new Error(`${what} did not answer within ${seconds}s`)
  })
}

/** `cloakroom check`: the config is valid (already, to get here), the issuer's discovery loads, the store answers. */
export async function runCheck(config: Config, log: Logger): Promise<number> {
  const print = (line: string) => process.stdout.write(`${line}\n`)
  print(`config: ok (${config.routes.length} routes, store ${config.store.type}, public URL ${config.publicUrl})`)
  let failed = false

  try {
    const oidc = await createOidcClient({ config, now: Date.now })
    const metadata = await within(oidc.discover(), config.timeouts.idp + 1, 'the issuer')
    print(`issuer: ok ${metadata.issuer}`)
    for (const key of ['authorization_endpoint', 'token_endpoint', 'revocation_endpoint', 'end_session_endpoint'] as const) {
      print(`  ${key}: ${metadata[key] ?? '(none)'}`)
    }
  } catch (error) {
    failed = true
    print(`issuer: FAILED ${config.oidc.issuer}: ${describe(error)}`)
  }

  const store = await createStore(config.store, { secrets: config.session.secrets, log, now: Date.now })
  try {
    await within(store.ping(), 5, 'the store')
    print(`store: ok (${config.store.type})`)
  } catch (error) {
    failed = true
    print(`store: FAILED (${config.store.type}): ${describe(error)}`)
  } finally {
    await within(store.close(), 2, 'the store').catch(() => {})
  }
  print(failed ? 'check: FAILED' : 'check: ok')
  return failed ? 1 : 0
}

function describe(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : ''
  return error instanceof Error ? `${error.message}${cause}` : String(error)
}
