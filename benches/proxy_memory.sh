#!/usr/bin/env bash
# Gateway memory while streaming 1 GiB each way: proves bodies stream instead of buffering.
#
# Starts the sandbox provider (`tidegate sandbox`) and, per test, a fresh `tidegate serve`
# (release), then
#   1. downloads a 1 GiB response through the proxy (/stream/bytes/1073741824), and
#   2. uploads a 1 GiB request body through the proxy (curl -T - from /dev/zero, chunked),
# checking every byte count, and reports the gateway's peak RSS (VmHWM) for each.
# Target: < 64 MiB. Everything binds 127.0.0.1 and is stopped by PID.
#
# Usage: [TIDEGATE_BIN=path/to/release/tidegate] benches/proxy_memory.sh        (env: SIZE=1073741824)
set -euo pipefail

SIZE="${SIZE:-1073741824}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
PIDS=()
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
trap stop_started EXIT

kib() { awk '/^'"$2"':/ {print $2}' "/proc/$1/status"; }

tidegate_binary

SB_PORT="$(free_port)"
TIDEGATE_LOG=warn "$TIDEGATE" sandbox --listen "127.0.0.1:$SB_PORT" > "$WORK/sandbox.url" &
PIDS+=($!)
wait_port "$SB_PORT"

KEY="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

start_gateway() {
  TG_PORT="$(free_port)"
  cat > "$WORK/tidegate.toml" <<CONF
[server]
listen = "127.0.0.1:$TG_PORT"
max_request_body = "2GiB"

[environments.bench]
api_keys = ["$KEY"]

[connectors.sandbox]
base_url = "http://127.0.0.1:$SB_PORT"
auth = { type = "none" }
CONF
  TIDEGATE_LOG=warn "$TIDEGATE" serve --config "$WORK/tidegate.toml" > /dev/null 2> "$WORK/tidegate.stderr" &
  TG_PID=$!
  PIDS+=("$TG_PID")
  wait_port "$TG_PORT"
}

stop_gateway() { kill "$TG_PID"; wait "$TG_PID" 2>/dev/null || true; }

echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -sr)"
echo "size: $SIZE bytes each way"
printf '%-28s %12s %14s %14s %10s\n' test bytes idle_rss_kib peak_rss_kib seconds

# 1. A 1 GiB response.
start_gateway
idle="$(kib "$TG_PID" VmRSS)"
start=$(date +%s.%N)
got="$(curl -s -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $KEY" \
  "http://127.0.0.1:$TG_PORT/proxy/sandbox/stream/bytes/$SIZE")"
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
peak="$(kib "$TG_PID" VmHWM)"
[ "$got" = "$SIZE" ] || { echo "response: got $got of $SIZE bytes" >&2; exit 1; }
printf '%-28s %12s %14s %14s %10s\n' "1 GiB response (download)" "$got" "$idle" "$peak" "$secs"
stop_gateway
peak_down="$peak"

# 2. A 1 GiB request body, streamed (chunked) from /dev/zero.
start_gateway
idle="$(kib "$TG_PID" VmRSS)"
start=$(date +%s.%N)
echo_json="$(head -c "$SIZE" /dev/zero | curl -s -X POST -T - -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/octet-stream' "http://127.0.0.1:$TG_PORT/proxy/sandbox/echo/upload")"
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
peak="$(kib "$TG_PID" VmHWM)"
got="$(printf '%s' "$echo_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["body_bytes"])')"
[ "$got" = "$SIZE" ] || { echo "upload: upstream got $got of $SIZE bytes: $echo_json" >&2; exit 1; }
printf '%-28s %12s %14s %14s %10s\n' "1 GiB request body (upload)" "$got" "$idle" "$peak" "$secs"
stop_gateway
peak_up="$peak"

limit=$((64 * 1024))
for p in "$peak_down" "$peak_up"; do
  [ "$p" -lt "$limit" ] || { echo "FAIL: peak RSS $p KiB >= 64 MiB" >&2; exit 1; }
done
echo "ok: peak RSS below 64 MiB in both directions"
