#!/usr/bin/env bash
# /s/ file serving: our server against nginx on the same files, one command.
#
#   bench/files_vs_nginx.sh              # build (release), make files, run every server, print a table
#   NO_BUILD=1 bench/files_vs_nginx.sh   # reuse target/release binaries
#   DURATION=20s CONNECTIONS=8 ROUNDS=2 bench/files_vs_nginx.sh
#   SERVERS="nginx static_server" NO_BUILD=1 bench/files_vs_nginx.sh
#   SERVER_BIN=/path/to/qaboard-server STATIC_BIN=... NO_BUILD=1 bench/files_vs_nginx.sh   # other binaries
# The table gives the server's CPU time per small-file request (server and children, `perf stat
# -e task-clock` over the run; /proc ticks without perf), the number that survives a busy machine.
#
# Servers, each alone on 127.0.0.1 with 2 workers, on files in the page cache:
#   nginx          Debian nginx, worker_processes 2, sendfile on, access_log off,
#                  alias + autoindex on + CORS header (the original deployment's /s/)
#   static_server  crates/qaboard-api/examples/static_server.rs: only /s/, no middleware
#   qaboard-server the real binary (SQLite, every middleware), RUST_LOG=warn (no access log)
#   qaboard-server+log  the same at the default level (one access-log line per request, to a file)
# Loads: wrk -t2 -c$CONNECTIONS, 10,000 small JSON files (2,025 bytes) round-robin, and one
# 100 MB file. Needs wrk and nginx (apt-get install wrk nginx). Indicative only on a shared
# machine: the script prints the load average next to each run.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${WORK:-/tmp/qaboard-files-bench}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
ROUNDS=${ROUNDS:-1}
SERVERS=${SERVERS:-nginx static_server qaboard-server qaboard-server+log}
NGINX_PORT=18080 OURS_PORT=18081
mkdir -p "$WORK/root/small" "$WORK/nginx"

if [[ -z "${NO_BUILD:-}" ]]; then
  nice -n 10 cargo build --release -p qaboard-api --example static_server
  nice -n 10 cargo build --release -p qaboard-server
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
STATIC_BIN=${STATIC_BIN:-$TARGET_DIR/release/examples/static_server}
SERVER_BIN=${SERVER_BIN:-$TARGET_DIR/release/qaboard-server}

[[ -f "$WORK/root/big.bin" ]] || head -c 100000000 /dev/urandom > "$WORK/root/big.bin"
[[ -f "$WORK/root/small/09999.json" ]] || python3 - "$WORK/root/small" <<'PY'
import sys
for i in range(10000):
    open(f"{sys.argv[1]}/{i:05d}.json", "w").write('{"metric": %d, "pad": "%s"}\n' % (i, "x" * 2000))
PY
cat > "$WORK/small.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/s$WORK/root/small/%05d.json", counter % 10000))
end
LUA
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location ^~ /s$WORK/root/ {
      alias $WORK/root/;
      autoindex on;
      add_header Access-Control-Allow-Origin *;
    }
  }
}
CONF
mkdir -p "$WORK/nginx/tmp"
cat "$WORK"/root/small/*.json > /dev/null; cat "$WORK/root/big.bin" > /dev/null   # page cache

PID=
stop() { if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi; }
trap stop EXIT
wait_port() { for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$1/s$WORK/root/small/00001.json" && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; return 1; }

start() {
  case $1 in
    nginx) nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx/" -g 'daemon off;' & PID=$!; PORT=$NGINX_PORT ;;
    static_server) "$STATIC_BIN" "127.0.0.1:$OURS_PORT" "$WORK/root" > /dev/null & PID=$!; PORT=$OURS_PORT ;;
    qaboard-server|qaboard-server+log)
      rm -rf "$WORK/data"; mkdir -p "$WORK/data"
      local level=warn; [[ $1 == qaboard-server+log ]] && level=info
      QABOARD_DATA_DIR=$WORK/data QABOARD_STORAGE_ROOT=$WORK/root QABOARD_LISTEN=127.0.0.1:$OURS_PORT \
        QABOARD_WORKERS=2 RUST_LOG=$level "$SERVER_BIN" > /dev/null 2> "$WORK/server.log" & PID=$!; PORT=$OURS_PORT ;;
  esac
  wait_port "$PORT"
}

rps() { awk '/Requests\/sec/ {print $2}'; }
# CPU time of the server and its children (nginx's workers) during the small-file run:
# `perf stat -e task-clock` when perf is installed, else /proc ticks (10 ms steps, coarse).
cpu_ticks() { for p in $PID $(pgrep -P "$PID"); do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{t += $1} END {print t}'; }
perf_start() {
  PERF_PID=
  command -v perf > /dev/null || return 0
  rm -f "$WORK/perfstat.csv"
  perf stat -x, -e task-clock -p "$(echo "$PID" $(pgrep -P "$PID") | tr ' ' ,)" -o "$WORK/perfstat.csv" & PERF_PID=$!
  sleep 0.2
}
perf_stop() { # sets PERF_MS to the task-clock ms since perf_start, or empty (not in a subshell: waits for perf)
  PERF_MS=
  [[ -z "$PERF_PID" ]] && return 0
  kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true
  PERF_MS=$(awk -F, '$3 ~ /task-clock/ {print $1}' "$WORK/perfstat.csv")
}
RESULTS=()
for round in $(seq "$ROUNDS"); do
  for s in $SERVERS; do
    start "$s"
    wrk -t2 -c"$CONNECTIONS" -d2s -s "$WORK/small.lua" "http://127.0.0.1:$PORT" > /dev/null   # warm-up
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(cpu_ticks)
    perf_start
    small=$(nice -n 5 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/small.lua" "http://127.0.0.1:$PORT")
    perf_stop; ms=$PERF_MS
    t1=$(cpu_ticks)
    n=$(awk '/requests in/ {print $1}' <<< "$small")
    if [[ -n "$ms" ]]; then
      us=$(awk -v ms="$ms" -v n="$n" 'BEGIN {printf "%.1f", ms * 1000 / n}')
    else
      us=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f (ticks)", (b - a) / hz * 1e6 / n}')
    fi
    big=$(nice -n 5 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$PORT/s$WORK/root/big.bin")
    p() { awk -v k="$2" '$1 == k {print $2}' <<< "$1"; }
    rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$PID/status")
    gbps=$(awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) {sub(/GB/,"",v); print v} else if (v ~ /MB/) {sub(/MB/,"",v); printf "%.2f\n", v/1024}}' <<< "$big")
    RESULTS+=("| $round | $s | $(rps <<< "$small") ($(p "$small" 50%) / $(p "$small" 99%)) | $us | $gbps GB/s ($(p "$big" 50%) / $(p "$big" 99%)) | $rss MB | $load |")
    stop
    echo "${RESULTS[-1]}"
  done
done
echo
echo "| round | server | 10,000 small files: req/s (p50 / p99) | server CPU µs per small file | 100 MB file (p50 / p99) | peak RSS | load avg before |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${RESULTS[@]}"
