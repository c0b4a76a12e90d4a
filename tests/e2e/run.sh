#!/usr/bin/env bash
# The playground's end-to-end tests: builds the page, then drives it in
# headless Chromium. Non-interactive; installs only what is missing.
# Set BGTASKS_LIVE_URL to a running service to exercise Live mode (without
# it, that test fails on purpose).
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
    echo "==> e2e: installing chromium"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
if [ ! -d node_modules ]; then
    echo "==> e2e: npm ci"
    npm ci --no-audit --no-fund
fi
echo "==> e2e: building the playground"
bash ../../web-demo/build.sh
echo "==> e2e: node --test"
exec node --test
