import assert from 'node:assert/strict'
import { test } from 'node:test'
import { substituteEnv } from './substitute-env.ts'

const env = { HOST: 'idp.example.com', EMPTY: '', PORT: '9000' }

test('substituteEnv replaces references, with and without defaults', () => {
  const table: [string, string][] = [
    ['issuer: https://${HOST}', 'issuer: https://idp.example.com'],
    ['port: ${PORT:-8080}', 'port: 9000'],
    ['port: ${MISSING:-8080}', 'port: 8080'],
    // as in the shell, an empty value takes the default too
    ['x: ${EMPTY:-fallback}', 'x: fallback'],
    ['x: "${EMPTY}"', 'x: ""'],
    ['x: ${MISSING:-}', 'x: '],
    ['x: ${MISSING:-a:b c}', 'x: a:b c'],
    ['x: ${HOST}:${PORT}', 'x: idp.example.com:9000'],
    ['x: $${HOST}', 'x: ${HOST}'],
    ['x: $HOST and ${ unclosed', 'x: $HOST and ${ unclosed'],
    ['  # secret: ${MISSING}', '  # secret: ${MISSING}'],
  ]
  for (const [input, output] of table) {
    assert.deepEqual(substituteEnv(input, env), { text: output, problems: [] }, input)
  }
})

test('substituteEnv reports each unset variable with its line', () => {
  const text = 'a: 1\nsecret: ${OIDC_SECRET}\nb: ${HOST}\nc: ${ALSO_MISSING} ${OIDC_SECRET}\n'
  assert.deepEqual(substituteEnv(text, env), {
    text: 'a: 1\nsecret: \nb: idp.example.com\nc:  \n',
    problems: [
      'line 2: environment variable OIDC_SECRET is not set (write ${OIDC_SECRET:-default} to give a default)',
      'line 4: environment variable ALSO_MISSING is not set (write ${ALSO_MISSING:-default} to give a default)',
      'line 4: environment variable OIDC_SECRET is not set (write ${OIDC_SECRET:-default} to give a default)',
    ],
  })
})

test('substituteEnv refuses a malformed reference', () => {
  assert.deepEqual(substituteEnv('x: ${1BAD}\ny: ${A-B}', {}), {
    text: 'x: \ny: ',
    problems: [
      'line 1: "${1BAD}" is not a variable reference (expected ${NAME} or ${NAME:-default})',
      'line 2: "${A-B}" is not a variable reference (expected ${NAME} or ${NAME:-default})',
    ],
  })
})
