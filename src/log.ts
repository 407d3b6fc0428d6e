import { pino, type Logger } from 'pino'

/**
 * JSON log lines on stdout. Nothing here should ever receive a token, a cookie or a code (the
 * code logs chosen fields only); the redaction list is the second line of defence.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'cloakroom' },
    redact: {
      paths: ['*.authorization', '*.cookie', '*["set-cookie"]', '*.accessToken', '*.refreshToken', '*.idToken',
        '*.access_token', '*.refresh_token', '*.id_token', '*.clientSecret', '*.secrets'],
      censor: '[redacted]',
    },
  })
}
