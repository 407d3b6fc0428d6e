import { test, expect } from '@playwright/test'
import { logInThroughDemo } from './log-in.ts'

test('the helper\'s api(): a target\'s own 401 sends the tab to sign in, but not again within 30 s', async ({ page }) => {
  await logInThroughDemo(page)
  // A target that refuses whoever comes.
  await page.route('**/api/refuses-everyone', (route) => route.fulfill({ status: 401, body: 'no' }))
  const logins: string[] = []
  page.on('request', (request) => { if (new URL(request.url()).pathname === '/auth/login') logins.push(request.url()) })
  const call = () => page.evaluate(async () => {
    const { createCloakroom } = await import('/auth/client.js' as string) as typeof import('../../client/cloakroom.js')
    return (await createCloakroom().api('/api/refuses-everyone')).status
  })
  // Signed in at the IdP already: the sign-in comes straight back to this page.
  const back = page.waitForResponse((response) => new URL(response.url()).pathname === '/auth/callback')
  expect(await call()).toBe(401)
  await back
  await expect(page.locator('#sub')).toHaveText('alice')
  expect(logins).toHaveLength(1)
  expect(await call()).toBe(401)
  await page.waitForTimeout(1000)
  expect(logins).toHaveLength(1)
  await expect(page.locator('#sub')).toHaveText('alice')
})
