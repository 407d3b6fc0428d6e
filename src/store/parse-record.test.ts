import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSessionRecord } from './parse-record.ts'
import { sampleSession } from './store-contract.ts'

test('a record reads back deep-equal to the one written', () => {
  const session = sampleSession(1_800_000_000)
  assert.deepEqual(parseSessionRecord(JSON.stringify(session)), session)
  const anonymousBrowser = { ...session, userAgent: undefined }
  assert.deepEqual(parseSessionRecord(JSON.stringify(anonymousBrowser)), anonymousBrowser)
})

test('a record with a DPoP key and tokens per resource reads back deep-equal; a resource named __proto__ stays a resource', () => {
  const token = { accessToken: 'rt-a', accessTokenExpiresAt: 1_800_000_300, tokenType: 'DPoP', scope: undefined }
  const session = {
    ...sampleSession(1_800_000_000),
    dpopKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' } as const,
    resourceTokens: Object.fromEntries([['https://orders.example.com', token], ['__proto__', { ...token, accessToken: 'rt-b' }]]),
  }
  const read = parseSessionRecord(JSON.stringify(session))
  assert.deepEqual(read, session)
  assert.equal(Object.getPrototypeOf(read?.resourceTokens), Object.prototype)
  assert.equal(read?.resourceTokens?.['__proto__']?.accessToken, 'rt-b')
  for (const broken of [{ ...session, dpopKey: { ...session.dpopKey, crv: 'P-384' } }, { ...session, resourceTokens: { x: { accessToken: 1 } } }]) {
    assert.equal(parseSessionRecord(JSON.stringify(broken)), undefined)
  }
})

test('a record written before lastSeenAt and userAgent existed: last seen at login, no browser name', () => {
  const { lastSeenAt: _seen, userAgent: _agent, ...older } = sampleSession(1_800_000_000)
  const read = parseSessionRecord(JSON.stringify(older))
  assert.equal(read?.lastSeenAt, older.createdAt)
  assert.equal(read?.userAgent, undefined)
})

test('anything not a well-formed record is undefined, never a throw', () => {
  for (const text of ['', 'null', '[]', '{}', '{"id":1}', JSON.stringify({ ...sampleSession(1), lastSeenAt: 'yesterday' })]) {
    assert.equal(parseSessionRecord(text), undefined, text)
  }
})
