import type { IncomingMessage } from 'node:http'
import { CloakroomError } from '../errors.ts'

/** The body of at most `limit` bytes, as text. */
async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new CloakroomError('bad_request', 'The request body is too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** An optional JSON object body (application/json) of at most `limit` bytes; undefined when there is none. */
export async function readJson(req: IncomingMessage, limit: number): Promise<object | undefined> {
  const text = await readBody(req, limit)
  if (text.trim() === '') return undefined
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') throw new CloakroomError('bad_request', 'Expected an application/json body')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new CloakroomError('bad_request', 'The body is not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CloakroomError('bad_request', 'The body must be a JSON object')
  return value
}

/** Reads an application/x-www-form-urlencoded body of at most `limit` bytes. */
export async function readForm(req: IncomingMessage, limit = 64 * 1024): Promise<URLSearchParams> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') {
    throw new CloakroomError('bad_request', 'Expected an application/x-www-form-urlencoded body')
  }
  return new URLSearchParams(await readBody(req, limit))
}
