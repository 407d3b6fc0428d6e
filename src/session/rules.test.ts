import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isExpired, needsRefresh, newSessionRecord, nextIdleExpiry, shouldTouch } from './rules.ts'

const timeouts = { idleTimeout: 1800, absoluteTimeout: 43200 }
const tokens = { accessToken: 'a', accessTokenExpiresAt: 1300, refreshToken: 'r', idToken: 'i', tokenType: 'Bearer', scope: undefined }
const session = newSessionRecord({ id: 's', sub: 'alice', claims: { sub: 'alice', sid: 'idp-sid' }, tokens }, timeouts, 1000)

test('a new session: version 1, idle and absolute deadlines from now, the IdP sid kept', () => {
  assert.equal(session.version, 1)
  assert.equal(session.createdAt, 1000)
  assert.equal(session.idleExpiresAt, 2800)
  assert.equal(session.absoluteExpiresAt, 44200)
  assert.equal(session.idpSid, 'idp-sid')
})

test('expiry: at the idle deadline, at the absolute deadline', () => {
  assert.equal(isExpired(session, 2799), false)
  assert.equal(isExpired(session, 2800), true)
  assert.equal(isExpired({ ...session, idleExpiresAt: 50000 }, 44200), true)
})

test('the idle deadline slides with activity but never past the absolute deadline', () => {
  assert.equal(nextIdleExpiry(session, timeouts, 2000), 3800)
  assert.equal(nextIdleExpiry(session, timeouts, 44000), 44200)
})

test('touching is skipped until the deadline would move by a tenth of the idle timeout (at most a minute)', () => {
  assert.equal(shouldTouch(session, timeouts, 1059), false)
  assert.equal(shouldTouch(session, timeouts, 1060), true)
  const short = { idleTimeout: 100, absoluteTimeout: 43200 }
  const s = newSessionRecord({ id: 's', sub: 'a', claims: {}, tokens }, short, 1000)
  assert.equal(shouldTouch(s, short, 1009), false)
  assert.equal(shouldTouch(s, short, 1010), true)
})

test('refresh is due within refreshBefore of the access token expiry, never without an expiry', () => {
  assert.equal(needsRefresh(session, 30, 1269), false)
  assert.equal(needsRefresh(session, 30, 1270), true)
  assert.equal(needsRefresh({ ...session, tokens: { ...tokens, accessTokenExpiresAt: undefined } }, 30, 99999), false)
})

test('without a refresh token, nothing is due until the access token has expired', () => {
  const noRefresh = { ...session, tokens: { ...tokens, refreshToken: undefined } }
  assert.equal(needsRefresh(noRefresh, 30, 1299), false)
  assert.equal(needsRefresh(noRefresh, 30, 1300), true)
})
