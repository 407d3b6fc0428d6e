import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkCsrf, checkOrigin } from './csrf.ts'

const options = { headerName: 'x-csrf', origin: 'https://app.example.com' }
const code = (fn: () => void) => {
  try {
    fn()
    return 'ok'
  } catch (error) {
    return (error as { code: string }).code
  }
}

const cases: ReadonlyArray<[Record<string, string>, string]> = [
  [{}, 'csrf_required'],
  [{ 'x-csrf': '0' }, 'csrf_required'],
  [{ 'x-csrf': 'true' }, 'csrf_required'],
  [{ 'x-csrf': '1' }, 'ok'],
  [{ 'x-csrf': '1', origin: 'https://app.example.com' }, 'ok'],
  [{ 'x-csrf': '1', origin: 'https://app.example.com', 'sec-fetch-site': 'same-origin' }, 'ok'],
  [{ 'x-csrf': '1', origin: 'https://evil.example' }, 'origin_mismatch'],
  [{ 'x-csrf': '1', origin: 'http://app.example.com' }, 'origin_mismatch'],
  [{ 'x-csrf': '1', origin: 'null' }, 'origin_mismatch'],
  [{ 'x-csrf': '1', 'sec-fetch-site': 'cross-site' }, 'origin_mismatch'],
]
for (const [headers, expected] of cases) {
  test(`checkCsrf ${JSON.stringify(headers)} → ${expected}`, () => assert.equal(code(() => checkCsrf(headers, options)), expected))
}

test('WebSocket upgrades need the Origin itself', () => {
  assert.equal(code(() => checkOrigin({}, options, true)), 'origin_mismatch')
  assert.equal(code(() => checkOrigin({ origin: 'https://evil.example' }, options, true)), 'origin_mismatch')
  assert.equal(code(() => checkOrigin({ origin: 'https://app.example.com' }, options, true)), 'ok')
})
