import { randomBytes } from 'node:crypto'

// Random per process, so that ids from several instances never collide; a counter after it.
const PROCESS_ID = randomBytes(9).toString('base64url')
let counter = 0

/**
 * A request's id (X-Request-Id, `reqId` in its log lines): unique, not secret. A counter behind a
 * random per-process prefix costs a fraction of a randomUUID() on the path every API call takes.
 */
export function nextRequestId(): string {
  counter = counter === Number.MAX_SAFE_INTEGER ? 1 : counter + 1
  return `${PROCESS_ID}-${counter.toString(36)}`
}
