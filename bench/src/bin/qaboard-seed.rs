//! `qaboard-seed`: fills a QA-Board database for the read benchmarks.
//!
//! * `commit-detail` and `commit-list` go through the HTTP API (`POST
//!   /api/v1/output/` with realistic `qa run` bodies), so the rows are exactly
//!   what the server writes; 12,000 posts take seconds.
//! * `bulk` writes with raw SQL (PostgreSQL `generate_series`, SQLite
//!   recursive CTEs) straight into the database: a million outputs through
//!   the API would take many minutes and measure the write path, not build
//!   a realistic large database.
//!
//! Prints `export NAME=value` lines (project, sha) on stdout for scripts;
//! progress goes to stderr.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use qaboard_bench::args::{parse, parse_count, parse_duration, Args};
use qaboard_bench::gen::{
    fake_sha, metrics_definitions, realistic_output, OutputSpec, POST_OUTPUT_TEMPLATE,
};
use qaboard_bench::http::{encode_query_value, Client, Target};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: qaboard-seed SUBCOMMAND [options]
  commit-detail --url URL [--project bench/detail] [--outputs 2000]
        one commit (batch default) with N realistic outputs, through the API
  commit-list --url URL [--project bench/list] [--commits 200] [--outputs-per-commit 50]
              [--spacing 15m]
        C commits on branch master authored every SPACING before now, with
        N outputs each, through the API
  bulk --database-url URL [--outputs 1000000] [--outputs-per-commit 100]
       [--projects 20] [--history-project P] [--history-fraction 0.1]
       [--analyze auto|yes|no]
        OTHER outputs, with raw SQL: projects bulk/project-<i> with commits
        over the last 60 days; a fraction of the commits (with
        --history-project) goes to project P, authored 30+ days ago (older
        than the webapp's commit-list window). --analyze auto: VACUUM ANALYZE
        on PostgreSQL (what autovacuum does), nothing on SQLite.
common options:
  --concurrency N   parallel API connections (default 4)
  --seed N          seed of the generated values and shas (default 1)
  --timeout D       per-request timeout (default 60s)";

struct Common {
    url: Option<String>,
    database_url: Option<String>,
    concurrency: usize,
    seed: u64,
    timeout: Duration,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("qaboard-seed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut a = Args::from_env();
    let cmd = a.next().ok_or(USAGE)?;
    if cmd == "-h" || cmd == "--help" {
        println!("{USAGE}");
        return Ok(());
    }
    let mut c = Common {
        url: None,
        database_url: None,
        concurrency: 4,
        seed: 1,
        timeout: Duration::from_secs(60),
    };
    let mut project: Option<String> = None;
    let mut outputs: Option<u64> = None;
    let mut commits = 200u64;
    let mut per_commit: Option<u64> = None;
    let mut spacing = Duration::from_secs(15 * 60);
    let mut projects = 20u64;
    let mut history_project: Option<String> = None;
    let mut history_fraction = 0.1f64;
    let mut analyze = "auto".to_string();
    while let Some(arg) = a.next() {
        match arg.as_str() {
            "--url" => c.url = Some(a.value(&arg)?),
            "--database-url" => c.database_url = Some(a.value(&arg)?),
            "--concurrency" => c.concurrency = a.parsed(&arg, parse::<usize>)?.clamp(1, 64),
            "--seed" => c.seed = a.parsed(&arg, parse)?,
            "--timeout" => c.timeout = a.parsed(&arg, parse_duration)?,
            "--project" => project = Some(a.value(&arg)?),
            "--outputs" => outputs = Some(a.parsed(&arg, parse_count)?),
            "--commits" => commits = a.parsed(&arg, parse_count)?,
            "--outputs-per-commit" => per_commit = Some(a.parsed(&arg, parse_count)?.max(1)),
            "--spacing" => spacing = a.parsed(&arg, parse_duration)?,
            "--projects" => projects = a.parsed(&arg, parse_count)?.max(1),
            "--history-project" => history_project = Some(a.value(&arg)?),
            "--history-fraction" => {
                history_fraction = a.parsed(&arg, parse::<f64>)?.clamp(0.0, 1.0)
            }
            "--analyze" => analyze = a.value(&arg)?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    match cmd.as_str() {
        "commit-detail" => commit_detail(
            &c,
            project.as_deref().unwrap_or("bench/detail"),
            outputs.unwrap_or(2000),
        ),
        "commit-list" => commit_list(
            &c,
            project.as_deref().unwrap_or("bench/list"),
            commits,
            per_commit.unwrap_or(50),
            spacing,
        ),
        "bulk" => bulk(
            &c,
            &BulkPlan {
                outputs: outputs.unwrap_or(1_000_000),
                per_commit: per_commit.unwrap_or(100),
                projects,
                history_project,
                history_fraction,
                analyze,
                tag: (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default()
                    & 0xffff_ffff) as u32,
            },
        ),
        other => Err(format!("unknown subcommand '{other}'\n{USAGE}")),
    }
}

// ------------------------------------------------------------ through the API

/// One output to post.
struct Job {
    sha: String,
    authored: String,
    committer: &'static str,
    message: String,
    index: u64,
}

const COMMITTERS: &[&str] = &[
    "Jane Doe",
    "Arthur Flam",
    "Wei Zhang",
    "Priya Natarajan",
    "Lucas Martin",
    "Sara Cohen",
];

/// Posts every job with `concurrency` connections; fails on the first error.
fn post_all(c: &Common, project: &str, branch: &str, jobs: Vec<Job>) -> Result<(), String> {
    let url = c.url.as_deref().ok_or("--url is required")?;
    let target = Target::parse(url)?;
    let template: Value = serde_json::from_str(POST_OUTPUT_TEMPLATE).map_err(|e| e.to_string())?;
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicU64::new(0));
    let error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let total = jobs.len() as u64;
    std::thread::scope(|s| {
        for _ in 0..c.concurrency {
            let (jobs, next, error, template, target) =
                (&jobs, &next, &error, &template, target.clone());
            s.spawn(move || {
                let mut client = Client::new(target, c.timeout);
                loop {
                    if error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i as usize) else {
                        return;
                    };
                    let spec = OutputSpec {
                        project,
                        sha: &job.sha,
                        branch,
                        committer: job.committer,
                        authored: &job.authored,
                        message: &job.message,
                        index: job.index,
                        seed: c.seed,
                    };
                    let body = realistic_output(template, &spec).to_string();
                    let r = client.request_retry("POST", "/api/v1/output/", Some(body.as_bytes()));
                    let failure = match r {
                        Ok(resp) if resp.ok() => None,
                        Ok(resp) => Some(format!(
                            "POST /api/v1/output/ answered {}: {}",
                            resp.status,
                            String::from_utf8_lossy(&resp.body)
                                .chars()
                                .take(500)
                                .collect::<String>()
                        )),
                        Err(e) => Some(format!("POST /api/v1/output/ failed: {e}")),
                    };
                    if let Some(f) = failure {
                        if let Ok(mut e) = error.lock() {
                            e.get_or_insert(f);
                        }
                        return;
                    }
                    if (i + 1) % 2000 == 0 {
                        eprintln!(
                            "  {} / {total} outputs posted ({:.1}s)",
                            i + 1,
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    if let Some(e) = error.lock().map_err(|e| e.to_string())?.take() {
        return Err(e);
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "  posted {total} outputs in {secs:.1}s ({:.0}/s)",
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn iso(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

fn get(c: &Common, path: &str) -> Result<(u16, Vec<u8>, f64), String> {
    let target = Target::parse(c.url.as_deref().ok_or("--url is required")?)?;
    let mut client = Client::new(target, c.timeout);
    let t = Instant::now();
    let r = client
        .request("GET", path, None)
        .map_err(|e| format!("GET {path}: {e}"))?;
    Ok((r.status, r.body, t.elapsed().as_secs_f64() * 1000.0))
}

fn commit_detail(c: &Common, project: &str, outputs: u64) -> Result<(), String> {
    let sha = fake_sha(c.seed, 1, 0);
    let authored = iso(std::time::SystemTime::now() - Duration::from_secs(3600));
    eprintln!("seeding {project}@{sha}: {outputs} outputs through the API");
    let jobs = (0..outputs)
        .map(|i| Job {
            sha: sha.clone(),
            authored: authored.clone(),
            committer: COMMITTERS[0],
            message:
                "Benchmark: one commit with many outputs\n\nSeeded by qaboard-seed commit-detail."
                    .into(),
            index: i,
        })
        .collect();
    post_all(c, project, "master", jobs)?;
    let path = format!(
        "/api/v1/commit/{sha}?project={}",
        encode_query_value(project)
    );
    let (status, body, ms) = get(c, &path)?;
    let n = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            v["batches"]["default"]["outputs"]
                .as_object()
                .map(|o| o.len())
        })
        .unwrap_or(0);
    eprintln!(
        "  GET {path}: HTTP {status}, {} bytes, {n} outputs, {ms:.1} ms",
        body.len()
    );
    println!("export DETAIL_PROJECT={project}");
    println!("export DETAIL_SHA={sha}");
    println!("export DETAIL_PATH='{path}'");
    Ok(())
}

fn commit_list(
    c: &Common,
    project: &str,
    commits: u64,
    per_commit: u64,
    spacing: Duration,
) -> Result<(), String> {
    eprintln!("seeding {project}: {commits} commits x {per_commit} outputs through the API");
    let now = std::time::SystemTime::now();
    let mut jobs = Vec::new();
    // Commit by commit (oldest first), like CI would.
    for k in (0..commits).rev() {
        let sha = fake_sha(c.seed, 2, k);
        let authored = iso(now - Duration::from_secs(600) - spacing * k as u32);
        for i in 0..per_commit {
            jobs.push(Job {
                sha: sha.clone(),
                authored: authored.clone(),
                committer: COMMITTERS[(k % COMMITTERS.len() as u64) as usize],
                message: format!(
                    "Tune the pipeline, step {k}\n\nSeeded by qaboard-seed commit-list."
                ),
                index: i,
            });
        }
    }
    post_all(c, project, "master", jobs)?;
    let metrics = encode_query_value(r#"{"psnr":1,"ssim":1}"#);
    let path = format!(
        "/api/v1/commits/?project={}&metrics={metrics}",
        encode_query_value(project)
    );
    let (status, body, ms) = get(c, &path)?;
    let n = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    eprintln!(
        "  GET {path}: HTTP {status}, {} bytes, {n} commits, {ms:.1} ms",
        body.len()
    );
    if n as u64 != commits {
        eprintln!("  WARNING: the commit list returned {n} commits, expected {commits}");
    }
    println!("export LIST_PROJECT={project}");
    println!("export LIST_PATH='{path}'");
    Ok(())
}

// ------------------------------------------------------------- raw SQL bulk

struct BulkPlan {
    outputs: u64,
    per_commit: u64,
    projects: u64,
    history_project: Option<String>,
    history_fraction: f64,
    analyze: String,
    /// Distinguishes this run's shas from earlier runs'.
    tag: u32,
}

enum Db {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl Db {
    fn exec(&mut self, sql: &str) -> Result<(), String> {
        let r = match self {
            Db::Pg(c) => c.batch_execute(sql),
            Db::Sqlite(c) => c.batch_execute(sql),
        };
        r.map_err(|e| {
            format!(
                "{e}\nin SQL: {}",
                sql.chars().take(2000).collect::<String>()
            )
        })
    }

    fn pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A JSON literal of the backend's JSON column type.
fn json_lit(db: &Db, v: &Value) -> String {
    if db.pg() {
        format!("{}::jsonb", q(&v.to_string()))
    } else {
        format!("jsonb({})", q(&v.to_string()))
    }
}

/// The integers `0..n` as a FROM item `<alias>_s` with one column `alias`.
fn series(db: &Db, n: u64, alias: &str) -> String {
    if db.pg() {
        format!(
            "generate_series(0, {}) AS {alias}_s({alias})",
            n.saturating_sub(1)
        )
    } else {
        format!(
            "(WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < {}) SELECT x AS {alias} FROM s) AS {alias}_s",
            n.saturating_sub(1)
        )
    }
}

/// The SQL of the current UTC time minus `secs_expr` seconds, as the column
/// type of a naive (`tz = false`) or UTC-aware timestamp.
fn ts_minus(db: &Db, secs_expr: &str, tz: bool) -> String {
    if db.pg() {
        if tz {
            format!("(now() - ({secs_expr}) * interval '1 second')")
        } else {
            format!("((now() AT TIME ZONE 'utc') - ({secs_expr}) * interval '1 second')")
        }
    } else {
        // diesel's SQLite text formats: `%F %T%.f` and `%F %T%.f%:z`.
        let t = format!("strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || ({secs_expr}) || ' seconds')");
        if tz {
            format!("({t} || '+00:00')")
        } else {
            t
        }
    }
}

fn rand01(db: &Db) -> &'static str {
    if db.pg() {
        "random()"
    } else {
        "((abs(random()) % 1000000) / 1000000.0)"
    }
}

fn json_obj(db: &Db) -> &'static str {
    if db.pg() {
        "jsonb_build_object"
    } else {
        "json_object"
    }
}

fn wrap_json(db: &Db, expr: String) -> String {
    if db.pg() {
        expr
    } else {
        format!("jsonb({expr})")
    }
}

/// `p` hex digits of an integer expression, zero-padded to `width`.
fn hex(db: &Db, expr: &str, width: usize) -> String {
    if db.pg() {
        format!("lpad(to_hex({expr}), {width}, '0')")
    } else {
        format!("printf('%0{width}x', {expr})")
    }
}

fn pad_dec(db: &Db, expr: &str, width: usize) -> String {
    if db.pg() {
        format!("lpad(({expr})::text, {width}, '0')")
    } else {
        format!("printf('%0{width}d', {expr})")
    }
}

fn insert_ignore(db: &Db) -> (&'static str, &'static str) {
    if db.pg() {
        ("INSERT INTO", "ON CONFLICT DO NOTHING")
    } else {
        ("INSERT OR IGNORE INTO", "")
    }
}

const BULK_DATABASE: &str = "/mnt/datasets/bulk";
/// Distinct test inputs shared by the bulk commits (each commit uses `per_commit` of them).
const BULK_INPUT_GROUPS: u64 = 10;

/// Inserts `n` commits of `project` (shas `<tag><p><c>`), authored every
/// `step_secs` seconds back from `offset_secs` ago, each with a `default`
/// batch of `per_commit` outputs; one transaction.
fn bulk_project(
    db: &mut Db,
    plan: &BulkPlan,
    project: &str,
    p: u64,
    n: u64,
    offset_secs: u64,
    step_secs: u64,
) -> Result<(), String> {
    let template: Value = serde_json::from_str(POST_OUTPUT_TEMPLATE).map_err(|e| e.to_string())?;
    let mut config = template["qaboard_config"].clone();
    config["project"]["name"] = json!(project);
    let commit_data = json!({
        "qatools_config": config,
        "qatools_metrics": metrics_definitions(),
        "git": {"path_with_namespace": project},
    });
    let (ins, on_conflict) = insert_ignore(db);
    let prefix = format!("{:08x}{:016x}", plan.tag, p);
    let sha = format!("'{prefix}' || {}", hex(db, "c", 16));
    let authored = ts_minus(db, &format!("{offset_secs} + c * {step_secs}"), true);
    let branch = "CASE WHEN c % 3 = 0 THEN 'master' ELSE 'feature/topic-' || (c % 13) END";
    let mut sql = String::new();
    sql.push_str(&format!(
        "{ins} projects (id, data, latest_output_datetime) VALUES ({}, {}, {}) {on_conflict};\n",
        q(project),
        json_lit(db, &commit_data),
        ts_minus(db, "0", false)
    ));
    sql.push_str(&format!(
        "{ins} ci_commits (hexsha, project_id, data, authored_datetime, committer_name, message, branch, parents, \
         commit_type, latest_output_datetime, deleted) \
         SELECT {sha}, {proj}, {data}, {authored}, 'Bulk Committer ' || (c % 7), 'Bulk commit ' || c, {branch}, \
         {parents}, 'git', {authored}, false FROM {series} {on_conflict};\n",
        proj = q(project),
        data = json_lit(db, &commit_data),
        parents = json_lit(db, &json!([])),
        series = series(db, n, "c"),
    ));
    let mine = format!(
        "c.project_id = {} AND c.hexsha LIKE '{prefix}%'",
        q(project)
    );
    sql.push_str(&format!(
        "{ins} batches (created_date, data, ci_commit_id, label, batch_dir_override) \
         SELECT {now}, {data}, c.id, 'default', NULL FROM ci_commits c WHERE {mine} {on_conflict};\n",
        now = ts_minus(db, "0", false),
        data = json_lit(db, &json!({"type": "ci"})),
    ));
    let r = rand01(db);
    let obj = json_obj(db);
    let num = |lo: f64, hi: f64, d: u32| match (db.pg(), d) {
        (true, 0) => format!("({lo} + {r} * {})::bigint", hi - lo),
        (true, _) => format!("round(({lo} + {r} * {})::numeric, {d})", hi - lo),
        (false, 0) => format!("CAST({lo} + {r} * {} AS INTEGER)", hi - lo),
        (false, _) => format!("round({lo} + {r} * {}, {d})", hi - lo),
    };
    // JSON booleans (SQLite's json_object would store 0/1).
    let (jfalse, jtrue) = if db.pg() {
        ("false", "true")
    } else {
        ("json('false')", "json('true')")
    };
    let metrics = wrap_json(
        db,
        format!(
            "{obj}('is_failed', {jfalse}, 'psnr', {}, 'ssim', {}, 'compute_time', {}, 'snr_db', {}, \
             'bitrate_kbps', {}, 'file_size', {}, 'noise_sigma', {}, 'sharpness', {}, 'delta_e', {})",
            num(26.0, 42.0, 3),
            num(0.7, 0.99, 4),
            num(0.4, 12.0, 3),
            num(30.0, 45.0, 2),
            num(1500.0, 12000.0, 1),
            num(400000.0, 3400000.0, 0),
            num(0.2, 3.0, 4),
            num(0.15, 0.5, 4),
            num(0.5, 6.0, 3),
        ),
    );
    let data = wrap_json(
        db,
        format!(
            "{obj}('storage', {}, 'user', 'ci-runner', 'ci', {jtrue}, 'job_options', {obj}('type', 'local'))",
            num(200000.0, 20000000.0, 0)
        ),
    );
    let input_path = format!(
        "'bulk/capture_' || {} || '.dng'",
        pad_dec(
            db,
            &format!("(c.id % {BULK_INPUT_GROUPS}) * {} + o", plan.per_commit),
            6
        )
    );
    let f = if db.pg() { "false" } else { "0" };
    sql.push_str(&format!(
        "{ins} outputs (batch_id, created_date, deleted, output_dir_override, output_type, test_input_id, platform, \
         configurations, extra_parameters, is_pending, is_running, is_failed, metrics, data) \
         SELECT b.id, {now}, {f}, '/mnt/qaboard/' || c.project_id || '/' || substr(c.hexsha, 1, 2) || '/' || \
         substr(c.hexsha, 3, 14) || '/output/default/linux/base/' || substr(ti.path, 1, length(ti.path) - 4), 'image', ti.id, 'linux', {conf}, {extra}, \
         {f}, {f}, {f}, {metrics}, {data} \
         FROM ci_commits c JOIN batches b ON b.ci_commit_id = c.id AND b.label = 'default' \
         CROSS JOIN {series} \
         JOIN test_inputs ti ON ti.database = '{BULK_DATABASE}' AND ti.path = {input_path} \
         WHERE {mine} {on_conflict};\n",
        now = ts_minus(db, "0", false),
        conf = json_lit(db, &json!(["base"])),
        extra = json_lit(db, &json!({})),
        series = series(db, plan.per_commit, "o"),
    ));
    db.exec(&format!("BEGIN;\n{sql}COMMIT;"))
}

fn bulk(c: &Common, plan: &BulkPlan) -> Result<(), String> {
    let url = c
        .database_url
        .as_deref()
        .ok_or("--database-url is required")?;
    let mut db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Db::Pg(PgConnection::establish(url).map_err(|e| format!("cannot connect: {e}"))?)
    } else {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .or_else(|| url.strip_prefix("file:"))
            .unwrap_or(url);
        if !std::path::Path::new(path).exists() {
            return Err(format!(
                "{path} does not exist: start the server on it once (it creates the schema)"
            ));
        }
        let mut conn =
            SqliteConnection::establish(path).map_err(|e| format!("cannot open {path}: {e}"))?;
        conn.batch_execute(
            "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| e.to_string())?;
        Db::Sqlite(conn)
    };
    let started = Instant::now();
    let commits_total = plan.outputs.div_ceil(plan.per_commit);
    let history = if plan.history_project.is_some() {
        (commits_total as f64 * plan.history_fraction).round() as u64
    } else {
        0
    };
    let others = commits_total - history;
    eprintln!(
        "bulk: {} outputs = {commits_total} commits x {} outputs ({others} commits in {} projects bulk/project-*, \
         {history} older ones in {}), tag {:08x}",
        commits_total * plan.per_commit,
        plan.per_commit,
        plan.projects,
        plan.history_project.as_deref().unwrap_or("-"),
        plan.tag
    );

    // Test inputs shared by the bulk commits.
    let (ins, on_conflict) = insert_ignore(&db);
    let n_inputs = BULK_INPUT_GROUPS * plan.per_commit;
    let obj = json_obj(&db);
    db.exec(&format!(
        "{ins} test_inputs (path, database, data) SELECT 'bulk/capture_' || {} || '.dng', '{BULK_DATABASE}', {} \
         FROM {} {on_conflict};",
        pad_dec(&db, "i", 6),
        wrap_json(
            &db,
            format!(
                "{obj}('metadata', {obj}('sensor', 'imx586', 'iso', 100 * (1 + i % 16), 'width', 4000, 'height', 3000))"
            )
        ),
        series(&db, n_inputs, "i")
    ))?;

    let sixty_days = 60 * 86400;
    let mut done_commits = 0u64;
    for p in 0..plan.projects {
        let n = others / plan.projects + u64::from(p < others % plan.projects);
        if n == 0 {
            continue;
        }
        let project = format!("bulk/project-{p:02}");
        let t = Instant::now();
        bulk_project(&mut db, plan, &project, p, n, 0, (sixty_days / n).max(1))?;
        done_commits += n;
        eprintln!(
            "  {project}: {n} commits, {} outputs in {:.1}s (total {} outputs, {:.1}s)",
            n * plan.per_commit,
            t.elapsed().as_secs_f64(),
            done_commits * plan.per_commit,
            started.elapsed().as_secs_f64()
        );
    }
    if let (Some(hp), true) = (&plan.history_project, history > 0) {
        let t = Instant::now();
        // Hourly commits from 30 days ago backwards.
        bulk_project(&mut db, plan, hp, 0xffff, history, 30 * 86400, 3600)?;
        done_commits += history;
        eprintln!(
            "  {hp} (history): {history} commits, {} outputs in {:.1}s (total {} outputs, {:.1}s)",
            history * plan.per_commit,
            t.elapsed().as_secs_f64(),
            done_commits * plan.per_commit,
            started.elapsed().as_secs_f64()
        );
    }
    let analyze = match plan.analyze.as_str() {
        "auto" => db.pg(),
        "yes" => true,
        "no" => false,
        other => return Err(format!("--analyze must be auto, yes or no, not {other}")),
    };
    if analyze {
        let t = Instant::now();
        db.exec(if db.pg() {
            "VACUUM ANALYZE;"
        } else {
            "ANALYZE;"
        })?;
        eprintln!("  analyze: {:.1}s", t.elapsed().as_secs_f64());
    }
    eprintln!("bulk done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
