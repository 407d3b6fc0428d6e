import type { Context } from 'koa'
import { CloakroomError } from '../errors.ts'
import type { SessionRecord } from '../store/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'

/** The request's live session, or undefined. */
export async function optionalSession(ctx: Context & { state: AppState }, deps: Deps): Promise<SessionRecord | undefined> {
  ctx.state.session ??= await deps.sessions.fromCookie(ctx.get('cookie') || undefined)
  return ctx.state.session
}

/** The request's live session; 401 unauthenticated without one. */
export async function requireSession(ctx: Context & { state: AppState }, deps: Deps): Promise<SessionRecord> {
  const session = await optionalSession(ctx, deps)
  if (session === undefined) throw new CloakroomError('unauthenticated', 'No valid session')
  return session
}
