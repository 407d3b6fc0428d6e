import assert from 'node:assert/strict'
import { test } from 'node:test'
import { closestKey, editDistance } from './did-you-mean.ts'

test('editDistance counts insertions, deletions, substitutions and adjacent swaps', () => {
  const table: [string, string, number][] = [
    ['scope', 'scopes', 1], ['clientid', 'clientid', 0], ['host', 'hots', 1], ['prot', 'port', 1],
    ['url', 'uri', 1], ['issuer', 'isuser', 1], ['scopes', 'scpoe', 2], ['', 'abc', 3], ['kitten', 'sitting', 3],
  ]
  for (const [a, b, distance] of table) assert.equal(editDistance(a, b), distance, `${a} → ${b}`)
})

test('closestKey suggests near keys only', () => {
  const oidcKeys = ['issuer', 'clientId', 'clientSecret', 'scopes', 'callbackPath']
  const table: [string, readonly string[], string | undefined][] = [
    ['scope', oidcKeys, 'scopes'],
    ['clientID', oidcKeys, 'clientId'],
    ['client_id', oidcKeys, 'clientId'],
    ['isuer', oidcKeys, 'issuer'],
    ['callbackUrl', oidcKeys, undefined],
    ['audience', oidcKeys, undefined],
    ['prot', ['host', 'port'], 'port'],
    // two edits on a four-letter word would match nearly anything
    ['tls', ['url', 'type'], undefined],
    ['hast', ['host', 'port'], 'host'],
  ]
  for (const [key, keys, expected] of table) assert.equal(closestKey(key, keys), expected, key)
})
