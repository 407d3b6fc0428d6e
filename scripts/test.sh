#!/usr/bin/env bash
# Every test: typecheck and build, unit tests, e2e suites (real redis-server and oidc-provider),
# then the Playwright browser tests (Debian's chromium). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/node_modules/.bin:$PATH"

echo "== typecheck and build (tsc)"
npm run --silent typecheck && npm run --silent build

echo "== unit and e2e tests (node --test)"
node --test --test-concurrency=2 --test-timeout=120000 'src/**/*.test.ts' 'e2e/*.test.ts'

echo "== browser tests (playwright, /usr/bin/chromium)"
npx playwright test
