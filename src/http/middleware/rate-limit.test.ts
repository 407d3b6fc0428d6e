import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CloakroomError } from '../../errors.ts'
import { createRateLimiter } from './rate-limit.ts'

test('allows the limit per minute per key, then rate_limited with Retry-After until the window ends', () => {
  let now = 1_000_000
  const limiter = createRateLimiter(3, () => now)
  for (let i = 0; i < 3; i++) limiter.hit('a')
  limiter.hit('b')
  now += 20_000
  assert.throws(() => limiter.hit('a'), (error: unknown) =>
    error instanceof CloakroomError && error.code === 'rate_limited' && error.retryAfter === 40)
  now += 40_000
  limiter.hit('a')
})
