#!/usr/bin/env bash
# What `spin build` runs: the playground page, then the service component.
set -euo pipefail
cd "$(dirname "$0")"
echo "==> playground (web-demo)"
bash web-demo/build.sh
echo "==> service component (wasm32-wasip2)"
cargo build --target wasm32-wasip2 --release -p bgtasks-spin
