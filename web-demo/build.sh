#!/usr/bin/env bash
# Builds the playground into web-demo/dist/: the page (www/) and the engine
# compiled to wasm with its JS glue (dist/pkg/). Non-interactive; each install
# step is skipped when the tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dist=web-demo/dist
step() { echo "==> web-demo: $*"; }

step "1/5 rust target wasm32-unknown-unknown"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

step "2/5 wasm-bindgen-cli at the version Cargo.lock pins"
# The CLI must match the wasm-bindgen crate exactly, or the glue it writes
# does not fit the module. (Not --locked: the CLI's lock file pins a crate
# release the registry no longer serves.)
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
    echo "    installing wasm-bindgen-cli $want (have: ${have:-none}); this takes minutes"
    cargo install wasm-bindgen-cli --version "$want"
fi

step "3/5 cargo build (release, size-tuned)"
# The root release profile is tuned for the service's speed; the page wants
# bytes. Override it for this build only, from the command line.
cargo build -p bgtasks-web --target wasm32-unknown-unknown --release \
    --config 'profile.release.opt-level="z"'
wasm="${CARGO_TARGET_DIR:-$root/target}/wasm32-unknown-unknown/release/bgtasks_web.wasm"

step "4/5 wasm-bindgen --target web"
# Replace the contents, not the directory: a running server (the test
# host, `spin up --build`) may hold the directory open.
mkdir -p "$dist"
rm -rf "${dist:?}"/*
# The name section only serves debuggers: a third of the module.
wasm-bindgen --target web --remove-name-section --remove-producers-section \
    --out-dir "$dist/pkg" "$wasm"
# wasm-opt shrinks the module further when it is on PATH (npm's binaryen
# has it); the page works the same without it.
if command -v wasm-opt >/dev/null; then
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-reference-types \
        "$dist/pkg/bgtasks_web_bg.wasm" -o "$dist/pkg/bgtasks_web_bg.wasm"
fi

step "5/5 page files"
cp web-demo/www/* "$dist/"
size=$(wc -c <"$dist/pkg/bgtasks_web_bg.wasm")
gz=$(gzip -9 -c "$dist/pkg/bgtasks_web_bg.wasm" | wc -c)
echo "    $dist/pkg/bgtasks_web_bg.wasm: $size bytes raw, $gz bytes gzipped"
