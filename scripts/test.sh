#!/usr/bin/env bash
# Runs the whole test suite: every crate, on SQLite and, when PostgreSQL
# binaries are on the machine (initdb, pg_ctl), on a throwaway PostgreSQL
# cluster started here and stopped on exit. An already running server can be
# used instead by exporting QABOARD_TEST_DATABASE_URL before calling this.
set -euo pipefail
cd "$(dirname "$0")/.."

started=""
cleanup() { if [[ -n "$started" ]]; then scripts/pg-test-cluster.sh stop "$started"; fi; }
trap cleanup EXIT

if [[ -z "${QABOARD_TEST_DATABASE_URL:-}" ]]; then
  if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    eval "$(scripts/pg-test-cluster.sh start)"
    started="$PGTEST_DIR"
    echo "test PostgreSQL: $QABOARD_TEST_DATABASE_URL"
  elif [[ "${CI:-}" == "true" ]]; then
    echo "CI needs PostgreSQL binaries (initdb, pg_ctl) for the PostgreSQL half of the suite" >&2
    exit 1
  else
    echo "note: no PostgreSQL binaries found: running the SQLite half only" >&2
  fi
fi
# In CI, a test that silently skips PostgreSQL is a failure.
if [[ "${CI:-}" == "true" ]]; then export QABOARD_REQUIRE_POSTGRES=1; fi

log=$(mktemp)
trap 'cleanup; rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# The API fuzzer (schemathesis, from GET /api/v1/openapi.json) against the real server on
# SQLite and on the PostgreSQL above; only for the whole suite (no arguments).
# QABOARD_SKIP_SCHEMATHESIS=1 skips it (no python3 or no PyPI access).
if [[ $status -eq 0 && $# -eq 0 && -z "${QABOARD_SKIP_SCHEMATHESIS:-}" ]]; then
  scripts/schemathesis.sh || status=$?
fi
exit "$status"
