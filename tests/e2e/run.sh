#!/usr/bin/env bash
# The playground's end-to-end tests: builds the page, then drives it in
# headless Chromium. Non-interactive; installs only what is missing.
# Set BGTASKS_LIVE_URL to a running service to exercise Live mode (without
# it, that test fails on purpose). The token prompt needs a service that
# wants an API token: this script starts one (the test host's `serve`
# example with BGTASKS_API_TOKEN) unless BGTASKS_TOKEN_URL and
# BGTASKS_TOKEN name one already.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

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

if [ -z "${BGTASKS_TOKEN_URL:-}" ]; then
    echo "==> e2e: starting a service that wants an API token"
    (cd "$root" && cargo build -q --workspace --example serve)
    work=$(mktemp -d)
    export BGTASKS_TOKEN="e2e-token-$RANDOM$RANDOM"
    # Its own address is a permitted destination: a live HTTP task calls it.
    BGTASKS_API_TOKEN=$BGTASKS_TOKEN BGTASKS_HTTP_DESTINATIONS='http://127.0.0.1:*' \
        "${CARGO_TARGET_DIR:-$root/target}/debug/examples/serve" > "$work/url" &
    server=$!
    trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
    for _ in $(seq 300); do [ -s "$work/url" ] && break; sleep 0.2; done
    [ -s "$work/url" ] || { echo "the token service did not start"; exit 1; }
    BGTASKS_TOKEN_URL=$(head -1 "$work/url")
    export BGTASKS_TOKEN_URL
fi
echo "==> e2e: node --test"
node --test
