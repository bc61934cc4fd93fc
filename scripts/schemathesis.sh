#!/usr/bin/env bash
# Property-based API fuzzing with schemathesis (PyPI) against the real server,
# from its own OpenAPI document (GET /api/v1/openapi.json), on SQLite and, when
# QABOARD_TEST_DATABASE_URL names a PostgreSQL server (scripts/test.sh starts
# one), on a fresh PostgreSQL database. Fails on any 5xx and on answers whose
# status, content type or body do not match the document.
#
#   scripts/schemathesis.sh                 # bounded for CI
#   ST_MAX_EXAMPLES=200 scripts/schemathesis.sh   # deeper
#
#   scripts/schemathesis.sh --install-only  # only install schemathesis (.ci/run, in the background)
#
#   ~1 min per database on 2 busy cores with the defaults.
# Settings: ST_MAX_EXAMPLES (examples per operation, default 40), ST_SEED
# (default 1, reproducible), ST_VERSION (schemathesis version), ST_VENV (where
# schemathesis is installed, default target/schemathesis-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=${ST_VERSION:-4.32.5}
ST_VENV=$(realpath -m "${ST_VENV:-target/schemathesis-venv}")
ST_MAX_EXAMPLES=${ST_MAX_EXAMPLES:-40}
ST_SEED=${ST_SEED:-1}

if [[ ! -x "$ST_VENV/bin/schemathesis" ]] || ! "$ST_VENV/bin/schemathesis" --version | grep -q "$ST_VERSION"; then
  echo "== installing schemathesis $ST_VERSION into $ST_VENV"
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi
if [[ "${1:-}" == "--install-only" ]]; then exit 0; fi
# The server binary of the test build (the very units `cargo test --workspace` built: a
# `cargo build -p qaboard-server` would resolve other features and compile again).
cargo test -q --workspace --locked --no-run
server_bin="${CARGO_TARGET_DIR:-target}/debug/qaboard-server"

work=$(mktemp -d)
pids=()
pg_db=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [[ -n "$pg_db" ]]; then psql -q "$QABOARD_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One worker: CPython 3.11 before 3.11.8 fails hypothesis's source parsing in threads
# ("AST constructor recursion depth mismatch", gh-106905).
# Operations that start `qa` processes on the server (redo, tuning, group
# listing, save-artifacts) are left out: they need a project checkout and git
# mirror, and tests/tests/api/jobs.rs covers them against a fake `qa`.
excluded=(redo_output redo_batch start_tuning save_artifacts list_test_group stop_batch)

run_one() { # name database_url
  local name=$1 url=$2 dir="$work/$1" port
  mkdir -p "$dir/storage"
  port=$(free_port)
  QABOARD_LISTEN="127.0.0.1:$port" QABOARD_DATABASE_URL="$url" QABOARD_DATA_DIR="$dir" \
    QABOARD_STORAGE_ROOT="$dir/storage" QABOARD_QA_COMMAND=/bin/false RUST_LOG=warn \
    "$server_bin" >"$dir/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  # A project with a commit and an output, so reads find something.
  curl -fs -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/v1/output/" \
    -d '{"project":"acme/st","commit_sha":"0123456789abcdef0123456789abcdef01234567","commit_branch":"main","batch_label":"default","database":"/db","rel_input_path":"a.txt","platform":"linux","configurations":["base"],"metrics":{"x":1}}' >/dev/null
  echo "== schemathesis on $name (server on port $port)"
  local args=()
  for id in "${excluded[@]}"; do args+=(--exclude-operation-id "$id"); done
  set +e
  # Run from the server's folder: schemathesis keeps a cache (.schemathesis/) in its cwd.
  (cd "$dir" && "$ST_VENV/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$ST_MAX_EXAMPLES" --seed "$ST_SEED" --workers 1 --no-shrink \
    --phases examples,coverage,fuzzing --request-timeout 30 \
    "${args[@]}")
  local status=$?
  set -e
  if [[ $status -ne 0 ]]; then
    echo "-- server log ($name), last lines:"; tail -n 40 "$dir/server.log"
  fi
  return $status
}

status=0
run_one sqlite "sqlite://$work/sqlite/qaboard.db" || status=1
if [[ -n "${QABOARD_TEST_DATABASE_URL:-}" ]]; then
  pg_db="qaboard_st_$$"
  psql -q "$QABOARD_TEST_DATABASE_URL" -c "CREATE DATABASE $pg_db" >/dev/null
  run_one postgres "${QABOARD_TEST_DATABASE_URL%/*}/$pg_db" || status=1
elif [[ "${CI:-}" == "true" ]]; then
  echo "CI needs QABOARD_TEST_DATABASE_URL for the PostgreSQL half" >&2
  status=1
fi
exit $status
