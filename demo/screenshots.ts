/**
 * Headless screenshots of the demo page for the docs (docs/images/):
 *
 *   node demo/screenshots.ts [out-dir]
 *
 * Starts the demo on spare ports, signs alice in from two browsers (separate cookie jars), takes the
 * page signed in, then ends that session from the other browser's session list and takes the page
 * again: signed out by the event stream, without a reload. Needs Debian's chromium.
 */
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { chromium, type Page } from '@playwright/test'

const out = resolve(process.argv[2] ?? 'docs/images')
mkdirSync(out, { recursive: true })
const port = 28080
const base = `http://localhost:${port}`
const demo = spawn(process.execPath, ['demo/run.ts'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, DEMO_PORT: String(port), DEMO_IDP_PORT: String(port + 1), DEMO_API_PORT: String(port + 2), LOG_LEVEL: 'warn' },
})
try {
  await new Promise<void>((ready, fail) => {
    demo.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('demo ready')) ready() })
    demo.once('exit', (code) => fail(new Error(`the demo exited (${code})`)))
  })
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] })
  const signIn = async (page: Page) => {
    await page.goto(`${base}/`)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('input[name=login]').fill('alice')
    await page.locator('input[name=password]').fill('any password')
    await page.getByRole('button', { name: 'Sign-in' }).click()
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.locator('#sub').getByText('alice').waitFor()
  }
  const here = await (await browser.newContext({ viewport: { width: 900, height: 1000 } })).newPage()
  const elsewhere = await (await browser.newContext({ userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15' })).newPage()
  await signIn(elsewhere)
  await signIn(here)
  await here.getByRole('button', { name: 'Call API' }).click()
  await here.locator('#result').getByText('200').waitFor()
  await here.locator('#idle').getByText(/min/).waitFor()
  await here.screenshot({ path: `${out}/demo-signed-in.png`, fullPage: true })

  await elsewhere.reload()
  await elsewhere.locator('#sessions tr').getByRole('button', { name: 'End' }).click()
  await here.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 5000 })
  await here.screenshot({ path: `${out}/demo-after-remote-logout.png`, fullPage: true })
  await browser.close()
  console.log(`wrote ${out}/demo-signed-in.png and ${out}/demo-after-remote-logout.png`)
} finally {
  demo.kill('SIGTERM')
}
