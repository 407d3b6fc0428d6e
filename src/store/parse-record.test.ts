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
