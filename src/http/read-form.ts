import type { IncomingMessage } from 'node:http'
import { CloakroomError } from '../errors.ts'

/** Reads an application/x-www-form-urlencoded body of at most `limit` bytes. */
export async function readForm(req: IncomingMessage, limit = 64 * 1024): Promise<URLSearchParams> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') {
    throw new CloakroomError('bad_request', 'Expected an application/x-www-form-urlencoded body')
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new CloakroomError('bad_request', 'The request body is too large')
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}
