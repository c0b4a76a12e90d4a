#!/usr/bin/env bash
# Load test of the service over loopback (wrk, 2 threads, 32 connections),
# beside a probe component that makes one key-value call per request, both
# measured in the same run so the ratios mean something on a noisy machine.
# Under the real `spin up` where Spin 4.1 or later is installed, else on
# the test host. Default SQLite store. A benchmark, not a test: it reports
# numbers and asserts nothing.
#
#   bash tests/bench/http.sh [seconds per row, default 10] [--host]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=10
runtime=()
for arg in "$@"; do
  case "$arg" in
    --host) runtime=(host) ;;
    *) secs=$arg ;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ ${#runtime[@]} -eq 0 ]; then
  if spin --version 2>/dev/null | grep -qE '^spin (4\.([1-9]|[1-9][0-9])|[5-9]|[1-9][0-9])'; then
    runtime=(spin)
  else
    runtime=(host)
  fi
fi
spin_flag=()
[ "${runtime[0]}" = spin ] && spin_flag=(--spin)

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
echo "==> building the launcher and the components (release)"
cargo build --release -q -p bgtasks-tests --example serve
start() { # name, args...: starts a server, sets $url
  local name=$1; shift
  target/release/examples/serve "${spin_flag[@]}" "$@" > "$work/$name.url" &
  pids+=($!)
  for _ in $(seq 600); do [ -s "$work/$name.url" ] && break; sleep 0.1; done
  url=$(head -1 "$work/$name.url")
  [ -n "$url" ] || { echo "the $name server did not start"; exit 1; }
}
start service "$work/service.db"; service=$url
start probe --probe "$work/probe.db"; probe=$url
echo "    runtime: ${runtime[0]}; service at $service, probe at $probe (SQLite stores in $work)"

curl -s "$probe/kv/put?key=k&value=v" >/dev/null
id=$(curl -s "$service/notify/" -H 'content-type: application/json' \
  -d '{"email":"a@b.co","message":"m","simulate":{"delay_ms":0}}' | sed 's/.*"task_id":"\([^"]*\)".*/\1/')
sleep 1

cat > "$work/notify.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email": "johndoe@example.com", "message": "Your submission was received.", "simulate": {"delay_ms": 0}}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$work/body.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email": "johndoe@example.com", "message": "Your submission was received."}'
wrk.headers["Content-Type"] = "application/json"
LUA
# A set of a value never stored before: SQLite skips the write (and the
# commit's sync) when a row gets the value it already holds, so only this
# row measures what a write of new data costs.
cat > "$work/fresh.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/kv/put?key=k" .. (n % 64) .. "&value=" .. n .. "-" .. math.random(1000000000))
end
LUA
# Half file tasks, a tenth failing once and retried automatically.
cat > "$work/mixed.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local retry = ""
  if n % 10 == 0 then
    retry = ', "simulate": {"delay_ms": 0, "fail_attempts": 1}, "retry_policy": {"max_attempts": 2, "backoff_ms": 100}'
  else
    retry = ', "simulate": {"delay_ms": 0}'
  end
  local headers = { ["Content-Type"] = "application/json" }
  if n % 2 == 0 then
    return wrk.format("POST", "/file/", headers, '{"content": {"n": ' .. n .. '}' .. retry .. '}')
  end
  return wrk.format("POST", "/notify/", headers, '{"email": "a@b.co", "message": "m"' .. retry .. '}')
end
LUA

declare -A rate p99
run() { # key, label, base url, path, extra wrk args...
  local key=$1 label=$2 base=$3 path=$4; shift 4
  local out rps p50 p9 errors
  out=$(wrk -t2 -c32 -d"${secs}s" --latency "$@" "$base$path")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p9=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx/ {print $NF}' <<<"$out")
  rate[$key]=$rps
  p99[$key]=$p9
  printf '%-44s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$label" "$rps" "$p50" "$p9" "${errors:-0}"
}
close=(-H "Connection: close")

echo "==> wrk, 2 threads, 32 connections, ${secs}s per row"
run set_close "probe: one set (close)" "$probe" "/kv/put?key=k&value=v" "${close[@]}"
run set_ka "probe: one set (keep-alive)" "$probe" "/kv/put?key=k&value=v"
run fresh_close "probe: one set of new data (close)" "$probe" / -s "$work/fresh.lua" "${close[@]}"
run get_close "probe: one get (close)" "$probe" "/kv/get?key=k" "${close[@]}"
run get_ka "probe: one get (keep-alive)" "$probe" "/kv/get?key=k"
run body_close "probe: POST, body read (close)" "$probe" /body -s "$work/body.lua" "${close[@]}"
run body_ka "probe: POST, body read (keep-alive)" "$probe" /body -s "$work/body.lua"
run status_close "GET /status/{id} (close)" "$service" "/status/$id" "${close[@]}"
run status_ka "GET /status/{id} (keep-alive)" "$service" "/status/$id"
run unknown_close "GET /status/{unknown} (close)" "$service" /status/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70 "${close[@]}"
run unknown_ka "GET /status/{unknown} (keep-alive)" "$service" /status/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70
run notify_close "POST /notify/, delay 0 (close)" "$service" /notify/ -s "$work/notify.lua" "${close[@]}"
sleep 3
run notify_ka "POST /notify/, delay 0 (keep-alive)" "$service" /notify/ -s "$work/notify.lua"
sleep 3
run mixed_close "mixed: half files, a tenth retried (close)" "$service" / -s "$work/mixed.lua" "${close[@]}"
sleep 3
pending=$(curl -s "$service/tasks?status=pending&limit=200" | grep -o '"id"' | wc -l || true)
echo "    tasks still pending 3 s after the last row (newest 800 looked at): $pending"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "==> ratios (goal in brackets)"
printf '%-56s %s\n' \
  "submit close / probe set close [>= 0.5]" "$(ratio "${rate[notify_close]}" "${rate[set_close]}")" \
  "submit close / probe set of new data close" "$(ratio "${rate[notify_close]}" "${rate[fresh_close]}")" \
  "mixed close / probe set close [>= 0.5]" "$(ratio "${rate[mixed_close]}" "${rate[set_close]}")" \
  "submit keep-alive / probe body read keep-alive [>= 0.9]" "$(ratio "${rate[notify_ka]}" "${rate[body_ka]}")" \
  "status close / probe get close [>= 0.9]" "$(ratio "${rate[status_close]}" "${rate[get_close]}")" \
  "unknown close / probe get close [>= 0.9]" "$(ratio "${rate[unknown_close]}" "${rate[get_close]}")"
echo "    p99 of the close rows [< 50ms]: status ${p99[status_close]}, unknown ${p99[unknown_close]}, submit ${p99[notify_close]}, mixed ${p99[mixed_close]}"
wasm=target/wasm32-wasip2/release/bgtasks_spin.wasm
echo "==> component: $wasm, $(stat -c %s "$wasm") bytes ($(gzip -c "$wasm" | wc -c) gzipped)"
