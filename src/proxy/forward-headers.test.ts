import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import { clientAddress, isInvalidTokenChallenge, outgoingHeaders, responseHeaders } from './forward-headers.ts'

const context = { remoteAddress: '10.0.0.9', proto: 'https', host: 'app.example.com', websocket: false, cookie: (header: string | undefined) => header, trustedHops: 0 }
const forwarding = { 'x-forwarded-for': '10.0.0.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.com' }

test('hop-by-hop headers and every header Connection names are dropped; a WebSocket keeps its upgrade', () => {
  const headers: IncomingHttpHeaders = { connection: 'close, X-Forwarded-For, x-custom', 'x-custom': '1', 'x-forwarded-for': '6.6.6.6', te: 'trailers', 'keep-alive': 'x', 'proxy-authorization': 'Basic x', upgrade: 'h2c', accept: '*/*' }
  assert.deepEqual(outgoingHeaders(headers, context), { accept: '*/*', ...forwarding })
  const ws: IncomingHttpHeaders = { connection: 'Upgrade, x-custom', upgrade: 'websocket', 'x-custom': '1' }
  assert.deepEqual(outgoingHeaders(ws, { ...context, websocket: true }), { connection: 'upgrade', upgrade: 'websocket', ...forwarding })
})

test('the browser\'s Authorization and Expect never pass; Cookie is what the cookie filter leaves; a de-chunked body is framed as chunked again', () => {
  const headers: IncomingHttpHeaders = { authorization: 'Bearer browser-chosen', expect: '100-continue', cookie: 'cloakroom=s; theirs=1', 'transfer-encoding': 'chunked', 'content-length': '5', 'content-type': 'text/plain' }
  const outgoing = outgoingHeaders(headers, { ...context, cookie: (header) => header?.replace('cloakroom=s; ', '') })
  assert.deepEqual(outgoing, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked', cookie: 'theirs=1', ...forwarding })
  assert.deepEqual(outgoingHeaders({ cookie: 'cloakroom=s' }, { ...context, cookie: () => undefined }), forwarding)
  assert.deepEqual(outgoingHeaders({ 'content-length': '5' }, context), { 'content-length': '5', ...forwarding })
})

test('forwarding headers: a client\'s are dropped; behind n trusted proxies their n entries, Proto and Host pass on', () => {
  const untrusted: IncomingHttpHeaders = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil', 'x-forwarded-prefix': '/x', forwarded: 'for=6', 'x-real-ip': '6.6.6.6' }
  assert.deepEqual(outgoingHeaders(untrusted, context), forwarding)
  const trusted: IncomingHttpHeaders = { 'x-forwarded-for': '6.6.6.6, 203.0.113.1,10.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'front.example.com' }
  assert.deepEqual(outgoingHeaders(trusted, { ...context, trustedHops: 2 }), { 'x-forwarded-for': '203.0.113.1, 10.0.0.1, 10.0.0.9', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'front.example.com' })
  const garbage = outgoingHeaders({ 'x-forwarded-host': 'a b\r\nx', 'x-forwarded-proto': '' }, { ...context, trustedHops: 1 })
  assert.equal(garbage['x-forwarded-host'], 'app.example.com', 'a malformed value falls back to publicUrl')
  assert.equal(garbage['x-forwarded-proto'], 'https')
})

test('the incoming headers are left as they were', () => {
  const headers: IncomingHttpHeaders = { connection: 'keep-alive', authorization: 'x', accept: '*/*' }
  outgoingHeaders(headers, context)
  assert.deepEqual(headers, { connection: 'keep-alive', authorization: 'x', accept: '*/*' })
})

test('a target\'s response loses its hop-by-hop headers and the Set-Cookies of our cookie names', () => {
  const ours = (name: string) => name === 'cloakroom' || name.startsWith('cloakroom-login-')
  const headers = responseHeaders({
    connection: 'x-internal', 'x-internal': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'content-type': 'text/plain',
    'set-cookie': ['cloakroom=evil; Path=/api', ' cloakroom-login-abc =x', 'theirs=1; Path=/', 'Cloakroomx=1', 'cloakroom-login-xyz; Path=/'],
  }, ours)
  assert.deepEqual(headers, { 'content-type': 'text/plain', 'set-cookie': ['theirs=1; Path=/', 'Cloakroomx=1'] })
  assert.deepEqual(responseHeaders({ 'set-cookie': ['cloakroom=evil'] }, ours), {})
})

test('invalid_token challenges are recognised, other 401s are not', () => {
  assert.equal(isInvalidTokenChallenge('Bearer error="invalid_token"'), true)
  assert.equal(isInvalidTokenChallenge('Bearer realm="api", error=invalid_token, error_description="x"'), true)
  assert.equal(isInvalidTokenChallenge(['Basic realm="x"', 'bearer error="invalid_token"']), true)
  assert.equal(isInvalidTokenChallenge('Bearer realm="api"'), false)
  assert.equal(isInvalidTokenChallenge('Bearer error="insufficient_scope"'), false)
  assert.equal(isInvalidTokenChallenge(undefined), false)
})

test('the client address behind n trusted proxies is the nth X-Forwarded-For entry from the right', () => {
  assert.equal(clientAddress('6.6.6.6, 203.0.113.1, 10.0.0.1', '10.0.0.9', 2), '203.0.113.1')
  assert.equal(clientAddress('6.6.6.6, 203.0.113.1, 10.0.0.1', '10.0.0.9', 0), '10.0.0.9')
  assert.equal(clientAddress('10.0.0.1', '10.0.0.9', 3), '10.0.0.1', 'fewer entries than hops: the leftmost there is')
  assert.equal(clientAddress(undefined, '10.0.0.9', 1), '10.0.0.9')
})
