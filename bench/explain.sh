#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of the SQL of the two heavy reads and of their
# versions (issue 16), on a PostgreSQL database seeded with the shapes of the
# read benchmarks: commit bench/detail with 2,000 outputs, project bench/list
# with 200 commits x 50 outputs, and 20 other projects x 100 commits x 50
# outputs (100,000 outputs) around them.
#
#   bench/explain.sh [POSTGRES_URL]     (default: $QABOARD_TEST_DATABASE_URL)
#   CPU_RUNS=300 bench/explain.sh       (also: backend CPU per run of the list's version
#                                        statements, before/now, bench/pg_stmt_cpu.py; the
#                                        server must run on this machine)
#
# Creates database qaboard_explain_$$ on that server (dropped at exit), applies
# migrations/postgres/* with psql, seeds it with SQL, VACUUM ANALYZE, then
# prints each plan. Statements are those the server sends (diesel's, written
# out here), with the ids of the seeded rows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
URL=${1:-${QABOARD_TEST_DATABASE_URL:?give a PostgreSQL URL or set QABOARD_TEST_DATABASE_URL}}
DB=qaboard_explain_$$
BASE=${URL%/*}
psql -q "$URL" -c "CREATE DATABASE $DB"
[[ -n "${KEEP:-}" ]] || trap 'psql -q "$URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null' EXIT
[[ -n "${KEEP:-}" ]] && echo "keeping database $DB" >&2
for m in "$ROOT"/migrations/postgres/*/up.sql; do
  psql -q -v ON_ERROR_STOP=1 "$BASE/$DB" -f "$m" >/dev/null
done
psql -q -v ON_ERROR_STOP=1 "$BASE/$DB" <<'SQL'
INSERT INTO projects (id, data) SELECT p, '{"qatools_config": {"project": {"name": "bench"}}}'
  FROM (SELECT 'bench/detail' AS p UNION ALL SELECT 'bench/list'
        UNION ALL SELECT 'bulk/project-' || g FROM generate_series(1, 20) g) x;
INSERT INTO test_inputs (path, database, data)
  SELECT 'images/' || g || '.jpg', '/mnt/datasets', '{"metadata": {"size": 1}}' FROM generate_series(1, 2000) g;
-- bench/detail: one commit, one batch, 2,000 outputs.
INSERT INTO ci_commits (hexsha, project_id, data, authored_datetime, committer_name, message, branch, latest_output_datetime)
  VALUES (repeat('d', 40), 'bench/detail', '{}', now(), 'alice', 'detail', 'master', now());
-- bench/list: 200 commits every 15 min; bulk: 20 x 100 commits over 60 days.
INSERT INTO ci_commits (hexsha, project_id, data, authored_datetime, committer_name, message, branch, latest_output_datetime)
  SELECT md5('list' || g) || 'abcdefgh', 'bench/list', '{}', now() - g * interval '15 min',
         'user' || (g % 6), 'commit ' || g, 'master', now()
  FROM generate_series(0, 199) g;
INSERT INTO ci_commits (hexsha, project_id, data, authored_datetime, committer_name, message, branch, latest_output_datetime)
  SELECT md5('bulk' || p || '-' || g) || 'abcdefgh', 'bulk/project-' || p, '{}', now() - g * interval '14 hours',
         'user', 'commit', CASE WHEN g % 3 = 0 THEN 'master' ELSE 'feature' END, now()
  FROM generate_series(1, 20) p, generate_series(0, 99) g;
INSERT INTO batches (created_date, data, ci_commit_id, label)
  SELECT now(), '{"type": "local"}', id, 'default' FROM ci_commits;
INSERT INTO outputs (batch_id, created_date, output_type, test_input_id, platform, configurations,
                     extra_parameters, metrics, data)
  SELECT b.id, now(), 'slam/6dof', 1 + (g % 2000), 'linux',
         '["base", "delta", {"k": 1}, "tail"]', '{}',
         jsonb_build_object('is_failed', false, 'psnr', 30 + g % 7, 'ssim', 0.9, 'm3', g, 'm4', 1,
                            'm5', 2, 'm6', 3, 'm7', 4, 'm8', 5, 'm9', 6),
         '{"storage": "/mnt/qaboard", "user": "bench"}'
  FROM batches b JOIN ci_commits c ON c.id = b.ci_commit_id,
       generate_series(1, CASE WHEN c.project_id = 'bench/detail' THEN 2000 ELSE 50 END) g;
VACUUM ANALYZE;
SQL
# Once more, alone: a transaction open elsewhere on the cluster during the
# first VACUUM keeps pages from being marked all-visible (no index-only scans).
psql -q "$BASE/$DB" -c 'VACUUM'
# Index-only scans need all-visible pages: if this is below 100 %, a
# transaction elsewhere on the cluster held back the VACUUMs; run it again
# on a quiet cluster (autovacuum does the same in production).
psql -X -A -t "$BASE/$DB" -c "SELECT 'outputs pages all-visible: ' || relallvisible || ' of ' || relpages FROM pg_class WHERE relname = 'outputs'"
q() { # title, statement
  echo
  echo "### $1"
  echo
  echo '```'
  psql -X -q -A -t "$BASE/$DB" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2"
  echo '```'
}
DETAIL_BATCH=$(psql -X -A -t "$BASE/$DB" -c "SELECT b.id FROM batches b JOIN ci_commits c ON c.id = b.ci_commit_id WHERE c.project_id = 'bench/detail'")
DETAIL_COMMIT=$(psql -X -A -t "$BASE/$DB" -c "SELECT id FROM ci_commits WHERE project_id = 'bench/detail'")
LIST_IDS=$(psql -X -A -t "$BASE/$DB" -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM ci_commits WHERE project_id = 'bench/list' ORDER BY authored_datetime DESC LIMIT 1000) x")
cs() { echo "(SELECT CAST(count(*) AS TEXT) || '.' || CAST(COALESCE(sum(stamp), 0) AS TEXT) $1)"; }
q "commit page: its outputs with their test inputs (2,000 rows)" \
  "SELECT outputs.id, outputs.batch_id, outputs.created_date, outputs.deleted, outputs.output_dir_override, outputs.output_type, outputs.platform, outputs.is_pending, outputs.is_running, outputs.is_failed, outputs.configurations::text, outputs.extra_parameters::text, outputs.metrics::text, outputs.data::text, test_inputs.database, test_inputs.path, (test_inputs.data -> 'metadata')::text FROM outputs LEFT OUTER JOIN test_inputs ON outputs.test_input_id = test_inputs.id WHERE outputs.batch_id = ANY(ARRAY[$DETAIL_BATCH])"
q "commits list: commits of the window (200 rows)" \
  "SELECT id, hexsha, project_id, data::text, authored_datetime, committer_name, message, branch, commit_dir_override, latest_output_datetime, deleted FROM ci_commits WHERE project_id = 'bench/list' AND authored_datetime >= now() - interval '5 days' AND authored_datetime <= now() ORDER BY authored_datetime DESC LIMIT 1000"
q "commits list: states and two metrics of their outputs (10,000 rows)" \
  "SELECT id, batch_id, is_pending, is_running, is_failed, deleted, CASE WHEN is_failed OR is_pending THEN NULL ELSE '{' || '' || '\"psnr\":'::text || COALESCE((metrics -> 'psnr')::text, 'null') || ',' || '\"ssim\":'::text || COALESCE((metrics -> 'ssim')::text, 'null') || '}' END AS metrics FROM outputs WHERE batch_id IN (SELECT id FROM batches WHERE ci_commit_id IN ($LIST_IDS))"
q "version of the commit page (issue 16)" \
  "SELECT COALESCE((SELECT CAST(stamp AS TEXT) FROM projects WHERE id = 'bench/detail'), 'n') || ':' || $(cs "FROM ci_commits WHERE id = $DETAIL_COMMIT") || ':' || $(cs "FROM batches WHERE ci_commit_id = $DETAIL_COMMIT") || ':' || $(cs "FROM outputs WHERE batch_id IN (SELECT id FROM batches WHERE ci_commit_id = $DETAIL_COMMIT)")"
q "version of the commits list (issue 16), 1/2: the window's commits with their stamps" \
  "SELECT id, ci_commits.stamp FROM ci_commits WHERE project_id = 'bench/list' AND authored_datetime >= now() - interval '5 days' AND authored_datetime <= now() ORDER BY authored_datetime DESC LIMIT 1000"
LIST_V_BEFORE="SELECT COALESCE((SELECT CAST(stamp AS TEXT) FROM projects WHERE id = 'bench/list'), 'n') || ':' || $(cs "FROM batches WHERE ci_commit_id IN ($LIST_IDS)") || ':' || $(cs "FROM outputs WHERE batch_id IN (SELECT id FROM batches WHERE ci_commit_id IN ($LIST_IDS))")"
LIST_V_NOW="WITH b AS MATERIALIZED (SELECT id, stamp FROM batches WHERE ci_commit_id IN ($LIST_IDS)) SELECT COALESCE((SELECT CAST(stamp AS TEXT) FROM projects WHERE id = 'bench/list'), 'n') || ':' || $(cs "FROM b") || ':' || $(cs "FROM outputs WHERE batch_id = ANY(ARRAY(SELECT id FROM b))")"
q "version of the commits list (issue 16), 2/2: project, batches and outputs (until git f4dbba9)" "$LIST_V_BEFORE"
q "version of the commits list (issue 16), 2/2: project, batches and outputs (now: batches read once, one index-only scan over the batch ids)" "$LIST_V_NOW"
if [[ -n "${CPU_RUNS:-}" ]]; then
  # Backend CPU per run of the list's version statements, alternating (bench/pg_stmt_cpu.py).
  T=$(mktemp -d)
  echo "$LIST_V_BEFORE" >"$T/list-version-2of2-before.sql"
  echo "$LIST_V_NOW" >"$T/list-version-2of2-now.sql"
  echo
  echo "### backend CPU of the list's version, $CPU_RUNS runs each, alternating"
  echo
  echo '```'
  python3 "$ROOT/bench/pg_stmt_cpu.py" "$BASE/$DB" "$CPU_RUNS" "$T/list-version-2of2-before.sql" "$T/list-version-2of2-now.sql"
  echo '```'
  rm -r "$T"
fi
