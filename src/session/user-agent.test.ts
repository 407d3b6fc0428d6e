import { test } from 'node:test'
import assert from 'node:assert/strict'
import { summarizeUserAgent } from './user-agent.ts'

test('common browsers and systems get a short name, without versions', () => {
  const cases: Array<[string, string]> = [
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Chrome on Linux'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 'Edge on Windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari on macOS'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari on iOS'],
    ['Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox on Linux'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome on Android'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36', 'Headless Chrome on Linux'],
    ['curl/8.5.0', 'curl'],
  ]
  for (const [header, name] of cases) assert.equal(summarizeUserAgent(header), name, header)
})

test('anything else is at most 64 plain characters; nothing is undefined', () => {
  assert.equal(summarizeUserAgent('node'), 'node')
  assert.equal(summarizeUserAgent(`x${'\u0000<script>'.repeat(20)}`)?.length, 64)
  assert.doesNotMatch(summarizeUserAgent('a\u0000b\u00ffc\r\nd') ?? '', /[^\x20-\x7e]/)
  assert.equal(summarizeUserAgent(undefined), undefined)
  assert.equal(summarizeUserAgent('\u0001\u0002'), undefined)
})
