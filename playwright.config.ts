import { defineConfig } from '@playwright/test'

/**
 * Browser tests: Debian's chromium (never a downloaded browser) against the demo on its own ports.
 * A second demo with session.sameSite strict runs the specs that must hold for both settings; a
 * third, with DEMO_DPOP=1, the DPoP spec.
 */
const port = Number(process.env['E2E_DEMO_PORT'] ?? 18080)
const strictPort = port + 10
const dpopPort = port + 20

function demo(demoPort: number, env: Record<string, string>) {
  return {
    command: '.tools/node_modules/.bin/node demo/run.ts',
    url: `http://localhost:${demoPort}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    env: {
      DEMO_PORT: String(demoPort),
      DEMO_IDP_PORT: String(demoPort + 1),
      DEMO_API_PORT: String(demoPort + 2),
      LOG_LEVEL: 'warn',
      ...env,
    },
  }
}

export default defineConfig({
  testDir: 'e2e/browser',
  timeout: 60_000,
  workers: 1,
  reporter: [['list']],
  use: {
    headless: true,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  projects: [
    { name: 'lax', testIgnore: /demo-dpop\.spec\.ts$/, use: { baseURL: `http://localhost:${port}` } },
    { name: 'strict', testMatch: /two-tabs\.spec\.ts$/, use: { baseURL: `http://localhost:${strictPort}` } },
    { name: 'dpop', testMatch: /demo-dpop\.spec\.ts$/, use: { baseURL: `http://localhost:${dpopPort}` } },
  ],
  webServer: [
    // Short-lived access tokens, so a test can wait past one and see it refreshed.
    demo(port, { DEMO_ACCESS_TOKEN_TTL: '6', DEMO_REFRESH_BEFORE: '2s' }),
    demo(strictPort, { DEMO_SAME_SITE: 'strict' }),
    demo(dpopPort, { DEMO_DPOP: '1' }),
  ],
})
