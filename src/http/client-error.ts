import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'

/** The slice of the logger the handler uses (a pino Logger fits). */
export interface ClientErrorLog {
  debug(fields: object, message: string): void
}

export interface ClientErrorOptions {
  /** Epoch milliseconds, for the Date header. */
  readonly now?: () => number
  /** How long a client may keep sending after its answer before the socket is destroyed. */
  readonly lingerMs?: number
}

const REASON = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' } as const
export type ClientErrorStatus = keyof typeof REASON

/** The status for an error the HTTP parser or the server's timeouts reported (SPEC "Errors"). */
export function clientErrorStatus(code: unknown): ClientErrorStatus {
  if (code === 'HPE_HEADER_OVERFLOW') return 431
  // headersTimeout or requestTimeout ran out before the request was read.
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408
  return 400
}

/**
 * The raw HTTP/1.1 response for a request that never became one: an RFC 9457 problem, and
 * `Connection: close`, since after an unreadable message nothing on the connection can be framed.
 */
export function clientErrorResponse(status: ClientErrorStatus, date: Date): string {
  const body = JSON.stringify({ type: 'about:blank', title: REASON[status], status, code: 'bad_request' })
  return [
    `HTTP/1.1 ${status} ${REASON[status]}`,
    `Date: ${date.toUTCString()}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n')
}

/**
 * The server's `clientError` listener: a request the parser cannot read (or that came too slowly)
 * is answered, never dropped (SPEC "Errors"). Only the error code is logged: the error's rawPacket
 * holds the client's bytes, cookies included.
 */
export function createClientErrorHandler(log: ClientErrorLog, { now = Date.now, lingerMs = 2_000 }: ClientErrorOptions = {}) {
  const answered = new WeakSet<Duplex>()
  return (error: Error, socket: Duplex): void => {
    // The parser can report again for bytes that arrive after its first error: one answer is enough.
    if (answered.has(socket)) return
    answered.add(socket)
    const code = (error as { code?: unknown }).code
    log.debug({ code: typeof code === 'string' ? code : 'unknown' }, 'unreadable request')
    if (code === 'ECONNRESET' || !socket.writable || responseStarted(socket)) {
      socket.destroy()
      return
    }
    socket.end(clientErrorResponse(clientErrorStatus(code), new Date(now())))
    // Closing with unread input makes the kernel send a reset, which can destroy the answer
    // before the client reads it (a 20 KB Cookie header is still arriving when the parser gives
    // up at 16 KB): read and drop what comes, and close once the client does, or after lingerMs.
    socket.resume()
    const timer = setTimeout(() => socket.destroy(), lingerMs)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  }
}

/**
 * The server's `connect` listener. Cloakroom is no forward proxy (an authority-form target is
 * bad_request, SPEC "API routes"), but without a listener Node closes a CONNECT's socket without a
 * word: it gets the same 400 and `Connection: close` as a request the parser could not read.
 */
export function createConnectHandler(log: ClientErrorLog, options: ClientErrorOptions = {}) {
  const answer = createClientErrorHandler(log, options)
  return (_req: IncomingMessage, socket: Duplex): void => answer(Object.assign(new Error('CONNECT is not served'), { code: 'CONNECT' }), socket)
}

/** True once a response on this socket has sent its head: another status line would corrupt it. */
function responseStarted(socket: Duplex): boolean {
  // Node's own fallback makes the same check (lib/_http_server.js, socketOnError).
  const message = (socket as { _httpMessage?: { headersSent?: unknown } | null })._httpMessage
  return message?.headersSent === true
}
