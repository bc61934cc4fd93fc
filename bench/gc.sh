#!/usr/bin/env bash
# Storage garbage collection on N outputs, rows and files (SQLite):
#   bench/gc.sh [N]            (default 100000; BIN=target/release)
# Seeds N outputs with `qaboard-seed bulk`, gives each its own folder with a
# 1 KiB file and a manifest listing it, then times `qaboard-server gc
# --dry-run`, `qaboard-server gc` (projects' default `after`: 1 month), then
# every commit but the branch heads (wall time, peak RSS from /usr/bin/time).
set -euo pipefail
N=${1:-100000}
BIN=${BIN:-target/release}
W=$(mktemp -d /tmp/qaboard-gc-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
export QABOARD_DATA_DIR=$W/data QABOARD_STORAGE_ROOT=$W/files
export QABOARD_DATABASE_URL=$W/data/qaboard.db RUST_LOG=warn
mkdir -p "$W/data" "$W/files"
"$BIN/qaboard-server" gc --dry-run >/dev/null # creates the schema
"$BIN/qaboard-seed" bulk --database-url "$QABOARD_DATABASE_URL" --outputs "$N" >/dev/null
python3 - "$QABOARD_DATABASE_URL" "$W/files" <<'PY'
import json, os, sqlite3, sys
db, root = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
c.execute("UPDATE outputs SET output_dir_override = ? || '/o/' || (id % 1000) || '/' || id", (root,))
c.commit()
manifest = json.dumps({"a.bin": {"st_size": 1024}})
for (d,) in c.execute("SELECT output_dir_override FROM outputs"):
    os.makedirs(d)
    with open(os.path.join(d, "a.bin"), "wb") as f:
        f.write(b"x" * 1024)
    with open(os.path.join(d, "manifest.outputs.json"), "w") as f:
        f.write(manifest)
PY
echo "outputs: $(sqlite3 "$QABOARD_DATABASE_URL" 'SELECT count(*) FROM outputs'), idle commits per project: default 1month"
for args in "--dry-run" "" "--project bulk --before 1s --can-delete-reference-branch"; do
  /usr/bin/time -f "gc $args: %e s wall, %M KiB peak RSS" "$BIN/qaboard-server" gc $args
done
echo "outputs marked deleted: $(sqlite3 "$QABOARD_DATABASE_URL" 'SELECT count(*) FROM outputs WHERE deleted')"
