import type { Middleware } from 'koa'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'

/** GET /healthz: the process runs. */
export function healthHandler(): Middleware<AppState> {
  return (ctx) => {
    ctx.set('cache-control', 'no-store')
    ctx.body = { status: 'ok' }
  }
}

/**
 * GET /readyz: the store answers and the issuer's metadata is loaded. Answers from what is known
 * now; a missing discovery is retried in the background, so a probe never waits on the issuer.
 */
export function readyHandler(deps: Deps): Middleware<AppState> {
  return async (ctx) => {
    if (!deps.oidc.ready) deps.oidc.discover().catch(() => {})
    const store = await deps.store.ping().then(() => true, () => false)
    const issuer = deps.oidc.ready
    ctx.set('cache-control', 'no-store')
    ctx.status = store && issuer ? 200 : 503
    ctx.body = { status: ctx.status === 200 ? 'ready' : 'unavailable', store, issuer }
  }
}
