import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createConcurrencyLimit } from './concurrency-limit.ts'

test('a client may have `max` requests in flight; one more is rate_limited until one ends', () => {
  const limit = createConcurrencyLimit(2)
  const first = limit.take('a')
  limit.take('a')
  assert.throws(() => limit.take('a'), { code: 'rate_limited', retryAfter: 1 })
  limit.take('b')
  first()
  first() // releasing twice frees one slot, not two
  limit.take('a')
  assert.throws(() => limit.take('a'), { code: 'rate_limited' })
})
