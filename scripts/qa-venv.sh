#!/usr/bin/env bash
# Creates (or reuses) a Python virtualenv holding the real `qa` CLI, qaboard==1.1.1 from PyPI,
# and prints the venv's directory on stdout (its CLI is "$DIR/bin/qa").
#   QA_VENV_DIR   where to keep it (default: <repo>/target/qa-venv)
#   PYTHON        interpreter used to create it (default: python3)
# Repeated runs are fast: a stamp file records a successful install of the pinned version.
# Exit codes: 0 ok; 3 python3/venv unavailable; 4 pip install failed (PyPI unreachable?).
set -euo pipefail

QABOARD_VERSION=1.1.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${QA_VENV_DIR:-$ROOT/target/qa-venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.qaboard-$QABOARD_VERSION.ok"

if [[ -f "$STAMP" && -x "$VENV/bin/qa" && -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c '' 2>/dev/null; then
  echo "$VENV"
  exit 0
fi

command -v "$PY" >/dev/null 2>&1 || { echo "qa-venv: '$PY' not found" >&2; exit 3; }
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 \
  || { echo "qa-venv: '$PY' lacks the venv/ensurepip modules (apt-get install python3-venv)" >&2; exit 3; }

# Concurrent callers (several tests, several cargo invocations) serialize on a lock.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

if [[ ! -f "$STAMP" ]]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" >&2 || { echo "qa-venv: '$PY -m venv $VENV' failed" >&2; rm -rf "$VENV"; exit 3; }
  LOG="$VENV/pip-install.log"
  if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet --quiet \
      "qaboard==$QABOARD_VERSION" >"$LOG" 2>&1; then
    echo "qa-venv: pip install qaboard==$QABOARD_VERSION failed (is PyPI reachable?):" >&2
    tail -n 30 "$LOG" >&2
    rm -rf "$VENV"
    exit 4
  fi
  "$VENV/bin/qa" --help >/dev/null 2>&1 \
    || { echo "qa-venv: the installed 'qa' does not start:" >&2; "$VENV/bin/qa" --help >&2 || true; rm -rf "$VENV"; exit 4; }
  touch "$STAMP"
fi

echo "$VENV"
