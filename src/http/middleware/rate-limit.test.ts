import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CloakroomError } from '../../errors.ts'
import { addressKey, createRateLimiter } from './rate-limit.ts'

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

test('addresses are counted by IPv4 address and by IPv6 /64', () => {
  const cases: ReadonlyArray<[string, string]> = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ]
  for (const [ip, key] of cases) assert.equal(addressKey(ip), key, ip)
  assert.equal(addressKey('2001:db8:1:2::a'), addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'))
  assert.notEqual(addressKey('2001:db8:1:2::a'), addressKey('2001:db8:1:3::a'))
})
