/** Cloakroom's browser helper (GET /auth/client.js, or `import { createCloakroom } from 'cloakroom/client'`). */

export interface CloakroomOptions {
  /** Where Cloakroom answers, if not on this page's origin root (default ""). */
  readonly base?: string
  /** The CSRF header's name (csrf.headerName; default "X-CSRF"). */
  readonly csrfHeader?: string
}

/** What the session's event stream tells: its deadlines (epoch seconds), and its end with the reason. */
export type SessionEvent =
  | { readonly type: 'session'; readonly expiresAt: number; readonly idleExpiresAt: number }
  | { readonly type: 'ended'; readonly reason: 'logout' | 'backchannel' | 'revoked' | 'expired' | 'replaced' }

export interface User {
  readonly sub: string
  readonly claims: Readonly<Record<string, unknown>>
  readonly session: { readonly sid: string; readonly expiresAt: number; readonly idleExpiresAt: number }
}

export interface SessionInfo {
  readonly sid: string
  readonly createdAt: number
  readonly lastSeenAt: number
  readonly expiresAt: number
  readonly userAgent: string | null
  readonly current: boolean
}

export interface Cloakroom {
  /**
   * fetch with the CSRF header. A 401 step_up_required goes to its loginUrl; any other 401 goes to
   * sign in, unless this tab was sent to sign in less than 30 s ago (a target that refuses everyone
   * would otherwise loop). Returns the response either way.
   */
  api(path: string, init?: RequestInit): Promise<Response>
  /** Who is signed in, or undefined. */
  user(): Promise<User | undefined>
  /** Sends the browser to sign in, coming back to `returnTo` (default: this page). */
  login(returnTo?: string): void
  /** Ends this session (or, with `everywhere`, every session of this user), then goes to the issuer's logout page. */
  logout(options?: { readonly everywhere?: boolean }): Promise<void>
  /** This user's live sessions. */
  sessions(): Promise<SessionInfo[]>
  /** Ends one of this user's sessions. */
  endSession(sid: string): Promise<void>
  /** Calls `listener` with each session event, from one stream shared by the tabs of this browser; returns the unsubscribe. */
  onSession(listener: (event: SessionEvent) => void): () => void
}

export function createCloakroom(options?: CloakroomOptions): Cloakroom
