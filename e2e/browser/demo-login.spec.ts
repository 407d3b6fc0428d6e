import { test, expect } from '@playwright/test'

test('log in through the demo\'s real pages and call the API; the page holds no token', async ({ page, context }) => {
  await page.goto('/')
  await page.getByRole('button', { name: 'Log in' }).click()

  // oidc-provider's own login and consent pages (both titled "Sign-in").
  await page.locator('input[name=login]').fill('alice')
  await page.locator('input[name=password]').fill('any password')
  await page.getByRole('button', { name: 'Sign-in' }).click()
  await page.getByRole('button', { name: 'Continue' }).click()

  await expect(page.locator('#name')).toHaveText('Alice Example')
  await page.getByRole('button', { name: 'Call API' }).click()
  const result = page.locator('#result')
  await expect(result).toContainText('200')
  await expect(result).toContainText('"authorization": "Bearer token, sha256')
  await expect(result).toContainText('"cookieHeader": null')
  await expect(result).toContainText('"sub": "alice"')

  const cookies = await context.cookies(new URL(page.url()).origin)
  expect(cookies.map((cookie) => cookie.name).sort()).toEqual(['cloakroom', 'cloakroom-login'])
  for (const cookie of cookies) expect(cookie.httpOnly).toBe(true)
  expect(await page.evaluate(() => document.cookie)).toBe('')
  expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0)
})
