# Shared helpers of the benchmark scripts (sourced, not run): ports, the tidegate binary, nginx
# instances, and /proc readings. A script sets ROOT and WORK (a temp dir) and keeps the PIDs it
# starts in the PIDS array; `stop_started` kills and reaps them and removes WORK.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Waits (10 s at most) until 127.0.0.1:PORT accepts; otherwise shows the tail of every captured
# output in WORK (*.out, *.stderr) and exits 1.
wait_port() {
  for _ in $(seq 1 200); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "port $1 never opened" >&2
  for out in "$WORK"/*.out "$WORK"/*.stderr; do [ -f "$out" ] && { echo "--- $out" >&2; tail -5 "$out" >&2; }; done
  exit 1
}

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

stop_started() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}

# Sets TIDEGATE: $TIDEGATE_BIN when given (a prebuilt binary), else a fresh release build.
tidegate_binary() {
  if [ -n "${TIDEGATE_BIN:-}" ]; then
    TIDEGATE="$TIDEGATE_BIN"
  else
    echo "building tidegate (release)..." >&2
    (cd "$ROOT" && cargo build --release -q -p tidegate)
    TIDEGATE="$ROOT/target/release/tidegate"
  fi
}

# Sets FLOOR: $FLOOR_BIN when given, else a release build of the bare hyper proxy
# (crates/tidegate/examples/bare_hyper_proxy.rs; reuses tidegate's release artifacts).
floor_binary() {
  if [ -n "${FLOOR_BIN:-}" ]; then
    FLOOR="$FLOOR_BIN"
  else
    echo "building the bare hyper proxy (release)..." >&2
    (cd "$ROOT" && cargo build --release -q -p tidegate --example bare_hyper_proxy)
    FLOOR="$ROOT/target/release/examples/bare_hyper_proxy"
  fi
}

# Sets NGINX; installs wrk and nginx-light from Debian's packages when either is missing.
wrk_and_nginx() {
  if ! command -v wrk >/dev/null || ! { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; }; then
    echo "installing wrk and nginx-light..." >&2
    apt-get install -y -q wrk nginx-light >/dev/null
  fi
  NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
}

# start_nginx NAME HTTP-BLOCK-BODY: an nginx (worker_processes auto, no access log) under
# WORK/NAME; its master PID goes to PIDS and to NGINX_PID_<NAME>.
start_nginx() {
  local dir="$WORK/$1"; mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  $2
}
CONF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  PIDS+=($!)
  printf -v "NGINX_PID_$1" '%s' "$!"
}

# CPU ticks (utime+stime) of the given processes and their direct children (nginx workers).
cpu_ticks() {
  local total=0 pid
  for pid in "$@" $(for p in "$@"; do cat "/proc/$p/task/$p/children" 2>/dev/null; done); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}') ))
  done
  echo "$total"
}
