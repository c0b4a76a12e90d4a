#!/usr/bin/env bash
# Runs every check and test of the project. Works on a fresh machine with
# only Rust (rustup) installed: whatever else it needs, it installs first.
set -euo pipefail
cd "$(dirname "$0")"
# A fresh checkout gains nothing from incremental caches but their disk.
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "Rust toolchain and wasm targets (rust-toolchain.toml)"
# `rustup show` installs the pinned toolchain with the targets it lists.
rustup show active-toolchain
for target in wasm32-wasip2 wasm32-unknown-unknown; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

step "Redis for the scale-out tests (Debian's redis-server; the tests start their own)"
if ! command -v redis-server >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi
# The package may start a system service; the tests never use it.
redis-server --version

step "Formatting (cargo fmt --check)"
cargo fmt --all --check

step "Lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
# The components as Spin runs them: built for wasm32-wasip2.
cargo clippy -p bgtasks-spin -p bgtasks-probe --target wasm32-wasip2 -- -D warnings

step "The engine builds for both wasm targets"
cargo build -p bgtasks-core --target wasm32-wasip2
cargo build -p bgtasks-core --target wasm32-unknown-unknown

step "Tests: engine, service (built component on the test host), host"
# The service tests build the component themselves (release, wasm32-wasip2).
# Each test process starts a private redis-server for its Redis stores.
cargo test --workspace

# The service's black-box tests (HTTP only): the same files run again on
# every other store and runtime below.
blackbox=(--test api --test durability --test races --test hostile --test scaleout
  --test http_tasks --test callbacks --test control)

step "The service's black-box tests again, every store on Redis (test host)"
# --workspace keeps the features of the first build: nothing is rebuilt.
BGTASKS_STORE=redis cargo test --workspace "${blackbox[@]}"

step "Under the real Spin (SQLite, then Redis), where Spin 4.1 or later is installed"
spin_version=$(spin --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$spin_version" =~ ^([0-9]+)\.([0-9]+) ]] &&
   (( BASH_REMATCH[1] > 4 || (BASH_REMATCH[1] == 4 && BASH_REMATCH[2] >= 1) )); then
  echo "spin $spin_version: the black-box tests and the host's probe checks run under spin up"
  BGTASKS_RUNTIME=spin cargo test --workspace "${blackbox[@]}" --test host
  BGTASKS_RUNTIME=spin BGTASKS_STORE=redis cargo test --workspace "${blackbox[@]}" --test host
else
  echo "No spin 4.1 or later on PATH: skipped the pass under the real Spin (the test host stood in)."
fi

step "Playground: build the page (installs the pinned wasm-bindgen CLI if missing)"
bash web-demo/build.sh

step "Playground: the façade's tests, in Node (wasm-bindgen-test)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p bgtasks-web --target wasm32-unknown-unknown

step "Playground end to end in headless Chromium, live mode on the component"
# The component on the test host, serving the built page at `/` as Spin does.
cargo build -q --workspace --example serve
work=$(mktemp -d)
"${CARGO_TARGET_DIR:-target}/debug/examples/serve" > "$work/url" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do [ -s "$work/url" ] && break; sleep 0.2; done
[ -s "$work/url" ] || { echo "the test host did not start"; exit 1; }
BGTASKS_LIVE_URL=$(head -1 "$work/url") bash tests/e2e/run.sh

printf '\nAll checks passed in %ss.\n' "$((SECONDS - started))"
