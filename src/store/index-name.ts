import { createHash } from 'node:crypto'
import type { SessionStore } from './types.ts'

/** The name of a back-channel index: a hash of the subject or sid, so the store does not list who is logged in. */
export function indexName(by: Parameters<SessionStore['sessionsOf']>[0]): string {
  const [kind, value] = 'sub' in by ? ['sub', by.sub] : ['sid', by.idpSid]
  return `${kind}:${createHash('sha256').update(value).digest('base64url')}`
}

/** The value a failed lock holder leaves behind; tokens are base64url, so none starts with "!". */
export const FAILED_LOCK = '!failed'
