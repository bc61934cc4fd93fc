#!/usr/bin/env bash
# Benchmarks of the QA-Board server (release build) on PostgreSQL and SQLite.
#
#   bench/run.sh [BACKEND...] [PHASE...]
#     BACKEND: pg | sqlite            (default: both)
#     PHASE:   post | reads | scale | uncached   (default: post reads scale)
#   e.g. bench/run.sh                 # everything (~10 min)
#        bench/run.sh pg post         # one phase on one backend
#        bench/run.sh sqlite reads scale
#
# Phases (each starts its own server on a fresh database, so VmHWM is the
# phase's peak):
#   post   POST /api/v1/output/ (distinct outputs) at concurrency 8 for $POST_DURATION
#   reads  seed through the API: 1 commit x 2,000 outputs and 200 commits x 50
#          outputs; restart the server; GET the commit detail and the commit
#          list (with metrics) at concurrency 1 and 8, $READ_DURATION each
#   scale  the reads database plus $BULK_OUTPUTS other outputs (raw SQL);
#          restart the server; the same reads
#   uncached (issue 16) the reads database; each timed GET (one output, the
#          commit detail, the commit list) preceded by an untimed POST of a new
#          output to ANOTHER project ("elsewhere"), then to the same project's
#          OTHER commit ("same-project"), at concurrency 1 and 8; with GZIP=1
#          each of these reads is run again right after, labelled .../gzip/cN,
#          with `Accept-Encoding: gzip` as the webapp's browser sends it
#   post-nostamps (issue 16) the post phase on a database whose change stamps
#          (migration read_stamps: columns, triggers, indexes) were reverted,
#          server started with --no-migrate: the A/B of the stamps' ingestion cost
#
# Environment (defaults):
#   POST_DURATION=20s READ_DURATION=10s WARMUP=2s POST_CONCURRENCY=8
#   READ_CONCURRENCIES="1 8" BULK_OUTPUTS=1000000 MAX_REQUESTS=2000000
#   QABOARD_POOL_SIZE=16  QABOARD_WORKERS=(server default: one per core)
#   RUST_LOG=(server default, info: one access-log line per request)
#   WORK=/tmp/qaboard-bench   (databases, logs; results in $WORK/results.jsonl)
#   NO_BUILD=1                (skip `cargo build --release`)
#   GZIP=1                    (uncached: also each read with Accept-Encoding: gzip)
#   SERVER_BIN=path           (measure this server binary instead of target/release's,
#                              e.g. the copy $WORK/bin/qaboard-bench-server of an earlier run)
#   QUIET_CORES=0.3 QUIET_MAX=300  (before each run, wait up to QUIET_MAX s for
#                              the machine to use < QUIET_CORES cores; 0: never wait)
#   PERF_STAT=1               (`perf stat -e task-clock,instructions,cycles` of the server during
#                              the same runs into $WORK/perfstat-*.txt; counts include the warm-up)
#   PERF=1                    (record `perf record --call-graph dwarf` of the server during each
#                              c=8 read and the post run into $WORK/perf-*.data)
# PostgreSQL: a throwaway cluster from scripts/pg-test-cluster.sh (fsync off),
# stopped at exit. Every load run is bounded in time and request count.
set -euo pipefail

# Everything is in main, so that bash parses the whole script before running
# it (editing this file during a run does not derail the run).
main() {

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

POST_DURATION=${POST_DURATION:-20s}
READ_DURATION=${READ_DURATION:-10s}
WARMUP=${WARMUP:-2s}
POST_CONCURRENCY=${POST_CONCURRENCY:-8}
READ_CONCURRENCIES=${READ_CONCURRENCIES:-1 8}
BULK_OUTPUTS=${BULK_OUTPUTS:-1000000}
MAX_REQUESTS=${MAX_REQUESTS:-2000000}
WORK=${WORK:-/tmp/qaboard-bench}
RESULTS=$WORK/results.jsonl
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release

backends=()
phases=()
for a in "$@"; do
  case "$a" in
    pg|postgres|postgresql) backends+=(pg) ;;
    sqlite) backends+=(sqlite) ;;
    post|post-nostamps|reads|scale|uncached) phases+=("$a") ;;
    all) phases+=(post reads scale) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | cut -c3-; exit 0 ;;
    *) echo "unknown argument: $a (see --help)" >&2; exit 2 ;;
  esac
done
[[ ${#backends[@]} -eq 0 ]] && backends=(pg sqlite)
[[ ${#phases[@]} -eq 0 ]] && phases=(post reads scale)

mkdir -p "$WORK"
log() { echo "[$(date +%T)] $*" >&2; }

if [[ -z "${NO_BUILD:-}" ]]; then
  log "building (release)"
  cargo build --release -q -p qaboard-server -p qaboard-bench
fi
# Private copies: others rebuild target/release concurrently (the binary must
# not change between phases), and a broad `pkill qaboard-server` elsewhere
# must not hit the measured server.
mkdir -p "$WORK/bin"
local built
built=$(date -r "${SERVER_BIN:-$BIN/qaboard-server}" -u +%FT%TZ)
cp "${SERVER_BIN:-$BIN/qaboard-server}" "$WORK/bin/qaboard-bench-server.new"
mv "$WORK/bin/qaboard-bench-server.new" "$WORK/bin/qaboard-bench-server"
cp "$BIN/qaboard-load" "$BIN/qaboard-seed" "$WORK/bin/"
BIN=$WORK/bin

# What is measured: the working tree of the server may change between runs.
{
  echo "date: $(date -u +%FT%TZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r)"
  echo "git HEAD: $(git rev-parse --short HEAD 2>/dev/null || echo -), working-tree diff md5: $(git diff HEAD 2>/dev/null | md5sum | cut -c1-12)"
  echo "qaboard-server binary: sha256 $(sha256sum "$BIN/qaboard-bench-server" | cut -c1-16) (built $built)"
} | tee -a "$WORK/runs.log" >&2

SERVER_PID=
PG_DIR=
PG_PID=
PERF_PID=
cleanup() {
  [[ -n "$PERF_PID" ]] && kill -INT "$PERF_PID" 2>/dev/null || true
  stop_server || true
  if [[ -n "$PG_DIR" ]]; then
    scripts/pg-test-cluster.sh stop "$PG_DIR" || true
  fi
}
trap cleanup EXIT

ensure_pg() {
  [[ -n "$PG_DIR" ]] && return
  log "starting a throwaway PostgreSQL"
  eval "$(scripts/pg-test-cluster.sh start)"
  PG_DIR=$PGTEST_DIR
  PG_BASE=${QABOARD_TEST_DATABASE_URL%/*}
  PG_PORT=${PG_BASE##*:}
  PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
  log "PostgreSQL $(psql -At "$QABOARD_TEST_DATABASE_URL" -c 'SHOW server_version') on port $PG_PORT (fsync off)"
}

# Prints the URL of a fresh database for backend $1 named $2.
fresh_db() {
  local name="$2_$(date +%s)_$$"
  if [[ $1 == pg ]]; then
    createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres "$name"
    echo "$PG_BASE/$name"
  else
    rm -f "$WORK/$name.db"*
    echo "$WORK/$name.db"
  fi
}

CUR_DB=
CUR_NAME=
start_server() { # db_url log_name
  local out="$WORK/$2.out" err="$WORK/$2.err"
  CUR_DB=$1
  CUR_NAME=$2
  : >"$out"
  QABOARD_LISTEN=127.0.0.1:0 QABOARD_DATABASE_URL="$1" QABOARD_DATA_DIR="$WORK/data" \
    QABOARD_POOL_SIZE="${QABOARD_POOL_SIZE:-16}" \
    "$BIN/qaboard-bench-server" ${SERVER_ARGS:-} >"$out" 2>"$err" &
  SERVER_PID=$!
  local i
  for i in $(seq 600); do
    if URL=$(grep -o 'http://[0-9.:]*' "$out" 2>/dev/null | head -1) && [[ -n "$URL" ]]; then
      log "server pid $SERVER_PID at $URL ($2)"
      return
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$err" >&2; echo "the server exited" >&2; exit 1; }
    sleep 0.1
  done
  echo "the server did not start in 60 s" >&2
  exit 1
}

stop_server() {
  [[ -z "$SERVER_PID" ]] && return
  local hwm
  hwm=$(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$SERVER_PID/status" 2>/dev/null || true)
  [[ -n "$hwm" ]] && log "server peak RSS (VmHWM): $hwm"
  # What the RSS is made of at the end (heap: RssAnon; binary, SQLite WAL
  # index and other mapped files: RssFile); glibc keeps freed heap, so
  # RssAnon at the end is close to its peak.
  awk '/^(RssAnon|RssFile|RssShmem|Threads):/ {printf "%s %s ", $1, $2} END {print ""}' \
    "/proc/$SERVER_PID/status" 2>/dev/null | sed 's/^/server memory now: /' >&2 || true
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 350); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

perf_start() { # name
  if [[ -n "${PERF_STAT:-}" ]]; then
    perf stat -e task-clock,instructions,cycles -p "$SERVER_PID" -o "$WORK/perfstat-$1.txt" >/dev/null 2>&1 &
    PERF_PID=$!
    return
  fi
  [[ -z "${PERF:-}" ]] && return
  perf record -F "${PERF_FREQ:-199}" --call-graph dwarf,16384 -p "$SERVER_PID" -o "$WORK/perf-$1.data" >/dev/null 2>&1 &
  PERF_PID=$!
}
perf_stop() {
  [[ -z "$PERF_PID" ]] && return
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=
}

busy_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }

# Other users of this machine (concurrent builds) distort the numbers: before
# each run, wait until the machine (our idle server included) uses less than
# $QUIET_CORES cores over 2 s, for at most $QUIET_MAX seconds.
wait_quiet() {
  [[ "${QUIET_CORES:-0.3}" == 0 ]] && return
  local deadline=$((SECONDS + ${QUIET_MAX:-300})) a b busy
  while :; do
    a=$(busy_ticks); sleep 2; b=$(busy_ticks)
    busy=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", (b - a) / 100 / 2}')
    if awk -v x="$busy" -v m="${QUIET_CORES:-0.3}" 'BEGIN {exit !(x < m)}'; then
      return
    fi
    if ((SECONDS >= deadline)); then
      log "machine still busy ($busy cores used by others), measuring anyway"
      return
    fi
    log "machine busy ($busy cores used by others), waiting"
    sleep 3
  done
}

load() { # label concurrency duration scenario...
  local label=$1 c=$2 d=$3
  shift 3
  wait_quiet
  log "load $label (c=$c, $d)"
  local pg_args=()
  [[ $label == pg/* && -n "$PG_PID" ]] && pg_args=(--pg-pid "$PG_PID")
  local attempt
  for attempt in 1 2; do
    "$BIN/qaboard-load" --url "$URL" --concurrency "$c" --duration "$d" --warmup "$WARMUP" \
      --max-requests "$MAX_REQUESTS" --label "$label" --json-out "$RESULTS" \
      --server-pid "$SERVER_PID" "${pg_args[@]}" "$@" | grep -v '^{' >&2
    kill -0 "$SERVER_PID" 2>/dev/null && return
    log "the server died during $label (tail of $WORK/$CUR_NAME.err below); restarting it"
    tail -5 "$WORK/$CUR_NAME.err" >&2
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    start_server "$CUR_DB" "$CUR_NAME-restart$attempt"
  done
}

analyze_pg() { # backend db_url
  [[ $1 == pg ]] && psql -q "$2" -c 'VACUUM ANALYZE' >/dev/null
  return 0
}

seed_reads() { # backend db_url
  start_server "$2" "$1-seed"
  log "seeding the read scenarios through the API"
  timeout 1800 "$BIN/qaboard-seed" commit-detail --url "$URL" >"$WORK/$1-detail.env"
  timeout 1800 "$BIN/qaboard-seed" commit-list --url "$URL" >"$WORK/$1-list.env"
  stop_server
  analyze_pg "$1" "$2"
}

reads() { # backend tag
  # shellcheck disable=SC1090
  source "$WORK/$1-detail.env"
  # shellcheck disable=SC1090
  source "$WORK/$1-list.env"
  local c
  for c in $READ_CONCURRENCIES; do
    [[ $c != 1 ]] && perf_start "$1-$2-detail-c$c"
    load "$1/$2/commit-detail/c$c" "$c" "$READ_DURATION" get "$DETAIL_PATH"
    perf_stop
  done
  for c in $READ_CONCURRENCIES; do
    [[ $c != 1 ]] && perf_start "$1-$2-list-c$c"
    load "$1/$2/commit-list/c$c" "$c" "$READ_DURATION" get "$LIST_PATH"
    perf_stop
  done
}

# One read of the uncached phase: label/cN, then with GZIP=1 label/gzip/cN
# right after (same minute, same server) with Accept-Encoding: gzip.
uncached_read() { # label concurrency write-before path
  load "$1/c$2" "$2" "$READ_DURATION" --write-before "$3" get "$4"
  if [[ -n "${GZIP:-}" ]]; then
    load "$1/gzip/c$2" "$2" "$READ_DURATION" --accept-gzip --write-before "$3" get "$4"
  fi
}

uncached() { # backend tag
  # shellcheck disable=SC1090
  source "$WORK/$1-detail.env"
  # shellcheck disable=SC1090
  source "$WORK/$1-list.env"
  local c one_id one_path
  # A single output read, the yardstick of issue 16's goals.
  one_id=$(curl -fsS "$URL$DETAIL_PATH" | python3 -c \
    'import json,sys; d=json.load(sys.stdin); print(next(iter(d["batches"]["default"]["outputs"])))')
  one_path="/api/v1/output/$one_id/"
  local other=0123456789abcdef0123456789abcdef01234567
  for c in $READ_CONCURRENCIES; do
    uncached_read "$1/$2/one-output/elsewhere" "$c" "bench/elsewhere@$other" "$one_path"
    uncached_read "$1/$2/commit-detail/elsewhere" "$c" "bench/elsewhere@$other" "$DETAIL_PATH"
    uncached_read "$1/$2/commit-detail/same-project" "$c" "$DETAIL_PROJECT@$other" "$DETAIL_PATH"
    uncached_read "$1/$2/commit-list/elsewhere" "$c" "bench/elsewhere@$other" "$LIST_PATH"
    uncached_read "$1/$2/commit-list/same-project" "$c" "$LIST_PROJECT@$other" "$LIST_PATH"
    # The write alone, to subtract from the CPU per request above.
    load "$1/$2/write-only/c$c" "$c" "$READ_DURATION" \
      --project bench/elsewhere --commit "$other" post-output
  done
}

declare -A READS_DB=()

for b in "${backends[@]}"; do
  [[ $b == pg ]] && ensure_pg
  for p in "${phases[@]}"; do
    log "=== $b: $p"
    case $p in
      post)
        db=$(fresh_db "$b" post)
        start_server "$db" "$b-post"
        perf_start "$b-post"
        load "$b/post-output/c$POST_CONCURRENCY" "$POST_CONCURRENCY" "$POST_DURATION" post-output
        perf_stop
        stop_server
        ;;
      reads)
        db=$(fresh_db "$b" reads)
        seed_reads "$b" "$db"
        READS_DB[$b]=$db
        start_server "$db" "$b-reads"
        reads "$b" small
        stop_server
        ;;
      post-nostamps)
        db=$(fresh_db "$b" post_nostamps)
        start_server "$db" "$b-post-nostamps-migrate"
        stop_server
        down=$(ls -d "$ROOT"/migrations/${b/pg/postgres}/*_read_stamps)
        if [[ $b == pg ]]; then
          psql -q -v ON_ERROR_STOP=1 "$db" -f "$down/down.sql"
        else
          sqlite3 "$db" <"$down/down.sql"
        fi
        SERVER_ARGS=--no-migrate start_server "$db" "$b-post-nostamps"
        load "$b/post-output-nostamps/c$POST_CONCURRENCY" "$POST_CONCURRENCY" "$POST_DURATION" post-output
        stop_server
        ;;
      uncached)
        db=${READS_DB[$b]:-}
        if [[ -z "$db" ]]; then
          db=$(fresh_db "$b" uncached)
          seed_reads "$b" "$db"
          READS_DB[$b]=$db
        fi
        start_server "$db" "$b-uncached"
        uncached "$b" small
        stop_server
        ;;
      scale)
        db=${READS_DB[$b]:-}
        if [[ -z "$db" ]]; then
          db=$(fresh_db "$b" scale)
          seed_reads "$b" "$db"
        fi
        log "bulk-seeding $BULK_OUTPUTS other outputs (raw SQL)"
        timeout 3600 "$BIN/qaboard-seed" bulk --database-url "$db" --outputs "$BULK_OUTPUTS" \
          --history-project "${LIST_PROJECT:-bench/list}"
        READS_DB[$b]=
        start_server "$db" "$b-scale"
        if [[ $BULK_OUTPUTS == 1000000 ]]; then reads "$b" 1M; else reads "$b" "plus$BULK_OUTPUTS"; fi
        stop_server
        ;;
    esac
  done
done

log "results appended to $RESULTS; this run:"
python3 - "$RESULTS" "$(date +%s -d "-$SECONDS seconds")" <<'EOF'
import json, sys
since = int(sys.argv[2])
print("| run | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | bytes/resp | server CPU ms/req | PG CPU ms/req | server VmHWM MiB | others' CPU (cores) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("unix_time", 0) < since:
        continue
    if r.get("server_alive") is False:
        print(f"| {r['label']} | invalid: the server died during the run (rerun below) |")
        continue
    l = r["latency_ms"]
    cpu = (r.get("cpu_ms_per_request") or {}).get("server")
    pg = (r.get("cpu_ms_per_request") or {}).get("postgres")
    print(f"| {r['label']} | {r['rps']:.1f} | {l['p50']:.2f} | {l['p90']:.2f} | {l['p99']:.2f} | {l['max']:.2f} "
          f"| {r['errors']} | {r['bytes_in_per_request']} | {cpu if cpu is not None else '-'} "
          f"| {pg if pg is not None else '-'} | {r.get('server_vm_hwm_mib') or '-'} | {r.get('other_cpu_cores', '-')} |")
EOF
}

main "$@"
exit
