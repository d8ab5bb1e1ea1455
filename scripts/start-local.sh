#!/usr/bin/env bash
# Quick start, step 1: bring the whole system up on this machine (api :8080, vendor mocks
# :9101/:9102, workers from examples/vendorpools/). Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing dependencies"
  npm install --no-audit --no-fund
fi
echo "==> building"
npm run --silent build

# Redis: the one at REDIS_URL, else a private redis-server from PATH (installed from Debian
# when missing and we are root).
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> redis-server not found: installing Debian's redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is not on PATH and REDIS_URL is not set." >&2
    echo "Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2
    echo "or point REDIS_URL at a running Redis, then run this again." >&2
    exit 1
  fi
fi

exec node_modules/.bin/node dist/scripts/local.js "$@"
