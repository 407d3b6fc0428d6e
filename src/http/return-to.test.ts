import { test } from 'node:test'
import assert from 'node:assert/strict'
import { safeReturnTo } from './return-to.ts'

const kept: ReadonlyArray<[string, string]> = [
  ['/', '/'],
  ['/inbox', '/inbox'],
  ['/a/b?c=d&e=f#g', '/a/b?c=d&e=f#g'],
  ['/caf%C3%A9', '/caf%C3%A9'],
  ['/a//b', '/a//b'],
]
for (const [input, expected] of kept) {
  test(`keeps same-origin path ${JSON.stringify(input)}`, () => assert.equal(safeReturnTo(input), expected))
}

const refused: readonly unknown[] = [
  undefined, '', 42, ['/a', '/b'], 'inbox', '//evil.example', '//evil.example/path', '/\\evil.example', '\\\\evil.example',
  'https://evil.example', 'http:/evil.example', 'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,x',
  '/\t/evil.example', '/\n/evil.example', ' /x', '/x y', '%2F%2Fevil.example', '/%2F%2Fevil.example', '/%2f/evil.example',
  '/%5Cevil.example', '/%5c%5cevil.example', `/${'a'.repeat(2048)}`,
  '/x/%2e%2e/%2F%2Fevil.example', '/./%2f%2fevil.example', '/a/../%5cevil.example',
]
for (const input of refused) {
  test(`falls back to / for ${JSON.stringify(input)?.slice(0, 40)}`, () => assert.equal(safeReturnTo(input), '/'))
}
