#!/usr/bin/env bash
# Storage garbage collection on N outputs, rows and files, on SQLite or PostgreSQL:
#   bench/gc.sh [N]                   SQLite (default N 100000; BIN=target/release)
#   bench/gc.sh [N] postgres          PostgreSQL: a fresh database on the server of
#                                     QABOARD_TEST_DATABASE_URL (scripts/pg-test-cluster.sh
#                                     start prints one), dropped at the end
# Seeds N outputs with `qaboard-seed bulk`, gives each its own folder with a
# 1 KiB file and a manifest listing it, then times `qaboard-server gc
# --dry-run`, `qaboard-server gc` (projects' default `after`: 1 month), then
# every commit but the branch heads (wall time, peak RSS from /usr/bin/time).
set -euo pipefail
N=${1:-100000}
DB=${2:-sqlite}
BIN=${BIN:-target/release}
W=$(mktemp -d /tmp/qaboard-gc-bench.XXXXXX)
pg_db=""
cleanup() {
  if [[ -n "$pg_db" ]]; then psql -q "$QABOARD_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
export QABOARD_DATA_DIR=$W/data QABOARD_STORAGE_ROOT=$W/files RUST_LOG=warn
mkdir -p "$W/data" "$W/files"
case "$DB" in
  sqlite)
    export QABOARD_DATABASE_URL=$W/data/qaboard.db
    sql() { sqlite3 "$QABOARD_DATABASE_URL" "$1"; }
    ;;
  postgres)
    : "${QABOARD_TEST_DATABASE_URL:?set QABOARD_TEST_DATABASE_URL to a PostgreSQL server (scripts/pg-test-cluster.sh start)}"
    pg_db="qaboard_gc_bench_$$"
    psql -q "$QABOARD_TEST_DATABASE_URL" -c "CREATE DATABASE $pg_db" >/dev/null
    export QABOARD_DATABASE_URL="${QABOARD_TEST_DATABASE_URL%/*}/$pg_db"
    sql() { psql -qAt "$QABOARD_DATABASE_URL" -c "$1"; }
    ;;
  *) echo "usage: bench/gc.sh [N] [sqlite|postgres]" >&2; exit 2 ;;
esac
"$BIN/qaboard-server" gc --dry-run >/dev/null # creates the schema
"$BIN/qaboard-seed" bulk --database-url "$QABOARD_DATABASE_URL" --outputs "$N" >/dev/null
sql "UPDATE outputs SET output_dir_override = '$W/files/o/' || (id % 1000) || '/' || id" >/dev/null
sql "SELECT output_dir_override FROM outputs" | python3 -c '
import json, os, sys
manifest = json.dumps({"a.bin": {"st_size": 1024}})
for line in sys.stdin:
    d = line.strip()
    if not d:
        continue
    os.makedirs(d)
    with open(os.path.join(d, "a.bin"), "wb") as f:
        f.write(b"x" * 1024)
    with open(os.path.join(d, "manifest.outputs.json"), "w") as f:
        f.write(manifest)
'
echo "$DB: outputs: $(sql 'SELECT count(*) FROM outputs'), idle commits per project: default 1month"
for args in "--dry-run" "" "--project bulk --before 1s --can-delete-reference-branch"; do
  /usr/bin/time -f "gc $args: %e s wall, %M KiB peak RSS" "$BIN/qaboard-server" gc $args
done
echo "outputs marked deleted: $(sql 'SELECT count(*) FROM outputs WHERE deleted')"
