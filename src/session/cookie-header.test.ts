import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { cookieValue, parseCookieHeader, removeCookies } from './cookie-header.ts'
import { createSessionCookies } from './session-cookies.ts'

const { isOwnCookie } = createSessionCookies({ cookieName: 'cloakroom', secrets: ['s'.repeat(32)], sameSite: 'lax', idleTimeout: 1800, absoluteTimeout: 43200 }, false)

/** A name as leniently as any server reads it: trimmed, and a part without "=" is all name. */
const lenientName = (part: string) => (part.includes('=') ? part.slice(0, part.indexOf('=')) : part).trim()

const ows = fc.constantFrom('', ' ', '  ', '\t', ' \t ')
const ownName = fc.constantFrom('cloakroom', 'cloakroom-login', 'cloakroom-login-AbC_-12345', 'cloakroom-login-x')
const otherName = fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map((name) => name.replace(/[;=]/g, '')).filter((name) => !isOwnCookie(name.trim()))
const value = fc.string({ unit: 'binary', maxLength: 30 }).map((text) => text.replaceAll(';', ''))
/** One part of a Cookie header: ours or not, with any spacing around the name, sometimes without "=" at all. */
const part = fc.oneof(
  fc.tuple(ows, ownName, ows, value).map(([a, name, b, v]) => `${a}${name}${b}=${v}`),
  fc.tuple(ows, ownName, ows).map(([a, name, b]) => `${a}${name}${b}`),
  fc.tuple(ows, otherName, ows, value).map(([a, name, b, v]) => `${a}${name}${b}=${v}`),
  value,
)
const header = fc.array(part, { maxLength: 10 }).map((parts) => parts.join(';'))

test('removeCookies: none of our cookies survives, whatever the spacing, duplicates or order (property)', () => {
  fc.assert(fc.property(header, (text) => {
    const kept = removeCookies(text, isOwnCookie)
    if (kept === undefined) return
    for (const rest of kept.split(';')) assert.equal(isOwnCookie(lenientName(rest)), false, rest)
    for (const name of parseCookieHeader(kept).keys()) assert.equal(isOwnCookie(name), false, name)
  }), { numRuns: 2000 })
})

test('removeCookies keeps every other cookie, in order, and only trims around it (property)', () => {
  fc.assert(fc.property(header, (text) => {
    const expected = text.split(';').map((p) => p.trim()).filter((p) => p !== '' && !isOwnCookie(lenientName(p)))
    assert.equal(removeCookies(text, isOwnCookie), expected.length === 0 ? undefined : expected.join('; '))
  }), { numRuns: 1000 })
})

test('removeCookies never throws and leaves nothing of ours in any string (property)', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => {
    for (const rest of removeCookies(text, isOwnCookie)?.split(';') ?? []) assert.equal(isOwnCookie(lenientName(rest)), false)
  }), { numRuns: 1000 })
})

test('removeCookies still takes a set of names', () => {
  assert.equal(removeCookies('a=1; cloakroom=x;  b=2 ; cloakroom = y', (name) => name === 'cloakroom'), 'a=1; b=2')
  assert.equal(removeCookies('cloakroom=x', (name) => name === 'cloakroom'), undefined)
  assert.equal(removeCookies(undefined, isOwnCookie), undefined)
  assert.equal(removeCookies(' ; ;', isOwnCookie), undefined)
})

test('parseCookieHeader: the first value of each name, the name trimmed, the value exactly as sent (property)', () => {
  const pair = fc.tuple(ows, fc.oneof(ownName, otherName), ows, value)
  fc.assert(fc.property(fc.array(pair, { maxLength: 10 }), (pairs) => {
    const text = pairs.map(([a, name, b, v]) => `${a}${name}${b}=${v}`).join(';')
    const expected = new Map<string, string>()
    for (const [, name, , v] of pairs) if (name.trim() !== '' && !expected.has(name.trim())) expected.set(name.trim(), v)
    assert.deepEqual(parseCookieHeader(text), expected)
  }), { numRuns: 1000 })
})

test('parseCookieHeader: no name, no "=", an oversized header', () => {
  assert.deepEqual([...parseCookieHeader('=x; y; ;a=1;a=2; b= 2 ')], [['a', '1'], ['b', ' 2 ']])
  assert.equal(parseCookieHeader(`a=${'x'.repeat(16_400)}`).size, 0)
  assert.equal(parseCookieHeader(undefined).size, 0)
})

test('cookieValue reads one cookie exactly as parseCookieHeader reads it, for any header and name', () => {
  const piece = fc.constantFrom('cloakroom', 'a', ' cloakroom', 'cloakroom ', '=', ';', ' ', 'x=1', 'cloakroom=v', 'cloakroom=', '\t')
  const header = fc.array(fc.oneof(piece, fc.string({ maxLength: 6 })), { maxLength: 12 }).map((parts) => parts.join(''))
  fc.assert(fc.property(header, fc.constantFrom('cloakroom', 'a', 'x'), (text, name) => {
    assert.equal(cookieValue(text, name), parseCookieHeader(text).get(name))
  }), { numRuns: 20_000 })
  assert.equal(cookieValue(undefined, 'a'), undefined)
  assert.equal(cookieValue(`a=${'x'.repeat(20_000)}`, 'a'), undefined, 'an oversized header holds no cookie')
})
