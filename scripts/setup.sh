#!/usr/bin/env bash
# Installs what Cloakroom's demo and tests need on a fresh Debian machine (as root):
# Node 24 from the npm registry into .tools/, redis-server and chromium (and npm, if missing) from Debian, npm ci.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# npm installs Node 24 below; a machine without any Node gets Debian's npm to bootstrap it.
command -v npm >/dev/null || missing+=(npm)
command -v redis-server >/dev/null || missing+=(redis-server)
[ "${1:-}" = "--no-browser" ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

NODE=.tools/node_modules/.bin/node
if ! [ -x "$NODE" ] || [[ "$("$NODE" --version)" != v24.* ]]; then
  echo "setup: installing Node 24 into .tools/"
  npm install --no-save --no-audit --no-fund --prefix .tools node@24 >/dev/null
fi
export PATH="$PWD/.tools/node_modules/.bin:$PATH"

if ! [ -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund >/dev/null
fi
