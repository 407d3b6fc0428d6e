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

/** GET /readyz: the store answers and the issuer's metadata is loaded (a load is tried if it is not). */
export function readyHandler(deps: Deps): Middleware<AppState> {
  return async (ctx) => {
    const [store, issuer] = await Promise.all([
      deps.store.ping().then(() => true, () => false),
      deps.oidc.ready || deps.oidc.discover().then(() => true, () => false),
    ])
    ctx.set('cache-control', 'no-store')
    ctx.status = store && issuer ? 200 : 503
    ctx.body = { status: ctx.status === 200 ? 'ready' : 'unavailable', store, issuer }
  }
}
