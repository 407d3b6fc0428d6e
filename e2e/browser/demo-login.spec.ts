import { test, expect } from '@playwright/test'
import { logInThroughDemo } from './log-in.ts'

test('log in through the demo\'s real pages and call the API; the page holds no token', async ({ page, context }) => {
  await logInThroughDemo(page)
  await expect(page.locator('#name')).toHaveText('Alice Example')
  await page.getByRole('button', { name: 'Call API' }).click()
  const result = page.locator('#result')
  await expect(result).toContainText('200')
  await expect(result).toContainText('"authorization": "Bearer token, sha256')
  await expect(result).toContainText('"cookieHeader": null')
  await expect(result).toContainText('"sub": "alice"')
  // The orders route has its own resource: its API gets a JWT for that audience, checked against the IdP's keys.
  await page.getByRole('button', { name: 'Call the orders API (its own token)' }).click()
  await expect(result).toContainText('"aud": "https://orders.demo.cloakroom.example"')
  await expect(result).toContainText('JWT access token, signature checked')
  await expect(result).toContainText('"sub": "alice"')

  const cookies = await context.cookies(new URL(page.url()).origin)
  // The login's own cookie went when the login completed: the session cookie alone is left.
  expect(cookies.map((cookie) => cookie.name)).toEqual(['cloakroom'])
  for (const cookie of cookies) expect(cookie.httpOnly).toBe(true)
  expect(await page.evaluate(() => document.cookie)).toBe('')
  expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0)

  // Log out: Cloakroom ends its session, then the IdP's (its confirmation page), and the SPA is anonymous again.
  await page.getByRole('button', { name: 'Log out', exact: true }).click()
  await page.getByRole('button', { name: 'Yes, sign me out' }).click()
  await expect(page.getByRole('button', { name: 'Log in' })).toBeVisible()
  expect((await context.cookies(new URL(page.url()).origin)).map((cookie) => cookie.name)).not.toContain('cloakroom')
})
