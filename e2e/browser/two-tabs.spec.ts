import { test, expect, type Page } from '@playwright/test'

/** On oidc-provider's dev pages (both titled "Sign-in"): log in, consent if asked, and land back on the SPA. */
async function completeLogin(page: Page, returnTo: string): Promise<void> {
  await page.locator('input[name=login]').fill('alice')
  await page.locator('input[name=password]').fill('any password')
  await page.getByRole('button', { name: 'Sign-in' }).click()
  const consent = page.getByRole('button', { name: 'Continue' })
  const problem = page.getByRole('heading', { name: 'Sign-in problem' })
  const signedIn = page.locator('#sub')
  // The second tab's login may find the grant the first one gave, and skip consent.
  await expect(consent.or(signedIn).or(problem)).toBeVisible()
  if (await consent.isVisible()) await consent.click()
  await expect(signedIn.or(problem)).toBeVisible()
  expect(await problem.isVisible() ? await page.locator('p').first().textContent() : 'signed in').toBe('signed in')
  await expect(signedIn).toHaveText('alice')
  expect(new URL(page.url()).pathname).toBe(returnTo)
}

test('two tabs of a fresh browser start a login at the same moment: both complete, each on its own returnTo', async ({ context }) => {
  const sentCookies: string[] = []
  context.on('request', (request) => {
    if (request.url().includes('/auth/login')) void request.allHeaders().then((headers) => sentCookies.push(headers['cookie'] ?? ''))
  })
  // Hold each /auth/login until both tabs have sent theirs, so neither carries a cookie the other got:
  // what a restored browser session does with two tabs that open the app at once.
  let arrived = 0
  let release = () => {}
  const bothSent = new Promise<void>((resolve) => { release = resolve })
  await context.route(/\/auth\/login\?/, async (route) => {
    if (++arrived === 2) release()
    await bothSent
    await route.continue()
  })

  const [one, two] = [await context.newPage(), await context.newPage()]
  await Promise.all([one.goto('/auth/login?returnTo=/a'), two.goto('/auth/login?returnTo=/b')])
  await context.unrouteAll()
  expect(sentCookies).toHaveLength(2)
  for (const cookie of sentCookies) expect(cookie).not.toContain('cloakroom')

  await completeLogin(one, '/a')
  await completeLogin(two, '/b')

  // Nothing of either login is left: the session cookie alone.
  const origin = new URL(two.url()).origin
  expect((await context.cookies(origin)).map((cookie) => cookie.name)).toEqual(['cloakroom'])
})
