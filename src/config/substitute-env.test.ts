import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Replacement, sourcePosition, substituteEnv } from './substitute-env.ts'

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
    const { text, problems } = substituteEnv(input, env)
    assert.deepEqual({ text, problems }, { text: output, problems: [] }, input)
  }
})

test('substituteEnv reports each unset variable with its line', () => {
  const text = 'a: 1\nsecret: ${OIDC_SECRET}\nb: ${HOST}\nc: ${ALSO_MISSING} ${OIDC_SECRET}\n'
  const substituted = substituteEnv(text, env)
  assert.equal(substituted.text, 'a: 1\nsecret: \nb: idp.example.com\nc:  \n')
  assert.deepEqual(substituted.problems, [
    'line 2: environment variable OIDC_SECRET is not set (write ${OIDC_SECRET:-default} to give a default)',
    'line 4: environment variable ALSO_MISSING is not set (write ${ALSO_MISSING:-default} to give a default)',
    'line 4: environment variable OIDC_SECRET is not set (write ${OIDC_SECRET:-default} to give a default)',
  ])
})

test('substituteEnv refuses a malformed reference', () => {
  const { text, problems } = substituteEnv('x: ${1BAD}\ny: ${A-B}', {})
  assert.deepEqual({ text, problems }, {
    text: 'x: \ny: ',
    problems: [
      'line 1: "${1BAD}" is not a variable reference (expected ${NAME} or ${NAME:-default})',
      'line 2: "${A-B}" is not a variable reference (expected ${NAME} or ${NAME:-default})',
    ],
  })
})

test('substituteEnv tells which variable went where, and whether it was set, never its value', () => {
  const table: [string, Record<string, string>, Replacement[]][] = [
    ['a: ${A}', { A: 'value' }, [{ source: [3, 7], target: [3, 8], variable: { name: 'A', unset: false, defaulted: false } }]],
    ['a: ${A}', { A: '' }, [{ source: [3, 7], target: [3, 3], variable: { name: 'A', unset: true, defaulted: false } }]],
    ['a: ${A}', {}, [{ source: [3, 7], target: [3, 3], variable: { name: 'A', unset: true, defaulted: false } }]],
    ['a: ${A:-dflt}', {}, [{ source: [3, 13], target: [3, 7], variable: { name: 'A', unset: true, defaulted: true } }]],
    ['a: ${A:-dflt}', { A: 'x' }, [{ source: [3, 13], target: [3, 4], variable: { name: 'A', unset: false, defaulted: false } }]],
    // offsets run on across lines and earlier replacements; escapes and bad references shift them too
    ['a: $${\nb: ${1X} ${B}', { B: 'bb' }, [
      { source: [3, 6], target: [3, 5] },
      { source: [10, 15], target: [9, 9] },
      { source: [16, 20], target: [10, 12], variable: { name: 'B', unset: false, defaulted: false } },
    ]],
    ['# ${A}\nb: ${A}', { A: 'long value' }, [{ source: [10, 14], target: [10, 20], variable: { name: 'A', unset: false, defaulted: false } }]],
  ]
  for (const [text, values, replacements] of table) {
    const substituted = substituteEnv(text, values)
    assert.deepEqual(substituted.replacements, replacements, text)
    for (const { target } of substituted.replacements) assert.ok(target[1] <= substituted.text.length)
  }
})

test('sourcePosition maps an offset in the substituted text back to the text as written', () => {
  const written = 'a: ${A}\nb: [x\n'
  const substituted = substituteEnv(written, { A: 'a value\nwith a line break' })
  // Each search text occurs once in the substituted text.
  const table: [string, { offset: number; insideOf?: string }][] = [
    ['a:', { offset: 0 }],
    ['value', { offset: 3, insideOf: 'A' }],
    ['break', { offset: 3, insideOf: 'A' }],
    ['b:', { offset: written.indexOf('b:') }],
    ['[', { offset: written.indexOf('[') }],
  ]
  for (const [text, expected] of table) {
    assert.deepEqual(sourcePosition(substituted.replacements, substituted.text.indexOf(text)), expected, text)
  }
  assert.deepEqual(sourcePosition(substituted.replacements, substituted.text.length), { offset: written.length })
})
