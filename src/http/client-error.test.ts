import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type AddressInfo } from 'node:net'
import { createServer } from 'node:http'
import { Duplex } from 'node:stream'
import { pino } from 'pino'
import { loadConfig } from '../config/index.ts'
import { startServer } from '../server.ts'
import { clientErrorResponse, clientErrorStatus, createClientErrorHandler, createConnectHandler } from './client-error.ts'

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5)

test('header overflow is 431, a client too slow is 408, any other parse error 400', () => {
  const table: ReadonlyArray<[unknown, number]> = [
    ['HPE_HEADER_OVERFLOW', 431], ['ERR_HTTP_REQUEST_TIMEOUT', 408], ['HPE_INVALID_METHOD', 400], ['HPE_INVALID_URL', 400],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 400], ['HPE_INVALID_TRANSFER_ENCODING', 400], ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 400], [undefined, 400],
  ]
  for (const [code, status] of table) assert.equal(clientErrorStatus(code), status, String(code))
})

test('the answer is a complete HTTP/1.1 problem response that closes the connection', () => {
  const body = '{"type":"about:blank","title":"Request Header Fields Too Large","status":431,"code":"bad_request"}'
  assert.equal(clientErrorResponse(431, new Date(NOW)), [
    'HTTP/1.1 431 Request Header Fields Too Large',
    'Date: Thu, 02 Jan 2025 03:04:05 GMT',
    'Content-Type: application/problem+json',
    `Content-Length: ${body.length}`,
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n'))
})

/** A socket that records what is written to it. */
function fakeSocket(): { socket: Duplex; written: () => string } {
  const chunks: Buffer[] = []
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  return { socket, written: () => Buffer.concat(chunks).toString('latin1') }
}

function recordingLog() {
  const lines: Array<{ fields: object; message: string }> = []
  return { lines, log: { debug: (fields: object, message: string) => lines.push({ fields, message }) } }
}

const parseError = (code: string) => Object.assign(new Error('Parse Error'), { code, rawPacket: Buffer.from('GET / HTTP/1.1\r\nCookie: secret=1\r\n') })

test('a parse error is answered on the socket, which is then ended; only the code is logged', async () => {
  const { lines, log } = recordingLog()
  const { socket, written } = fakeSocket()
  createClientErrorHandler(log, { now: () => NOW })(parseError('HPE_INVALID_HEADER_TOKEN'), socket)
  await new Promise((resolve) => socket.once('finish', resolve))
  assert.equal(written(), clientErrorResponse(400, new Date(NOW)))
  assert.equal(socket.writableEnded, true)
  assert.deepEqual(lines, [{ fields: { code: 'HPE_INVALID_HEADER_TOKEN' }, message: 'unreadable request' }])
  assert.doesNotMatch(JSON.stringify(lines), /secret/)
  socket.destroy()
})

test('a client that stays after its answer is dropped once lingerMs is over', async () => {
  const { socket } = fakeSocket()
  createClientErrorHandler(recordingLog().log, { lingerMs: 20 })(parseError('HPE_INVALID_METHOD'), socket)
  await new Promise((resolve) => socket.once('close', resolve))
  assert.equal(socket.destroyed, true)
})

test('a reset, an unwritable socket or a response already under way is destroyed without writing', () => {
  const cases: Array<[string, (socket: Duplex) => void]> = [
    ['ECONNRESET', () => {}],
    ['HPE_INVALID_METHOD', (socket) => socket.end()],
    ['HPE_INVALID_CHUNK_SIZE', (socket) => Object.assign(socket, { _httpMessage: { headersSent: true } })],
  ]
  for (const [code, prepare] of cases) {
    const { socket, written } = fakeSocket()
    prepare(socket)
    createClientErrorHandler(recordingLog().log)(parseError(code), socket)
    assert.equal(socket.destroyed, true, code)
    assert.equal(written(), '', code)
  }
})

test('a response not yet started does not stop the answer', async () => {
  const { socket, written } = fakeSocket()
  Object.assign(socket, { _httpMessage: { headersSent: false } })
  createClientErrorHandler(recordingLog().log, { now: () => NOW })(parseError('ERR_HTTP_REQUEST_TIMEOUT'), socket)
  await new Promise((resolve) => socket.once('finish', resolve))
  assert.equal(written(), clientErrorResponse(408, new Date(NOW)))
  socket.destroy()
})

test('a second report for the same socket writes nothing more', async () => {
  const { lines, log } = recordingLog()
  const { socket, written } = fakeSocket()
  const handler = createClientErrorHandler(log, { now: () => NOW })
  handler(parseError('HPE_INVALID_HEADER_TOKEN'), socket)
  handler(parseError('HPE_INVALID_EOF_STATE'), socket)
  await new Promise((resolve) => socket.once('finish', resolve))
  assert.equal(written(), clientErrorResponse(400, new Date(NOW)))
  assert.equal(lines.length, 1)
  socket.destroy()
})

/** Writes `chunks` on a fresh connection, then waits; resolves with everything read until the server closed. */
function exchange(port: number, chunks: readonly string[]): Promise<{ text: string; error: string | undefined }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    let error: string | undefined
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1') })
    socket.on('error', (e: NodeJS.ErrnoException) => { error = e.code })
    socket.on('close', () => resolve({ text, error }))
    for (const chunk of chunks) socket.write(chunk)
  })
}

test('a 20 KB Cookie header gets its 431 before the close, though the server stopped reading at 16 KB', async () => {
  const server = createServer((_req, res) => res.end())
  server.on('clientError', createClientErrorHandler(recordingLog().log))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const cookie = `session=${'a'.repeat(20_000)}`
  const results = await Promise.all(Array.from({ length: 20 }, () =>
    exchange(port, ['GET / HTTP/1.1\r\nHost: x\r\n', `Cookie: ${cookie}\r\n`, 'Accept: */*\r\n\r\n'])))
  server.close()
  for (const { text, error } of results) {
    assert.equal(error, undefined)
    assert.match(text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/)
    assert.match(text, /\r\nConnection: close\r\n/)
  }
})

test('a CONNECT gets 400 and Connection: close instead of a silent close', async () => {
  const server = createServer((_req, res) => res.end())
  server.on('connect', createConnectHandler(recordingLog().log))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const { text, error } = await exchange(port, ['CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n'])
  server.close()
  assert.equal(error, undefined)
  assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/)
  assert.match(text, /\r\nConnection: close\r\n/)
})

test('Cloakroom answers a client that sends half a request line and stalls with 408 and Connection: close', async () => {
  const config = loadConfig(JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    publicUrl: 'http://127.0.0.1',
    oidc: { issuer: 'http://127.0.0.1:1', clientId: 'client', clientSecret: 'secret' },
    session: { secrets: ['s'.repeat(32)] },
    store: { type: 'memory' },
    routes: [{ path: '/', target: 'http://127.0.0.1:1', token: 'none', csrf: false }],
  }), {})
  const server = await startServer({
    config,
    log: pino({ level: 'silent' }),
    fetch: () => Promise.reject(new Error('no issuer in this test')),
    httpTimeouts: { headersMs: 300, checkIntervalMs: 50 },
  })
  try {
    const started = Date.now()
    const { text, error } = await exchange(server.port, ['GET /api/x HT'])
    assert.equal(error, undefined)
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/)
    assert.match(text, /\r\nConnection: close\r\n/)
    assert.match(text, /\r\n\r\n\{"type":"about:blank","title":"Request Timeout","status":408,"code":"bad_request"\}$/)
    assert.ok(Date.now() - started < 2_000, 'answered at the headers timeout')
    // The same server answers a header that is too large, rather than resetting the connection.
    const big = await exchange(server.port, [`GET / HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(20_000)}\r\n\r\n`])
    assert.match(big.text, /^HTTP\/1\.1 431 /)
  } finally {
    await server.close(100)
  }
})
