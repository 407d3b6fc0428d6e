import type { DpopKey, PendingLogin, ResourceToken, SessionRecord, TokenSet } from './types.ts'

type Fields = Readonly<Record<string, unknown>>

function assertObject(value: unknown, what: string): asserts value is Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${what}: not an object`)
}

function str(fields: Fields, key: string): string {
  const value = fields[key]
  if (typeof value !== 'string') throw new TypeError(`${key}: not a string`)
  return value
}

function optionalStr(fields: Fields, key: string): string | undefined {
  return fields[key] === undefined ? undefined : str(fields, key)
}

function num(fields: Fields, key: string): number {
  const value = fields[key]
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${key}: not a number`)
  return value
}

function optionalNum(fields: Fields, key: string): number | undefined {
  return fields[key] === undefined ? undefined : num(fields, key)
}

function toTokenSet(value: unknown): TokenSet {
  assertObject(value, 'tokens')
  return {
    accessToken: str(value, 'accessToken'),
    accessTokenExpiresAt: optionalNum(value, 'accessTokenExpiresAt'),
    refreshToken: optionalStr(value, 'refreshToken'),
    idToken: str(value, 'idToken'),
    tokenType: str(value, 'tokenType'),
    scope: optionalStr(value, 'scope'),
  }
}

function toDpopKey(value: unknown): DpopKey {
  assertObject(value, 'dpopKey')
  if (value['kty'] !== 'EC' || value['crv'] !== 'P-256') throw new TypeError('dpopKey: not a P-256 key')
  return { kty: 'EC', crv: 'P-256', x: str(value, 'x'), y: str(value, 'y'), d: str(value, 'd') }
}

function toResourceTokens(value: unknown): Record<string, ResourceToken> {
  assertObject(value, 'resourceTokens')
  // fromEntries defines own properties: a resource named "__proto__" stays a resource.
  return Object.fromEntries(Object.entries(value).map(([resource, token]) => {
    assertObject(token, 'resource token')
    const read: ResourceToken = {
      accessToken: str(token, 'accessToken'),
      accessTokenExpiresAt: optionalNum(token, 'accessTokenExpiresAt'),
      tokenType: str(token, 'tokenType'),
      scope: optionalStr(token, 'scope'),
    }
    return [resource, read]
  }))
}

// JSON drops keys whose value is undefined; rebuilding field by field restores them,
// so a record read back is deep-equal to the one written.
function toSessionRecord(value: unknown): SessionRecord {
  assertObject(value, 'session')
  const claims = value['claims']
  assertObject(claims, 'claims')
  return {
    id: str(value, 'id'),
    sub: str(value, 'sub'),
    claims,
    idpSid: optionalStr(value, 'idpSid'),
    tokens: toTokenSet(value['tokens']),
    ...(value['dpopKey'] === undefined ? {} : { dpopKey: toDpopKey(value['dpopKey']) }),
    // Only once a route with a resource was called, so a record reads back deep-equal to the one written.
    ...(value['resourceTokens'] === undefined ? {} : { resourceTokens: toResourceTokens(value['resourceTokens']) }),
    createdAt: num(value, 'createdAt'),
    // Records written before these fields existed: last seen at login, no browser name.
    lastSeenAt: optionalNum(value, 'lastSeenAt') ?? num(value, 'createdAt'),
    userAgent: optionalStr(value, 'userAgent'),
    absoluteExpiresAt: num(value, 'absoluteExpiresAt'),
    idleExpiresAt: num(value, 'idleExpiresAt'),
    version: num(value, 'version'),
  }
}

function toPendingLogin(value: unknown): PendingLogin {
  assertObject(value, 'pending login')
  return {
    codeVerifier: str(value, 'codeVerifier'),
    nonce: str(value, 'nonce'),
    returnTo: str(value, 'returnTo'),
    browserBinding: str(value, 'browserBinding'),
    createdAt: num(value, 'createdAt'),
    // Only when the login asked for one, so a login reads back deep-equal to the one written.
    ...(value['maxAge'] === undefined ? {} : { maxAge: num(value, 'maxAge') }),
    ...(value['dpopKey'] === undefined ? {} : { dpopKey: toDpopKey(value['dpopKey']) }),
  }
}

function parseWith<T>(json: string, build: (value: unknown) => T): T | undefined {
  try {
    return build(JSON.parse(json))
  } catch {
    return undefined
  }
}

/** A stored session from its JSON; undefined when the text is not a well-formed record. */
export function parseSessionRecord(json: string): SessionRecord | undefined {
  return parseWith(json, toSessionRecord)
}

/** A stored pending login from its JSON; undefined when the text is not well formed. */
export function parsePendingLogin(json: string): PendingLogin | undefined {
  return parseWith(json, toPendingLogin)
}
