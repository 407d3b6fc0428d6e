import { defineConfig } from '@playwright/test'

/** Browser tests: Debian's chromium (never a downloaded browser) against the demo on its own ports. */
const port = Number(process.env['E2E_DEMO_PORT'] ?? 18080)

export default defineConfig({
  testDir: 'e2e/browser',
  timeout: 60_000,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://localhost:${port}`,
    headless: true,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  webServer: {
    command: '.tools/node_modules/.bin/node demo/run.ts',
    url: `http://localhost:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    env: {
      DEMO_PORT: String(port),
      DEMO_IDP_PORT: String(port + 1),
      DEMO_API_PORT: String(port + 2),
      // Short-lived access tokens, so a test can wait past one and see it refreshed.
      DEMO_ACCESS_TOKEN_TTL: '6',
      DEMO_REFRESH_BEFORE: '2s',
      LOG_LEVEL: 'warn',
    },
  },
})
