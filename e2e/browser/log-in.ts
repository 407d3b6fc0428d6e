import { expect, type Page } from '@playwright/test'

/** Logs in through the demo SPA and oidc-provider's own pages (login, then consent: both titled "Sign-in"). */
export async function logInThroughDemo(page: Page, account = 'alice'): Promise<void> {
  await page.goto('/')
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.locator('input[name=login]').fill(account)
  await page.locator('input[name=password]').fill('any password')
  await page.getByRole('button', { name: 'Sign-in' }).click()
  await page.getByRole('button', { name: 'Continue' }).click()
  await expect(page.locator('#sub')).toHaveText(account)
}
