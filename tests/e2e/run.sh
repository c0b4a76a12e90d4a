#!/usr/bin/env bash
# The playground's end-to-end tests: builds the page, then drives it in
# headless Chromium. Non-interactive; installs only what is missing.
# Set BGTASKS_LIVE_URL to a running service to exercise Live mode (without
# it, that test fails on purpose).
set -euo pipefail
cd "$(dirname "$0")"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> e2e: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
if [ ! -d node_modules ]; then
    echo "==> e2e: npm ci"
    npm ci --no-audit --no-fund
fi
echo "==> e2e: building the playground"
bash ../../web-demo/build.sh
echo "==> e2e: node --test"
exec node --test
