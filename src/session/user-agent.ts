const BROWSERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'], [/\bOPR\//, 'Opera'], [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'], [/\bHeadlessChrome\//, 'Headless Chrome'], [/\bChrom(?:e|ium)\/|\bCriOS\//, 'Chrome'], [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
]
const SYSTEMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'], [/\bAndroid\b/, 'Android'], [/\bCrOS\b/, 'ChromeOS'], [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'], [/\bLinux\b/, 'Linux'],
]

/**
 * A short, coarse name for a browser ("Firefox on Linux"), to tell a user's sessions apart in a list:
 * no versions (less to fingerprint), and never more than 64 plain characters of an unknown agent.
 */
export function summarizeUserAgent(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined
  const browser = BROWSERS.find(([pattern]) => pattern.test(header))?.[1]
  const system = SYSTEMS.find(([pattern]) => pattern.test(header))?.[1]
  if (browser !== undefined) return system === undefined ? browser : `${browser} on ${system}`
  const plain = header.replace(/[^\x20-\x7e]/g, '').trim().slice(0, 64)
  return plain === '' ? undefined : plain
}
