import { createHash } from 'node:crypto'
import { CloakroomError } from '../errors.ts'
import type { IndexKey } from './types.ts'

/** The name of an index: a hash of the subject or sid, so the store does not list who is logged in. */
export function indexName(by: IndexKey): string {
  const [kind, value] = 'sub' in by ? ['sub', by.sub] : 'idpSid' in by ? ['sid', by.idpSid] : ['psid', by.sid]
  return `${kind}:${createHash('sha256').update(value).digest('base64url')}`
}

/**
 * What a lock attempt is known by to others: a hash of its token, so a waiter can name the attempt
 * it waited for without being able to release it. (The Redis scripts compute the same in Lua.)
 */
export function holderId(token: string): string {
  return createHash('sha1').update(token).digest('hex').slice(0, 16)
}

/** The value a failed lock holder leaves behind, naming its attempt; tokens are base64url, so none starts with "!". */
export const FAILED_PREFIX = '!failed:'

/** How many pending logins a store holds at most by default (at about 300 bytes each, some 30 MB). */
export const MAX_PENDING_LOGINS = 100_000

export function tooManyPendingLogins(retryAfter: number): CloakroomError {
  return new CloakroomError('rate_limited', 'Too many logins in progress; try again later', { retryAfter })
}
