#!/usr/bin/env bash
# Proxy throughput, side by side in ONE run (same wrk settings, same machine, same moment):
#   (a) wrk -> nginx upstream directly            (the ceiling)
#   (b) wrk -> nginx reverse proxy -> upstream     (the peer)
#   (c) wrk -> tidegate serve (release) -> upstream
#   (f) wrk -> bare hyper proxy -> upstream           (the floor: hyper + tokio alone, structured
#       like tidegate serve with nothing of tidegate's work; crates/tidegate/examples/bare_hyper_proxy.rs)
# The upstream is nginx `return 200 '{"ok":true}'` (python's http.server tops out near 2k req/s
# and would make every proxy look the same). Everything binds 127.0.0.1; everything started
# here is stopped by PID.
#
# Usage: [TIDEGATE_BIN=path/to/release/tidegate] [FLOOR_BIN=path/to/bare_hyper_proxy] benches/proxy_throughput.sh
#        (env: DURATION=10s CONNECTIONS=64 THREADS=2)
#        LOG_COMPARE=1 benches/proxy_throughput.sh  also runs (d) tidegate with the boundary log
#        off (TIDEGATE_BOUNDARY_LOG=off) beside (c), whose boundary log goes to stdout → a file
#        (LOG_SINK, default a file in the temp dir):
#        LOG_PAIRS on/off pairs (default 4), alternating which goes first, reported as the median
#        of the pairs' ratios (a shared VM's throughput moves ±15 % between runs; a pair's two
#        runs are seconds apart, and the median ignores the pair a neighbour's burst hit).
#        This machine's speed swings by ±15 % within seconds (CPU per request of one binary
#        moves with it), so the finest comparison is many short pairs without warm-ups:
#        LOG_PAIRS=40 DURATION=2s PAIR_WARMUP=0; the mean ratio and its standard error are
#        printed beside the median.
set -euo pipefail

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
PIDS=()

# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
trap stop_started EXIT
wrk_and_nginx
tidegate_binary
floor_binary

UP_PORT="$(free_port)"; PROXY_PORT="$(free_port)"; TG_PORT="$(free_port)"; FLOOR_PORT="$(free_port)"

start_nginx upstream "server { listen 127.0.0.1:$UP_PORT; location / { default_type application/json; return 200 '{\"ok\":true}'; } }"
start_nginx proxy "upstream backend { server 127.0.0.1:$UP_PORT; keepalive 32; }
  server { listen 127.0.0.1:$PROXY_PORT; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

KEY="bench-$(rand_hex 12)"
cat > "$WORK/tidegate.toml" <<CONF
[server]
listen = "127.0.0.1:$TG_PORT"

[environments.bench]
api_keys = ["$KEY"]

[connectors.bench]
base_url = "http://127.0.0.1:$UP_PORT"
auth = { type = "none" }
CONF
# LOG_SINK: where (c)'s boundary log (stdout) goes; default a file in WORK (on this machine's
# disk, so the kernel's page cache and writeback take part), e.g. /dev/shm/... (memory only)
# or /dev/null (no I/O at all) to see how much of the cost is the kernel's.
LOG_SINK="${LOG_SINK:-$WORK/tidegate.stdout}"
TIDEGATE_LOG=warn "$TIDEGATE" serve --config "$WORK/tidegate.toml" > "$LOG_SINK" 2> "$WORK/tidegate.stderr" &
PIDS+=($!)
TG_PID=$!
"$FLOOR" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$UP_PORT" 2> "$WORK/floor.stderr" &
PIDS+=($!)
FLOOR_PID=$!

if [ "${LOG_COMPARE:-0}" = 1 ]; then
  TG2_PORT="$(free_port)"
  sed "s/127.0.0.1:$TG_PORT/127.0.0.1:$TG2_PORT/" "$WORK/tidegate.toml" > "$WORK/tidegate-nolog.toml"
  TIDEGATE_BOUNDARY_LOG=off TIDEGATE_LOG=warn "$TIDEGATE" serve --config "$WORK/tidegate-nolog.toml" > /dev/null 2> "$WORK/tidegate-nolog.stderr" &
  PIDS+=($!)
  TG2_PID=$!
  wait_port "$TG2_PORT"
fi
wait_port "$UP_PORT"; wait_port "$PROXY_PORT"; wait_port "$TG_PORT"; wait_port "$FLOOR_PORT"
# Each target must answer 200 before it is measured.
for url in "http://127.0.0.1:$UP_PORT/" "http://127.0.0.1:$PROXY_PORT/" "http://127.0.0.1:$FLOOR_PORT/" "http://127.0.0.1:$TG_PORT/proxy/bench/"; do
  code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$url")"
  [ "$code" = 200 ] || { echo "$url answered $code" >&2; cat "$WORK/tidegate.stderr" >&2; exit 1; }
done

# CPU per request (cpu_ticks) is the steadier yardstick on a shared 2-core machine: req/s
# moves with whatever else runs.
HZ="$(getconf CLK_TCK)"

run_wrk() { # label url pid-of-the-proxy-measured [warm-up]
  # Warm-up: the 4th argument, else WARMUP (default 2s); 0 for none (the log on/off pairs use
  # PAIR_WARMUP, so that many short pairs can follow the machine's speed swings closely).
  local warmup="${4:-${WARMUP:-2s}}"
  [ "$warmup" = 0 ] || wrk -t"$THREADS" -c"$CONNECTIONS" -d"$warmup" -H "Authorization: Bearer $KEY" "$2" > /dev/null
  local before after
  before="$(cpu_ticks "$3")"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $KEY" "$2" > "$WORK/$1.wrk"
  after="$(cpu_ticks "$3")"
  local rps p50 p99 errors requests cpu
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$WORK/$1.wrk")"
  p50="$(awk '$1 == "50%" {print $2}' "$WORK/$1.wrk")"
  p99="$(awk '$1 == "99%" {print $2}' "$WORK/$1.wrk")"
  errors="$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/$1.wrk")"
  requests="$(awk '/requests in/ {print $1}' "$WORK/$1.wrk")"
  cpu="$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
  printf '%s %s %s %s %s %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}" "$cpu" >> "$WORK/results"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a 2 s warm-up each)" >&2
run_wrk direct  "http://127.0.0.1:$UP_PORT/" "$NGINX_PID_upstream"
run_wrk nginx   "http://127.0.0.1:$PROXY_PORT/" "$NGINX_PID_proxy"
run_wrk floor   "http://127.0.0.1:$FLOOR_PORT/" "$FLOOR_PID"
run_wrk tidegate "http://127.0.0.1:$TG_PORT/proxy/bench/" "$TG_PID"
if [ "${LOG_COMPARE:-0}" = 1 ]; then
  # Pairs on/off, off/on, on/off, ... (pair 1's "on" is the (c) run above): each pair's two
  # runs are back to back, and alternating the order cancels a drift within a pair.
  pair_warmup="${PAIR_WARMUP:-${WARMUP:-2s}}"
  for pair in $(seq 1 "${LOG_PAIRS:-4}"); do
    if [ "$pair" -gt 1 ] && [ $((pair % 2)) = 1 ]; then run_wrk "log-on-$pair" "http://127.0.0.1:$TG_PORT/proxy/bench/" "$TG_PID" "$pair_warmup"; fi
    run_wrk "log-off-$pair" "http://127.0.0.1:$TG2_PORT/proxy/bench/" "$TG2_PID" "$pair_warmup"
    if [ $((pair % 2)) = 0 ]; then run_wrk "log-on-$pair" "http://127.0.0.1:$TG_PORT/proxy/bench/" "$TG_PID" "$pair_warmup"; fi
  done
fi

echo
echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -sr)"
echo "(cpu/req: CPU time of the process measured ÷ requests; 'direct' measures the upstream nginx;"
echo " 'floor' is hyper + tokio alone, the least any proxy on tidegate's HTTP stack can cost)"
printf '%-10s %12s %10s %10s %8s %9s\n' target req/s p50 p99 non2xx cpu/req
while read -r label rps p50 p99 errors cpu; do
  printf '%-10s %12s %10s %10s %8s %8sµs\n' "$label" "$rps" "$p50" "$p99" "$errors" "$cpu"
done < "$WORK/results"
nginx_rps="$(awk '$1 == "nginx" {print $2}' "$WORK/results")"
tg_rps="$(awk '$1 == "tidegate" {print $2}' "$WORK/results")"
floor_rps="$(awk '$1 == "floor" {print $2}' "$WORK/results")"
awk -v t="$tg_rps" -v n="$nginx_rps" -v f="$floor_rps" 'BEGIN { printf "ratio tidegate/nginx: %.2fx   floor/nginx: %.2fx   tidegate/floor: %.2fx\n", t / n, f / n, t / f }'
awk '$1 == "nginx" { n = $6 } $1 == "floor" { f = $6 } $1 == "tidegate" { t = $6 }
     END { printf "CPU per request tidegate/nginx: %.2fx   floor/nginx: %.2fx   tidegate/floor: %.2fx\n", t / n, f / n, t / f }' "$WORK/results"
tg_errors="$(awk '$1 == "tidegate" {print $5}' "$WORK/results")"
[ "$tg_errors" = 0 ] || { echo "tidegate answered $tg_errors non-2xx responses" >&2; exit 1; }
if [ "${LOG_COMPARE:-0}" = 1 ]; then
  # Per pair: req/s on ÷ off and CPU/request on ÷ off; the medians over the pairs.
  awk '$1 == "tidegate" { $1 = "log-on-1" }
       $1 ~ /^log-on-/  { p = substr($1, 8); on[p] = $2; con[p] = $6 }
       $1 ~ /^log-off-/ { p = substr($1, 9); off[p] = $2; coff[p] = $6 }
       function median(a, n,   i, j, t) {
         for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
         return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
       }
       END {
         for (p in on) if (p in off) { n++; r[n] = on[p] / off[p]; c[n] = con[p] / coff[p]; list = list sprintf(" %.3f", on[p] / off[p]) }
         printf "boundary log on/off req/s, per pair:%s\n", list
         for (i = 1; i <= n; i++) { sum += r[i]; sq += r[i] * r[i] }
         mean = sum / n; se = n > 1 ? sqrt((sq - n * mean * mean) / (n - 1) / n) : 0
         m = median(r, n); mc = median(c, n)
         printf "boundary log on/off: median %.3f over %d pairs (throughput cost %.1f%%); CPU per request +%.1f%% (median)\n", m, n, (1 - m) * 100, (mc - 1) * 100
         printf "boundary log on/off: mean %.3f, standard error %.3f (throughput cost %.1f%% +- %.1f%%); middle half of the pairs %.3f..%.3f\n", mean, se, (1 - mean) * 100, se * 100, r[int((n + 3) / 4)], r[int((3 * n + 1) / 4)]
       }' "$WORK/results"
  if [ -f "$LOG_SINK" ]; then
    echo "boundary log lines written by (c) to $LOG_SINK: $(grep -c '"outcome"' "$LOG_SINK")"
    [ "$LOG_SINK" = "$WORK/tidegate.stdout" ] || rm -f "$LOG_SINK"
  fi
fi
