#!/usr/bin/env bash
# Ingestion cost of two server binaries, measured alternately (issue 16: where the CPU per POST went).
#
#   bench/ab_post.sh OLD_BIN NEW_BIN            # 3 rounds of `bench/run.sh pg post` per binary, alternating
#   ROUNDS=2 POST_DURATION=10s bench/ab_post.sh /tmp/old/qaboard-server target/release/qaboard-server
#   bench/ab_post.sh A_BIN B_BIN C_BIN          # more binaries: labelled b1, b2, b3 in that order
#
# Each run is `bench/run.sh pg post` (its own throwaway PostgreSQL, a fresh database, c=8) with
# SERVER_BIN set and NO_BUILD=1 (target/release's qaboard-load is used: build it first with
# `cargo build --release -p qaboard-bench`). Prints one line per run: req/s, server CPU ms/req,
# PostgreSQL CPU ms/req and the CPU other processes used meanwhile. On a shared machine compare
# the server CPU ms/req, not the throughput. Knobs of run.sh pass through (QUIET_MAX, WORK, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { sed -n '2,/^set -euo/p' "$0" | grep '^#' | cut -c3-; exit 2; }
ROUNDS=${ROUNDS:-3}
export POST_DURATION=${POST_DURATION:-20s}
BASE=${WORK:-/tmp/qaboard-bench-ab}
BINS=("$@")
if [[ $# -eq 2 ]]; then SIDES=(old new); else SIDES=(); for i in $(seq $#); do SIDES+=("b$i"); done; fi
for i in "${!BINS[@]}"; do echo "${SIDES[$i]}: ${BINS[$i]}"; done
for round in $(seq "$ROUNDS"); do
  for i in "${!BINS[@]}"; do
    side=${SIDES[$i]} bin=${BINS[$i]}
    WORK=$BASE/$side SERVER_BIN=$bin NO_BUILD=1 bench/run.sh pg post >"$BASE-$side-$round.log" 2>&1
    python3 - "$BASE/$side/results.jsonl" "$side" "$round" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
cpu = r.get("cpu_ms_per_request", {})
print(f"round {sys.argv[3]} {sys.argv[2]:>3}: {r['rps']:8.1f} req/s  "
      f"server {cpu.get('server')} ms/req  postgres {cpu.get('postgres')} ms/req  "
      f"others {r.get('other_cpu_cores')} cores")
PY
  done
done
