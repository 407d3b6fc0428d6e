import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
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

const encodedRefused: readonly string[] = [
  '/%09/evil.example', '/%0a/evil.example', '/%0D%0A/evil.example', '/%00', '/a?b=%00', '/a#%1f', '/%7f', '/%C2%85',
  '/%252F%252Fevil.example', '/%25252F%25252Fevil.example', '/%255Cevil.example', '/%2509/evil.example',
  '/a/%252e%252e/%252F%252Fevil.example', '/%5C%2F/evil.example', '/%2F%5Cevil.example', '/%2F%2Fevil.example%zz',
  '/%2F%2Fevil.example%', `/${`%${'25'.repeat(5)}2F`.repeat(2)}evil.example`,
]
for (const input of encodedRefused) {
  test(`falls back to / when decoding ${JSON.stringify(input)} could leave the origin or hides a control character`, () => {
    assert.equal(safeReturnTo(input), '/')
  })
}

const encodedKept: ReadonlyArray<[string, string]> = [
  ['/a%20b?q=%2F', '/a%20b?q=%2F'],
  ['/a%2Fb', '/a%2Fb'],
  ['/search?q=a%2Fb%5Cc&next=%2Fx', '/search?q=a%2Fb%5Cc&next=%2Fx'],
  ['/100%25', '/100%25'],
  ['/a#%2F%2Fx', '/a#%2F%2Fx'],
]
for (const [input, expected] of encodedKept) {
  test(`keeps the encoded same-origin path ${JSON.stringify(input)}`, () => assert.equal(safeReturnTo(input), expected))
}

const ORIGIN = 'https://app.example'
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** `text` and what decodeURIComponent makes of it, again and again, until it stops changing or fails. */
function decodings(text: string): string[] {
  const forms = [text]
  for (let round = 0; round < 10; round++) {
    let next: string
    try {
      next = decodeURIComponent(forms.at(-1) ?? '')
    } catch {
      break
    }
    if (next === forms.at(-1)) break
    forms.push(next)
  }
  return forms
}

function assertStaysHome(input: string): void {
  const output = safeReturnTo(input)
  if (output === '/') return
  assert.ok(output.startsWith('/') && !/^\/[/\\]/.test(output), output)
  for (const form of decodings(output)) {
    assert.doesNotMatch(form, CONTROL, `${JSON.stringify(output)} decodes to a control character`)
    assert.doesNotMatch(form, /^\/[/\\]/, `${JSON.stringify(output)} decodes to ${JSON.stringify(form)}`)
    const url = new URL(form, ORIGIN)
    assert.equal(url.origin, ORIGIN, `${JSON.stringify(output)} decodes to ${JSON.stringify(form)}`)
    assert.doesNotMatch(url.pathname, /^\/[/\\]/, `${JSON.stringify(output)} resolves to ${url.href}`)
  }
}

const pieces = fc.constantFrom('/', '/', '\\', '%', '%2', '%25', '%2F', '%2f', '%5C', '%5c', '%09', '%0A', '%00', '%7F', '%C2%85', '%2e', '..',
  '.', '?', '#', '0', '2', '5', '9', 'a', 'c', 'e', 'f', 'F', 'C', 'x', 'evil', ':', '@', '\t', '\n', '\u0000', ' ')
const inputs = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ maxLength: 60 }).map((text) => `/${text}`),
  fc.array(pieces, { maxLength: 20 }).map((parts) => parts.join('')),
  fc.array(pieces, { maxLength: 20 }).map((parts) => `/${parts.join('')}`),
)

test('any returnTo becomes / or a path that stays on the origin however often it is decoded', () => {
  fc.assert(fc.property(inputs, assertStaysHome), { numRuns: 30_000 })
})
