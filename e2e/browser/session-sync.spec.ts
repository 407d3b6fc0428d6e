import { test, expect } from '@playwright/test'
import { logInThroughDemo } from './log-in.ts'

test('two tabs of one browser stay in sync: one logs out, the other shows it without a reload', async ({ page, context }) => {
  await logInThroughDemo(page)
  const other = await context.newPage()
  await other.goto('/')
  await expect(other.locator('#sub')).toHaveText('alice')
  // Both tabs hear the session's deadlines (one stream, shared).
  await expect(other.locator('#log')).toContainText('session: idle deadline')
  await expect(page.locator('#log')).toContainText('session: idle deadline')
  await expect(other.locator('#idle')).toHaveText(/\d+ min \d\d s/)

  await page.getByRole('button', { name: 'Log out', exact: true }).click()
  await expect(other.getByRole('button', { name: 'Log in' })).toBeVisible({ timeout: 5000 })
  await expect(other.locator('#log')).toContainText('session ended: logout')
})

test('the session list ends another browser\'s session, and that browser shows it at once', async ({ page, browser }) => {
  // An account of its own: other tests' sessions of alice may still be alive in the shared demo.
  const account = `lister-${Date.now()}`
  await logInThroughDemo(page, account)
  const elsewhere = await browser.newContext()
  const remote = await elsewhere.newPage()
  await logInThroughDemo(remote, account)
  await expect(remote.locator('#log')).toContainText('session: idle deadline')
  await page.reload()
  const rows = page.locator('#sessions tr')
  await expect(rows).toHaveCount(2)
  await expect(rows.filter({ hasText: 'this browser' })).toHaveCount(1)
  await rows.getByRole('button', { name: 'End' }).click()
  await expect(rows).toHaveCount(1)
  await expect(remote.getByRole('button', { name: 'Log in' })).toBeVisible({ timeout: 5000 })
  await expect(remote.locator('#log')).toContainText('session ended: revoked')
  await expect(page.locator('#sub')).toHaveText(account)
  await elsewhere.close()
})
