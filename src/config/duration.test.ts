import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatDuration, parseDuration } from './duration.ts'

test('parseDuration reads units, bare seconds and numbers', () => {
  const table: [unknown, number][] = [
    ['90s', 90], ['30m', 1800], ['8h', 28_800], ['14d', 1_209_600], ['0s', 0],
    ['10', 10], ['0', 0], [45, 45], [0, 0], [0.25, 0.25],
  ]
  for (const [input, seconds] of table) assert.equal(parseDuration(input), seconds, `input ${JSON.stringify(input)}`)
})

test('parseDuration refuses anything else', () => {
  const table: unknown[] = [
    -1, '-5s', '1.5x', '1.5h', '1h30m', '10 s', ' 10s', '10s ', '10S', '10M', 's', '', 'abc', '10ms', '1w',
    Number.NaN, Number.POSITIVE_INFINITY, true, null, undefined, ['10s'], { s: 10 }, '99999999999999999999d',
  ]
  for (const input of table) assert.equal(parseDuration(input), undefined, `input ${String(input)}`)
})

test('formatDuration uses the largest whole unit', () => {
  const table: [number, string][] = [[86_400, '1d'], [43_200, '12h'], [1800, '30m'], [90, '90s'], [0, '0s'], [3601, '3601s']]
  for (const [seconds, text] of table) assert.equal(formatDuration(seconds), text)
})
