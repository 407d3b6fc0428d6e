import { test, expect } from '@playwright/test'
import { logInThroughDemo } from './log-in.ts'

test('the demo with DEMO_DPOP=1: its APIs get DPoP-bound tokens with a proof, the orders API one bound to the session\'s key', async ({ page }) => {
  await logInThroughDemo(page)
  const result = page.locator('#result')
  await page.getByRole('button', { name: 'Call API' }).click()
  await expect(result).toContainText('"authorization": "DPoP token, sha256')
  await expect(result).toContainText('"htm": "GET"')
  await page.getByRole('button', { name: 'Call the orders API (its own token)' }).click()
  await expect(result).toContainText('"aud": "https://orders.demo.cloakroom.example"')
  await expect(result).toContainText('"jkt":')
})
