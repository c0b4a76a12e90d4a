#!/usr/bin/env bash
# Load test of the service on the test host over loopback, with wrk:
# requests/s and p50/p99 for a submit, a status read and a 404, at 32
# connections, with and without keep-alive. A benchmark, not a test: it
# reports numbers and asserts nothing.
#
#   bash tests/bench/http.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
echo "==> building the host (release) and the component"
cargo build --release -q -p bgtasks-tests --example serve
target/release/examples/serve "$work/kv.db" > "$work/url" &
server=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.2; done
url=$(head -1 "$work/url")
echo "    serving at $url (SQLite store $work/kv.db)"

id=$(curl -s "$url/notify/" -H 'content-type: application/json' \
  -d '{"email":"a@b.co","message":"m","simulate":{"delay_ms":0}}' | sed 's/.*"task_id":"\([^"]*\)".*/\1/')
sleep 1

cat > "$work/submit.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email": "johndoe@example.com", "message": "Your submission was received."}'
wrk.headers["Content-Type"] = "application/json"
LUA

run() { # name, path, extra wrk args...
  local name=$1 path=$2; shift 2
  local out
  out=$(wrk -t2 -c32 -d"${secs}s" --latency "$@" "$url$path")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx/ {print $NF}' <<<"$out")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${errors:-0}"
}

echo "==> wrk, 2 threads, 32 connections, ${secs}s each"
# Reads first: the submits leave background work (each task finishes two
# seconds later) that would otherwise weigh on the reads.
for mode in keep-alive close; do
  args=()
  [ "$mode" = close ] && args=(-H "Connection: close")
  run "GET /status/{id} ($mode)" "/status/$id" "${args[@]}"
  run "GET /status/{unknown} 404 ($mode)" /status/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70 "${args[@]}"
done
for mode in keep-alive close; do
  args=()
  [ "$mode" = close ] && args=(-H "Connection: close")
  run "POST /notify/ ($mode)" /notify/ -s "$work/submit.lua" "${args[@]}"
  sleep 4 # let the background work of these submits drain
done
size=$(stat -c %s target/wasm32-wasip2/release/bgtasks_spin.wasm)
echo "==> component: target/wasm32-wasip2/release/bgtasks_spin.wasm, $size bytes ($(gzip -c target/wasm32-wasip2/release/bgtasks_spin.wasm | wc -c) gzipped)"
