#!/usr/bin/env bash
# End-to-end load test: the full gateway with every layer on, side by side in ONE run with the
# direct upstream and nginx as a plain reverse proxy.
#
#   (a) direct    wrk -> upstream (nginx `return 200`, HubSpot-style rate-limit headers)
#   (b) nginx     wrk -> nginx reverse proxy (keepalive 32, HTTP/1.1, worker_processes auto) -> upstream
#   (c) tidegate  wrk -> `tidegate serve` (release) -> upstream, with: boundary log to a file
#                 (body_sample_rate 0), the `hubspot` preset (rate-limit header normalization,
#                 JSONata error normalization), an OAuth2 account stored through the admin API
#                 (credential injection from the in-memory token cache), breaker, retry,
#                 idempotency.
#   (e) floor     wrk -> bare hyper proxy -> upstream (hyper + tokio alone, structured like
#                 `tidegate serve` and doing none of its work: crates/tidegate/examples/bare_hyper_proxy.rs);
#                 the least any proxy on tidegate's HTTP stack can cost
#   (d) 3 x tidegate  three `tidegate serve` processes sharing PostgreSQL (a fresh database,
#                 dropped afterwards) and Redis locks, three wrk runs in parallel, total req/s.
#
# Reported per target: req/s, p50/p99/p99.9 latency and the latency ADDED over the direct
# upstream, CPU per request of the proxy process(es) (utime+stime from /proc/PID/stat before and
# after the measured run, divided by the requests), peak RSS (VmHWM). Latency is measured twice:
# under saturation (wrk -c64) and unloaded (one connection), where the added p50 is the
# per-request overhead itself rather than queueing.
#
# Usage: benches/e2e_loadtest.sh                      (builds target/release/tidegate and the floor)
#        TIDEGATE_BIN=target/release/tidegate [FLOOR_BIN=…/bare_hyper_proxy] benches/e2e_loadtest.sh
# env:   DURATION=15s CONNECTIONS=64 THREADS=2 LATENCY_DURATION=10s
#        MULTI=0 (skip the 3-process run)  ERRORS=0 (skip the 429 error-normalization rows)
#        DATABASE_ADMIN_URL=postgres://postgres@127.0.0.1:5432/test  REDIS_URL=redis://127.0.0.1:6379
#        CHECK_ONLY=1 (only write the gateway configs this script uses and run `tidegate check`
#        on them, then exit: no wrk, no nginx, no load; a test runs this so the script cannot
#        silently drift from the config schema)
#        QUIET_LOAD=1.5 QUIET_WAIT=180 (wait up to QUIET_WAIT s for the 1-min load average to
#        drop below QUIET_LOAD before measuring; the load at start is printed either way)
set -euo pipefail

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
LATENCY_DURATION="${LATENCY_DURATION:-10s}"
MULTI="${MULTI:-1}"
ERRORS="${ERRORS:-1}"
DATABASE_ADMIN_URL="${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
QUIET_LOAD="${QUIET_LOAD:-1.5}"
QUIET_WAIT="${QUIET_WAIT:-180}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
PIDS=()
DB_NAME=""

# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
cleanup() {
  if [ -n "$DB_NAME" ]; then
    psql "$DATABASE_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  stop_started
}
trap cleanup EXIT

CHECK_ONLY="${CHECK_ONLY:-0}"

# --- tools --------------------------------------------------------------------------------------
[ "$CHECK_ONLY" = 1 ] || wrk_and_nginx
tidegate_binary
[ "$CHECK_ONLY" = 1 ] || floor_binary

# --- upstream and nginx proxy -------------------------------------------------------------------
UP_PORT="$(free_port)"; PROXY_PORT="$(free_port)"; TG_PORT="$(free_port)"; FLOOR_PORT="$(free_port)"

# HubSpot's interval limit headers on every answer; /crm/v3/limited answers HubSpot's 429 body.
[ "$CHECK_ONLY" = 1 ] || start_nginx upstream "server {
    listen 127.0.0.1:$UP_PORT;
    default_type application/json;
    add_header X-HubSpot-RateLimit-Max 190 always;
    add_header X-HubSpot-RateLimit-Remaining 187 always;
    add_header X-HubSpot-RateLimit-Interval-Milliseconds 10000 always;
    location / { return 200 '{\"ok\":true}'; }
    location /crm/v3/limited { return 429 '{\"status\":\"error\",\"message\":\"You have reached your ten_secondly_rolling limit.\",\"errorType\":\"RATE_LIMIT\",\"correlationId\":\"c0ffee00-1111-2222-3333-444455556666\",\"policyName\":\"TEN_SECONDLY_ROLLING\"}'; }
  }"
[ "$CHECK_ONLY" = 1 ] || start_nginx proxy "upstream backend { server 127.0.0.1:$UP_PORT; keepalive 32; }
  server { listen 127.0.0.1:$PROXY_PORT;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

# --- tidegate -----------------------------------------------------------------------------------
API_KEY="bench-$(rand_hex 12)"
ADMIN_KEY="admin-$(rand_hex 12)"
WEBHOOK_SECRET="$(rand_hex 12)"
ACCOUNT="acc_e2e_$(rand_hex 6)"
"$TIDEGATE" keys init --out "$WORK/master.key" > /dev/null

write_config() { # file port storage-url locks-url logfile
  cat > "$1" <<CONF
[server]
listen = "127.0.0.1:$2"
admin_key = "$ADMIN_KEY"

[storage]
url = "$3"

[locks]
url = "$4"

[keys]
provider = "file"
path = "$WORK/master.key"

[claim_check]
url = "memory://"

[logging]
file = "$5"
body_sample_rate = 0.0

[environments.bench]
api_keys = ["$API_KEY"]

[connectors.hubspot]
preset = "hubspot"
base_url = "http://127.0.0.1:$UP_PORT"
timeout = "15s"
auth = { type = "oauth2", client_id = "bench-client", client_secret = "bench-secret",
         token_url = "http://127.0.0.1:$UP_PORT/oauth/v1/token" }
breaker = { consecutive_failures = 5, open_for = "30s", half_open_probes = 1 }
retry = { max_attempts = 3, on = ["connect", "reset", "502", "503", "504"], budget_percent = 20 }
idempotency = { header = "Idempotency-Key", methods = ["POST", "PATCH"] }
# The preset verifies inbound HubSpot webhooks, which needs a secret (unused by this load).
webhooks = { secret = "bench-webhook-$WEBHOOK_SECRET" }
CONF
}

start_tidegate() { # config stdout-file
  TIDEGATE_LOG=warn "$TIDEGATE" serve --config "$1" > "$2" 2>&1 &
  PIDS+=($!)
  LAST_TG_PID=$!
}

put_account() { # port
  local code
  code="$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT \
    -H "Authorization: Bearer $ADMIN_KEY" -H 'content-type: application/json' \
    --data "{\"connector\":\"hubspot\",\"environment\":\"bench\",\"credentials\":{\"access_token\":\"at-$(rand_hex 16)\",\"refresh_token\":\"rt-$(rand_hex 16)\",\"expires_in\":86400,\"scope\":\"crm.objects.contacts.read\"}}" \
    "http://127.0.0.1:$1/admin/accounts/$ACCOUNT")"
  case "$code" in 200|201) ;; *) echo "PUT /admin/accounts answered $code: $(cat "$WORK/put.out")" >&2; exit 1;; esac
}

write_config "$WORK/tidegate.toml" "$TG_PORT" "sqlite://$WORK/tidegate.db" local "$WORK/boundary.log"
if [ "$CHECK_ONLY" = 1 ]; then
  write_config "$WORK/multi.toml" "$TG_PORT" "postgres://postgres@127.0.0.1:5432/unused" \
    "redis://127.0.0.1:6379" "$WORK/boundary-multi.log"
  for config in "$WORK/tidegate.toml" "$WORK/multi.toml"; do
    "$TIDEGATE" check --config "$config" || { echo "$config:" >&2; cat "$config" >&2; exit 1; }
  done
  exit 0
fi
start_tidegate "$WORK/tidegate.toml" "$WORK/tidegate.out"
TG_PID=$LAST_TG_PID
"$FLOOR" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$UP_PORT" 2> "$WORK/floor.stderr" &
PIDS+=($!)
FLOOR_PID=$!

wait_port "$UP_PORT"; wait_port "$PROXY_PORT"; wait_port "$TG_PORT"; wait_port "$FLOOR_PORT"
put_account "$TG_PORT"

TG_URL="http://127.0.0.1:$TG_PORT/proxy/hubspot/crm/v3/objects/contacts"
HDR=(-H "Authorization: Bearer $API_KEY" -H "X-Integrated-Account-Id: $ACCOUNT")

# --- every target must answer correctly before it is measured ----------------------------------
for url in "http://127.0.0.1:$UP_PORT/crm/v3/objects/contacts" "http://127.0.0.1:$PROXY_PORT/crm/v3/objects/contacts" "http://127.0.0.1:$FLOOR_PORT/crm/v3/objects/contacts" "$TG_URL"; do
  code="$(curl -s -o /dev/null -w '%{http_code}' "${HDR[@]}" "$url")"
  [ "$code" = 200 ] || { echo "$url answered $code" >&2; cat "$WORK/tidegate.out" >&2; exit 1; }
done
# Rate-limit normalization is on: HubSpot's headers come back as the IETF triple.
curl -s -D "$WORK/ok.headers" -o /dev/null "${HDR[@]}" "$TG_URL"
grep -qi '^ratelimit-limit: 190' "$WORK/ok.headers" || { echo "no normalized RateLimit-Limit on the tidegate answer:" >&2; cat "$WORK/ok.headers" >&2; exit 1; }
# Error normalization is on: HubSpot's 429 body becomes a problem+json with code rate_limited.
curl -s -D "$WORK/err.headers" -o "$WORK/err.body" "${HDR[@]}" "http://127.0.0.1:$TG_PORT/proxy/hubspot/crm/v3/limited"
grep -qi '^content-type: application/problem+json' "$WORK/err.headers" && grep -q '"code":"rate_limited"' "$WORK/err.body" \
  || { echo "the 429 was not normalized:" >&2; cat "$WORK/err.headers" "$WORK/err.body" >&2; exit 1; }
# Credential injection is on: the boundary log shows a redacted authorization header.
sleep 0.5
grep -q '"authorization":"\[REDACTED\]"' "$WORK/boundary.log" \
  || { echo "boundary log lacks the injected (redacted) authorization header:" >&2; head -c 2000 "$WORK/boundary.log" >&2; exit 1; }

# --- measurement helpers ------------------------------------------------------------------------
cat > "$WORK/stats.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("STATS %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
LUA

# Peak RSS (VmHWM, KiB) of a process plus its direct children.
peak_rss_kib() {
  local total=0 pid v
  for pid in "$@" $(for p in "$@"; do cat "/proc/$p/task/$p/children" 2>/dev/null; done); do
    v="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
HZ="$(getconf CLK_TCK)"

# run_wrk label url threads connections duration pids...   -> one line in $WORK/results
run_wrk() {
  local label="$1" url="$2" t="$3" c="$4" d="$5"; shift 5
  wrk -t"$t" -c"$c" -d2s "${HDR[@]}" "$url" > /dev/null   # warm-up
  local before after
  before="$(cpu_ticks "$@")"
  wrk -t"$t" -c"$c" -d"$d" -s "$WORK/stats.lua" "${HDR[@]}" "$url" > "$WORK/$label.wrk"
  after="$(cpu_ticks "$@")"
  local line; line="$(grep '^STATS' "$WORK/$label.wrk")"
  # label requests duration_us socket_errors non2xx p50 p99 p999 cpu_ticks rss_kib
  echo "$label ${line#STATS } $(( after - before )) $(peak_rss_kib "$@")" >> "$WORK/results"
}

uptime_now() { awk '{print $1" "$2" "$3}' /proc/loadavg; }
waited=0
while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v q="$QUIET_LOAD" 'BEGIN { exit !(l >= q) }' && [ "$waited" -lt "$QUIET_WAIT" ]; do
  [ "$waited" = 0 ] && echo "waiting up to ${QUIET_WAIT}s for the load average ($(uptime_now)) to drop below $QUIET_LOAD..." >&2
  sleep 10; waited=$(( waited + 10 ))
done
LOAD_AT_START="$(uptime_now)"
echo "measuring (load average $LOAD_AT_START)..." >&2

DIRECT_URL="http://127.0.0.1:$UP_PORT/crm/v3/objects/contacts"
PROXY_URL="http://127.0.0.1:$PROXY_PORT/crm/v3/objects/contacts"
FLOOR_URL="http://127.0.0.1:$FLOOR_PORT/crm/v3/objects/contacts"
: > "$WORK/results"
# Saturation: wrk -t2 -c64.
run_wrk direct   "$DIRECT_URL" "$THREADS" "$CONNECTIONS" "$DURATION" "$NGINX_PID_upstream"
run_wrk nginx    "$PROXY_URL"  "$THREADS" "$CONNECTIONS" "$DURATION" "$NGINX_PID_proxy"
run_wrk floor    "$FLOOR_URL"  "$THREADS" "$CONNECTIONS" "$DURATION" "$FLOOR_PID"
run_wrk tidegate "$TG_URL"     "$THREADS" "$CONNECTIONS" "$DURATION" "$TG_PID"
# Unloaded: one connection, so the added latency is the per-request overhead, not queueing.
run_wrk direct-c1   "$DIRECT_URL" 1 1 "$LATENCY_DURATION" "$NGINX_PID_upstream"
run_wrk nginx-c1    "$PROXY_URL"  1 1 "$LATENCY_DURATION" "$NGINX_PID_proxy"
run_wrk floor-c1    "$FLOOR_URL"  1 1 "$LATENCY_DURATION" "$FLOOR_PID"
run_wrk tidegate-c1 "$TG_URL"     1 1 "$LATENCY_DURATION" "$TG_PID"
if [ "$ERRORS" = 1 ]; then
  # The error path: HubSpot 429 -> problem+json via the preset's JSONata expressions.
  run_wrk nginx-429    "http://127.0.0.1:$PROXY_PORT/crm/v3/limited" "$THREADS" "$CONNECTIONS" "$DURATION" "$NGINX_PID_proxy"
  run_wrk tidegate-429 "http://127.0.0.1:$TG_PORT/proxy/hubspot/crm/v3/limited" "$THREADS" "$CONNECTIONS" "$DURATION" "$TG_PID"
fi
BOUNDARY_LINES="$(wc -l < "$WORK/boundary.log")"
LOAD_AFTER_SINGLE="$(uptime_now)"

# --- 3 processes on PostgreSQL + Redis ----------------------------------------------------------
MULTI_NOTE=""
if [ "$MULTI" = 1 ]; then
  if ! psql "$DATABASE_ADMIN_URL" -q -c 'select 1' >/dev/null 2>&1; then
    MULTI_NOTE="3-process run SKIPPED: PostgreSQL at $DATABASE_ADMIN_URL does not answer"
  elif ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    MULTI_NOTE="3-process run SKIPPED: Redis at $REDIS_URL does not answer"
  else
    DB_NAME="tidegate_e2e_$(rand_hex 6)"
    psql "$DATABASE_ADMIN_URL" -q -c "CREATE DATABASE $DB_NAME" >/dev/null
    PG_URL="${DATABASE_ADMIN_URL%/*}/$DB_NAME"
    MULTI_PIDS=(); MULTI_PORTS=()
    for i in 1 2 3; do
      port="$(free_port)"
      write_config "$WORK/multi$i.toml" "$port" "$PG_URL" "$REDIS_URL" "$WORK/boundary-multi$i.log"
      start_tidegate "$WORK/multi$i.toml" "$WORK/multi$i.out"
      MULTI_PIDS+=("$LAST_TG_PID"); MULTI_PORTS+=("$port")
      wait_port "$port"   # one after the other: the first runs the migrations
    done
    put_account "${MULTI_PORTS[0]}"
    for port in "${MULTI_PORTS[@]}"; do
      code="$(curl -s -o /dev/null -w '%{http_code}' "${HDR[@]}" "http://127.0.0.1:$port/proxy/hubspot/crm/v3/objects/contacts")"
      [ "$code" = 200 ] || { echo "instance on $port answered $code" >&2; cat "$WORK"/multi*.out >&2; exit 1; }
    done
    per_c=$(( (CONNECTIONS + 2) / 3 ))
    wait_wrk() { local p; for p in "$@"; do wait "$p"; done; }
    wj=()
    for port in "${MULTI_PORTS[@]}"; do   # warm-up
      wrk -t1 -c"$per_c" -d2s "${HDR[@]}" "http://127.0.0.1:$port/proxy/hubspot/crm/v3/objects/contacts" > /dev/null &
      wj+=($!)
    done
    wait_wrk "${wj[@]}"
    before="$(cpu_ticks "${MULTI_PIDS[@]}")"
    wj=()
    for i in 0 1 2; do
      wrk -t1 -c"$per_c" -d"$DURATION" -s "$WORK/stats.lua" "${HDR[@]}" \
        "http://127.0.0.1:${MULTI_PORTS[$i]}/proxy/hubspot/crm/v3/objects/contacts" > "$WORK/multi$i.wrk" &
      wj+=($!)
    done
    wait_wrk "${wj[@]}"
    after="$(cpu_ticks "${MULTI_PIDS[@]}")"
    awk -v ticks=$(( after - before )) -v rss="$(peak_rss_kib "${MULTI_PIDS[@]}")" '
      /^STATS/ { req += $2; dur = ($3 > dur ? $3 : dur); err += $4; non2xx += $5; if ($7 > p99) p99 = $7; if ($8 > p999) p999 = $8; p50 += $6; n++ }
      END { printf "3x-tidegate %d %d %d %d %d %d %d %d %d\n", req, dur, err, non2xx, p50 / n, p99, p999, ticks, rss }' \
      "$WORK"/multi0.wrk "$WORK"/multi1.wrk "$WORK"/multi2.wrk >> "$WORK/results"
  fi
fi
LOAD_AT_END="$(uptime_now)"

# --- report -------------------------------------------------------------------------------------
echo
echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -sr)"
echo "load average: $LOAD_AT_START at start, $LOAD_AFTER_SINGLE after the single-process rows, $LOAD_AT_END at end"
echo "saturation rows: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (2 s warm-up each); *-c1 rows: wrk -t1 -c1 -d$LATENCY_DURATION"
echo "3x-tidegate: three wrk -t1 -c$(( (CONNECTIONS + 2) / 3 )) -d$DURATION in parallel, one per process (p50 = mean of the three p50s, p99/p99.9 = worst)"
echo
awk -v hz="$HZ" '
  function us(v) { return sprintf("%d µs", v) }
  function added(v, base) { return (base == "" ? "-" : sprintf("%+d µs", v - base)) }
  { label[NR] = $1; req[NR] = $2; dur[NR] = $3; err[NR] = $4; bad[NR] = $5; p50[NR] = $6; p99[NR] = $7; p999[NR] = $8; ticks[NR] = $9; rss[NR] = $10
    if ($1 == "direct") { b50 = $6; b99 = $7; b999 = $8 }
    if ($1 == "direct-c1") { c50 = $6; c99 = $7; c999 = $8 }
    if ($1 == "nginx") nginx_rps = $2 / ($3 / 1e6) }
  END {
    printf "| target | req/s | vs nginx | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 | CPU/req | peak RSS | errors |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for (i = 1; i <= NR; i++) {
      rps = req[i] / (dur[i] / 1e6)
      if (label[i] ~ /-c1$/) { a50 = c50; a99 = c99; a999 = c999 } else if (label[i] ~ /429$/) { a50 = ""; a99 = ""; a999 = "" } else { a50 = b50; a99 = b99; a999 = b999 }
      if (label[i] ~ /^direct/) { a50 = ""; a99 = ""; a999 = "" }
      vs = (label[i] ~ /-c1$/ || nginx_rps == 0) ? "-" : sprintf("%.2fx", rps / nginx_rps)
      cpu = req[i] > 0 ? sprintf("%.1f µs", ticks[i] / hz * 1e6 / req[i]) : "-"
      printf "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %.1f MiB | %s |\n", label[i], rps, vs, us(p50[i]), us(p99[i]), us(p999[i]),
        added(p50[i], a50), added(p99[i], a99), added(p999[i], a999), cpu, rss[i] / 1024, (err[i] + 0) " sock / " (bad[i] + 0) " non-2xx"
    }
  }' "$WORK/results"
echo
echo "CPU/req and peak RSS are the proxy process(es) only (nginx: master + workers; direct: the upstream nginx)."
echo "floor: a bare hyper + tokio proxy doing none of tidegate's work, the least a proxy on tidegate's HTTP stack can cost."
awk '$1 == "nginx" { n = $2 / $3 } $1 == "floor" { f = $2 / $3 } $1 == "tidegate" { t = $2 / $3 }
     END { if (n > 0 && f > 0) printf "req/s ratios: tidegate/nginx %.2fx, floor/nginx %.2fx, tidegate/floor %.2fx\n", t / n, f / n, t / f }' "$WORK/results"
echo "The *-429 rows are non-2xx by design (HubSpot 429 -> problem+json); their 'added' columns are not computed."
echo "boundary log lines written by the single tidegate process: $BOUNDARY_LINES"
[ -n "$MULTI_NOTE" ] && echo "$MULTI_NOTE"

# tidegate must have answered every 2xx-path request with 2xx and dropped no connection.
bad="$(awk '$1 == "tidegate" || $1 == "tidegate-c1" || $1 == "3x-tidegate" { s += $4 + $5 } END { print s + 0 }' "$WORK/results")"
[ "$bad" = 0 ] || { echo "tidegate had $bad socket errors / non-2xx answers on the 200 path" >&2; exit 1; }
