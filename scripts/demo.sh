#!/usr/bin/env bash
# The demo: OpenID Provider, demo API, SPA and Cloakroom together, with embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-browser
exec .tools/node_modules/.bin/node demo/run.ts
