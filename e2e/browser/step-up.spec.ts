import { test, expect } from '@playwright/test'
import { logInThroughDemo } from './log-in.ts'

test('step-up through the IdP\'s pages: a password sign-in is sent to a second factor by the sensitive action, and comes back able to do it', async ({ page }) => {
  await logInThroughDemo(page)
  await expect(page.locator('#acr')).toHaveText('urn:cloakroom:demo:pwd')
  const apiCalls: number[] = []
  page.on('response', (response) => { if (new URL(response.url()).pathname === '/api/sensitive/transfer') apiCalls.push(response.status()) })

  // step_up_required: the helper follows its loginUrl; the IdP asks for the password again, then the code.
  await page.getByRole('button', { name: /Sensitive action/ }).click()
  await page.locator('input[name=login]').fill('alice')
  await page.locator('input[name=password]').fill('any password')
  await page.getByRole('button', { name: 'Sign-in' }).click()
  await expect(page.getByRole('heading', { name: 'Second factor' })).toBeVisible()
  await page.getByLabel('One-time code').fill('000000')
  await page.getByRole('button', { name: 'Verify' }).click()
  await expect(page.getByRole('alert')).toHaveText('That code is not the right one.')
  await page.getByLabel('One-time code').fill('123456')
  await page.getByRole('button', { name: 'Verify' }).click()

  // Back on the SPA, signed in with the second factor: the same action now reaches the API.
  await expect(page.locator('#acr')).toHaveText('urn:cloakroom:demo:mfa')
  await expect(page.locator('#sub')).toHaveText('alice')
  await page.getByRole('button', { name: /Sensitive action/ }).click()
  await expect(page.locator('#result')).toContainText('"path": "/api/sensitive/transfer"')
  await expect(page.locator('#result')).toHaveText(/^200\n/)
  expect(apiCalls).toEqual([401, 200])
})
