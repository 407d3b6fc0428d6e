import type { Seconds } from './types.ts'

// Only whole units: "1.5h" or "1h30m" are refused rather than guessed at; "M" is not minutes.
const DURATION = /^(\d+)([smhd]?)$/
const UNIT_SECONDS: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }

/**
 * Reads a duration as seconds: `"90s"`, `"30m"`, `"8h"`, `"14d"`, a string of digits (seconds) or a
 * non-negative number of seconds (fractions allowed, for short test timeouts). Anything else, including
 * negative values, is `undefined`.
 */
export function parseDuration(value: unknown): Seconds | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value + 0 : undefined
  if (typeof value !== 'string') return undefined
  const match = DURATION.exec(value)
  if (match === null) return undefined
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 1)
  return Number.isSafeInteger(seconds) ? seconds : undefined
}

/** Shows seconds the way an operator wrote them, for problem lines ("43200" reads worse than "12h"). */
export function formatDuration(seconds: Seconds): string {
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}
