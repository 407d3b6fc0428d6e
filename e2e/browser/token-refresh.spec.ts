import { createHash } from 'node:crypto'
import { test, expect } from '@playwright/test'
import { logInThroughDemo } from './log-in.ts'

const fingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 12)

test('past the access token lifetime, "call API" still works, and no token ever reached the page', async ({ page, context }) => {
  const bodies: string[] = []
  page.on('response', async (response) => {
    bodies.push(await response.text().catch(() => ''))
  })

  await logInThroughDemo(page)

  const result = page.locator('#result')
  const seen = async () => /sha256 ([0-9a-f]{12})/.exec((await result.textContent()) ?? '')?.[1]
  await page.getByRole('button', { name: 'Call API' }).click()
  await expect(result).toContainText('"sub": "alice"')
  const first = await seen()

  // The demo's IdP issues access tokens for 6 s: wait past that and call again.
  await page.waitForTimeout(7000)
  await page.getByRole('button', { name: 'Call API' }).click()
  await expect(result).not.toContainText(first ?? 'none')
  await expect(result).toContainText('"sub": "alice"')
  const second = await seen()
  expect(first).toMatch(/^[0-9a-f]{12}$/)
  expect(second).toMatch(/^[0-9a-f]{12}$/)
  expect(second).not.toBe(first)

  // The page holds no token: only HttpOnly cookies, empty storage...
  for (const cookie of await context.cookies()) expect(cookie.httpOnly).toBe(true)
  expect(await page.evaluate(() => document.cookie)).toBe('')
  expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0)
  // ...and no response it received carried one: no JWT, and no token-shaped string whose
  // fingerprint is one of the access tokens the API saw.
  const everything = bodies.join('\n')
  expect(everything).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/)
  for (const candidate of everything.match(/[\w-]{20,}/g) ?? []) {
    expect([first, second]).not.toContain(fingerprint(candidate))
  }
})
