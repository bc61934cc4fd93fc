//! `qaboard-load`: an HTTP load generator for the QA-Board server.
//!
//! N threads, each with one keep-alive connection, send requests back to back
//! (closed loop) for a bounded time and count; latencies are measured from
//! the first byte written to the last byte of the response read.
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qaboard_bench::args::{parse, parse_count, parse_duration, Args};
use qaboard_bench::gen::{unique_sha, SlotTemplate, POST_OUTPUT_TEMPLATE};
use qaboard_bench::http::{Client, Target};
use qaboard_bench::procfs;
use qaboard_bench::stats::{r3, summarize};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: qaboard-load --url http://HOST:PORT [options] SCENARIO
scenarios:
  post-output        POST /api/v1/output/ with a distinct output per request
                     (same project, commit and batch; varied input and
                     extra_parameters), body based on the recorded `qa run` request
  get PATH           repeated GET of PATH (e.g. '/api/v1/commit/<sha>?project=p')
get options:
  --write-before PROJECT@SHA
                     before each timed GET, POST (untimed) a new output of commit
                     SHA of PROJECT, as post-output would: the uncached reads of
                     issue 16 (a write elsewhere, or to the same project's other
                     commit, before every read); the server's CPU per request then
                     includes the write's
  --accept-gzip      send `Accept-Encoding: gzip` on every GET, as a browser does
                     (bodies counted as received; the share of gzip-encoded
                     answers is reported)
options:
  --concurrency N    threads, one keep-alive connection each (default 8)
  --duration D       measured time, e.g. 20s, 500ms, 2m (default 20s)
  --warmup D         unmeasured time before it (default 1s)
  --max-requests N   stop after N requests in all, warm-up included (default 10M)
  --timeout D        per-request socket timeout (default 30s)
  --label NAME       name of the run in the JSON summary
  --json-out FILE    append the JSON summary line to FILE
  --server-pid PID   report the CPU time and peak RSS (VmHWM) of this process
  --pg-pid PID       report the CPU time of this PostgreSQL postmaster and its backends
post-output options:
  --project P        project id (default bench/post)
  --commit SHA       commit sha (default: a new one per run)
  --inputs N         distinct test inputs cycled through (default 1000); request n
                     uses input n % N and extra_parameters {\"bench_iter\": n / N}
  --body FILE        body template (default: the built-in copy of
                     original-responses/01_post_output_request.json)";

enum Scenario {
    PostOutput,
    Get(String),
}

struct Opts {
    url: String,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    max_requests: u64,
    timeout: Duration,
    label: Option<String>,
    json_out: Option<String>,
    server_pid: Option<u32>,
    pg_pid: Option<u32>,
    project: String,
    commit: Option<String>,
    inputs: u64,
    body: Option<String>,
    write_before: Option<(String, String)>,
    accept_gzip: bool,
    scenario: Scenario,
}

fn parse_opts() -> Result<Opts, String> {
    let mut a = Args::from_env();
    let mut url = None;
    let mut scenario = None;
    let mut o = Opts {
        url: String::new(),
        concurrency: 8,
        duration: Duration::from_secs(20),
        warmup: Duration::from_secs(1),
        max_requests: 10_000_000,
        timeout: Duration::from_secs(30),
        label: None,
        json_out: None,
        server_pid: None,
        pg_pid: None,
        project: "bench/post".into(),
        commit: None,
        inputs: 1000,
        body: None,
        write_before: None,
        accept_gzip: false,
        scenario: Scenario::PostOutput,
    };
    while let Some(arg) = a.next() {
        match arg.as_str() {
            "--url" => url = Some(a.value(&arg)?),
            "--concurrency" | "-c" => o.concurrency = a.parsed(&arg, parse)?,
            "--duration" | "-d" => o.duration = a.parsed(&arg, parse_duration)?,
            "--warmup" => o.warmup = a.parsed(&arg, parse_duration)?,
            "--max-requests" | "-n" => o.max_requests = a.parsed(&arg, parse_count)?,
            "--timeout" => o.timeout = a.parsed(&arg, parse_duration)?,
            "--label" => o.label = Some(a.value(&arg)?),
            "--json-out" => o.json_out = Some(a.value(&arg)?),
            "--server-pid" => o.server_pid = Some(a.parsed(&arg, parse)?),
            "--pg-pid" => o.pg_pid = Some(a.parsed(&arg, parse)?),
            "--project" => o.project = a.value(&arg)?,
            "--commit" => o.commit = Some(a.value(&arg)?),
            "--inputs" => o.inputs = a.parsed(&arg, parse_count)?.max(1),
            "--body" => o.body = Some(a.value(&arg)?),
            "--accept-gzip" => o.accept_gzip = true,
            "--write-before" => {
                let v = a.value(&arg)?;
                let (p, c) = v
                    .rsplit_once('@')
                    .filter(|(p, c)| !p.is_empty() && !c.is_empty())
                    .ok_or("--write-before takes PROJECT@SHA")?;
                o.write_before = Some((p.to_string(), c.to_string()));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "post-output" => scenario = Some(Scenario::PostOutput),
            "get" => {
                let path = a.value("get")?;
                if !path.starts_with('/') {
                    return Err(format!("the GET path must start with '/': {path}"));
                }
                scenario = Some(Scenario::Get(path));
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    o.url = url.ok_or("--url is required")?;
    o.scenario = scenario.ok_or("a scenario is required (post-output | get PATH)")?;
    if o.concurrency == 0 || o.concurrency > 1024 {
        return Err("--concurrency must be within 1..=1024".into());
    }
    if o.duration.is_zero() {
        return Err("--duration must be positive".into());
    }
    Ok(o)
}

/// What each thread sends.
enum Work {
    Post {
        template: SlotTemplate,
        inputs: u64,
    },
    Get {
        path: String,
        /// `--write-before`: the template of the write and its storage folder.
        before: Option<(SlotTemplate, String)>,
    },
}

fn post_template(o: &Opts, sha: &str) -> Result<SlotTemplate, String> {
    post_template_for(o, &o.project, sha)
}

fn storage_of(project: &str, sha: &str) -> String {
    format!(
        "/mnt/qaboard/{}/{}/{}",
        project,
        &sha[..2.min(sha.len())],
        &sha[2.min(sha.len())..16.min(sha.len())]
    )
}

fn post_template_for(o: &Opts, project: &str, sha: &str) -> Result<SlotTemplate, String> {
    let text = match &o.body {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("cannot read {f}: {e}"))?,
        None => POST_OUTPUT_TEMPLATE.to_string(),
    };
    let mut v: Value =
        serde_json::from_str(&text).map_err(|e| format!("the body template is not JSON: {e}"))?;
    let storage = storage_of(project, sha);
    let m = v
        .as_object_mut()
        .ok_or("the body template must be a JSON object")?;
    m.insert("project".into(), json!(project));
    m.insert("project_root".into(), json!(project));
    m.insert("commit_sha".into(), json!(sha));
    m.insert("git_commit_sha".into(), json!(sha));
    m.insert("outputs_commit".into(), json!(storage));
    m.insert("artifacts_commit".into(), json!(storage));
    m.insert(
        "batch_dir".into(),
        json!(format!("{storage}/output/default")),
    );
    m.insert("rel_input_path".into(), json!("@@INPUT@@"));
    m.insert("input_path".into(), json!("@@INPUT@@"));
    m.insert("output_directory".into(), json!("@@OUTDIR@@"));
    m.insert("extra_parameters".into(), json!({"bench_iter": "@@ITER@@"}));
    let metrics = m.entry("metrics").or_insert_with(|| json!({}));
    if let Some(metrics) = metrics.as_object_mut() {
        metrics.insert("psnr".into(), json!("@@PSNR@@"));
    }
    Ok(SlotTemplate::new(&v, &["INPUT", "OUTDIR", "ITER", "PSNR"]))
}

#[derive(Default)]
struct ThreadResult {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    bytes_in: u64,
    bytes_out: u64,
    /// Measured answers that came gzip-encoded.
    gzip_answers: u64,
    last_done: Option<Instant>,
    first_error: Option<String>,
    connects: u64,
}

struct Shared {
    target: Target,
    timeout: Duration,
    issued: AtomicU64,
    max_requests: u64,
    warm_end: Instant,
    end: Instant,
    work: Work,
    storage: String,
    accept_gzip: bool,
}

fn worker(s: Arc<Shared>) -> ThreadResult {
    let mut client = Client::new(s.target.clone(), s.timeout).accept_gzip(s.accept_gzip);
    let mut res = ThreadResult {
        latencies_us: Vec::with_capacity(64 * 1024),
        ..Default::default()
    };
    let mut body = Vec::with_capacity(8 * 1024);
    loop {
        if Instant::now() >= s.end {
            break;
        }
        let n = s.issued.fetch_add(1, Ordering::Relaxed);
        if n >= s.max_requests {
            break;
        }
        let (method, path, payload): (&str, &str, Option<&[u8]>) = match &s.work {
            Work::Post { template, inputs } => {
                let i = n % inputs;
                let input = format!("\"images/bench/{i:06}.jpg\"");
                let outdir = format!(
                    "\"{}/output/default/linux/base/images/bench/{i:06}\"",
                    s.storage
                );
                let iter = (n / inputs).to_string();
                let psnr = format!("{:.3}", 25.0 + (n % 1500) as f64 / 100.0);
                template.render(&[&input, &outdir, &iter, &psnr], &mut body);
                ("POST", "/api/v1/output/", Some(&body[..]))
            }
            Work::Get { path, before } => {
                if let Some((template, storage)) = before {
                    // Untimed: a new output each time (input n, unique extra_parameters).
                    let input = format!("\"images/bench/w{n:08}.jpg\"");
                    let outdir = format!("\"{storage}/output/default/linux/base/w{n:08}\"");
                    let psnr = format!("{:.3}", 25.0 + (n % 1500) as f64 / 100.0);
                    template.render(&[&input, &outdir, &n.to_string(), &psnr], &mut body);
                    match client.request("POST", "/api/v1/output/", Some(&body[..])) {
                        Ok(resp) if !resp.ok() && res.first_error.is_none() => {
                            res.first_error = Some(format!("write before: HTTP {}", resp.status));
                        }
                        Err(e) if res.first_error.is_none() => {
                            res.first_error = Some(format!("write before: I/O error: {e}"));
                        }
                        _ => {}
                    }
                }
                ("GET", path.as_str(), None)
            }
        };
        let t0 = Instant::now();
        let r = client.request(method, path, payload);
        let t1 = Instant::now();
        let measured = t0 >= s.warm_end;
        match r {
            Ok(resp) => {
                if measured {
                    res.latencies_us.push((t1 - t0).as_micros() as u64);
                    *res.statuses.entry(resp.status).or_default() += 1;
                    res.bytes_in += resp.body.len() as u64;
                    res.gzip_answers += u64::from(resp.gzip);
                    res.bytes_out += payload.map_or(0, |p| p.len() as u64);
                    res.last_done = Some(t1);
                }
                if !resp.ok() && res.first_error.is_none() {
                    let text = String::from_utf8_lossy(&resp.body);
                    res.first_error = Some(format!(
                        "HTTP {}: {}",
                        resp.status,
                        text.chars().take(300).collect::<String>()
                    ));
                }
            }
            Err(e) => {
                if measured {
                    res.io_errors += 1;
                    res.last_done = Some(t1);
                }
                if res.first_error.is_none() {
                    res.first_error = Some(format!("I/O error: {e}"));
                }
                // Do not spin on a refused connection.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    res.connects = client.connects;
    res
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("qaboard-load: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(o) {
        eprintln!("qaboard-load: {e}");
        std::process::exit(1);
    }
}

fn run(o: Opts) -> Result<(), String> {
    let target = Target::parse(&o.url)?;
    let sha = o.commit.clone().unwrap_or_else(unique_sha);
    let storage = format!(
        "/mnt/qaboard/{}/{}/{}",
        o.project,
        &sha[..2.min(sha.len())],
        &sha[2.min(sha.len())..16.min(sha.len())]
    );
    let (work, scenario_name) = match &o.scenario {
        Scenario::PostOutput => (
            Work::Post {
                template: post_template(&o, &sha)?,
                inputs: o.inputs,
            },
            "post-output".to_string(),
        ),
        Scenario::Get(p) => {
            let before = match &o.write_before {
                Some((project, sha)) => Some((
                    post_template_for(&o, project, sha)?,
                    storage_of(project, sha),
                )),
                None => None,
            };
            let name = match &o.write_before {
                Some((project, sha)) => format!("get {p} (write before: {project}@{sha})"),
                None => format!("get {p}"),
            };
            (
                Work::Get {
                    path: p.clone(),
                    before,
                },
                name,
            )
        }
    };
    let start = Instant::now();
    let warm_end = start + o.warmup;
    let end = warm_end + o.duration;
    let shared = Arc::new(Shared {
        target,
        timeout: o.timeout,
        issued: AtomicU64::new(0),
        max_requests: o.max_requests,
        warm_end,
        end,
        work,
        storage,
        accept_gzip: o.accept_gzip,
    });
    let handles: Vec<_> = (0..o.concurrency)
        .map(|i| {
            let s = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("load-{i}"))
                .spawn(move || worker(s))
                .map_err(|e| format!("cannot start a thread: {e}"))
        })
        .collect::<Result<_, _>>()?;

    std::thread::sleep(warm_end.saturating_duration_since(Instant::now()));
    let cpu0 = (
        o.server_pid.and_then(procfs::cpu_seconds),
        o.pg_pid.and_then(procfs::tree_cpu_seconds),
        procfs::self_cpu_seconds(),
        procfs::machine_busy_seconds(),
    );
    let results: Vec<ThreadResult> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let cpu1 = (
        o.server_pid.and_then(procfs::cpu_seconds),
        o.pg_pid.and_then(procfs::tree_cpu_seconds),
        procfs::self_cpu_seconds(),
        procfs::machine_busy_seconds(),
    );

    let mut latencies: Vec<u64> = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let (mut io_errors, mut bytes_in, mut bytes_out, mut connects) = (0, 0, 0, 0);
    let mut gzip_answers = 0;
    let mut last_done = warm_end;
    let mut first_error = None;
    for r in results {
        latencies.extend_from_slice(&r.latencies_us);
        for (k, v) in r.statuses {
            *statuses.entry(k).or_default() += v;
        }
        io_errors += r.io_errors;
        bytes_in += r.bytes_in;
        bytes_out += r.bytes_out;
        gzip_answers += r.gzip_answers;
        connects += r.connects;
        if let Some(t) = r.last_done {
            last_done = last_done.max(t);
        }
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    let elapsed = last_done
        .saturating_duration_since(warm_end)
        .as_secs_f64()
        .max(1e-9);
    let s = summarize(&mut latencies);
    let non_2xx: u64 = statuses
        .iter()
        .filter(|(k, _)| !(200..300).contains(*k))
        .map(|(_, v)| v)
        .sum();
    let errors = non_2xx + io_errors;
    let rps = s.count as f64 / elapsed;
    let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| r3(b - a));
    let server_cpu = delta(cpu0.0, cpu1.0);
    let pg_cpu = delta(cpu0.1, cpu1.1);
    let load_cpu = delta(cpu0.2, cpu1.2);
    let machine_cpu = delta(cpu0.3, cpu1.3);
    // CPU used by everything else on the machine during the run (noise).
    let other_cpu = machine_cpu.map(|m| {
        r3(
            (m - server_cpu.unwrap_or(0.0) - pg_cpu.unwrap_or(0.0) - load_cpu.unwrap_or(0.0))
                .max(0.0),
        )
    });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let hwm = o.server_pid.and_then(|p| procfs::status_mib(p, "VmHWM"));
    let rss = o.server_pid.and_then(|p| procfs::status_mib(p, "VmRSS"));
    let per_req_ms = |cpu: Option<f64>| {
        cpu.filter(|_| s.count > 0)
            .map(|c| r3(c * 1000.0 / s.count as f64))
    };

    println!("scenario      {scenario_name}");
    println!(
        "concurrency   {}   measured {:.2}s (warm-up {:.1}s)",
        o.concurrency,
        elapsed,
        o.warmup.as_secs_f64()
    );
    println!(
        "requests      {}   {:.1} req/s   errors {} (non-2xx {non_2xx}, I/O {io_errors})",
        s.count, rps, errors
    );
    println!(
        "latency ms    p50 {:.2}   p90 {:.2}   p99 {:.2}   max {:.2}   mean {:.2}",
        s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.mean_ms
    );
    if s.count > 0 {
        println!(
            "bytes/request in {}   out {}",
            bytes_in / s.count as u64,
            bytes_out / s.count as u64
        );
    }
    if o.accept_gzip {
        println!(
            "gzip answers  {gzip_answers} of {} (Accept-Encoding: gzip sent)",
            s.count
        );
    }
    let fmt_cpu = |name: &str, c: Option<f64>| match c {
        Some(c) => format!(
            "{name} {:.2} cores ({:.3} ms/req)",
            c / elapsed,
            per_req_ms(Some(c)).unwrap_or(0.0)
        ),
        None => String::new(),
    };
    let cpu_line = [
        fmt_cpu("server", server_cpu),
        fmt_cpu("postgres", pg_cpu),
        fmt_cpu("load", load_cpu),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("   ");
    if !cpu_line.is_empty() {
        println!("cpu           {cpu_line}");
    }
    if let (Some(m), Some(other)) = (machine_cpu, other_cpu) {
        println!(
            "machine       {cores} cores, busy {:.2} cores, of which other processes {:.2} cores, loadavg {:.2}",
            m / elapsed,
            other / elapsed,
            procfs::loadavg1().unwrap_or(0.0)
        );
    }
    if let Some(h) = hwm {
        println!(
            "server memory VmHWM {h:.1} MiB   VmRSS {:.1} MiB",
            rss.unwrap_or(0.0)
        );
    }
    if let Some(e) = &first_error {
        println!("first error   {e}");
    }

    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let summary = json!({
        "label": o.label,
        "scenario": scenario_name,
        "unix_time": unix,
        "url": o.url,
        "concurrency": o.concurrency,
        "duration_s": r3(elapsed),
        "warmup_s": o.warmup.as_secs_f64(),
        "requests": s.count,
        "rps": r3(rps),
        "errors": errors,
        "non_2xx": non_2xx,
        "io_errors": io_errors,
        "statuses": statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "latency_ms": {"p50": r3(s.p50_ms), "p90": r3(s.p90_ms), "p99": r3(s.p99_ms), "max": r3(s.max_ms),
                       "mean": r3(s.mean_ms), "min": r3(s.min_ms)},
        "bytes_in_per_request": if s.count > 0 { bytes_in / s.count as u64 } else { 0 },
        "bytes_out_per_request": if s.count > 0 { bytes_out / s.count as u64 } else { 0 },
        "connections": connects,
        "accept_gzip": o.accept_gzip,
        "gzip_answers": gzip_answers,
        "cpu_s": {"server": server_cpu, "postgres": pg_cpu, "load": load_cpu, "machine": machine_cpu, "other": other_cpu},
        "machine_cores": cores,
        "other_cpu_cores": other_cpu.map(|c| r3(c / elapsed)),
        "loadavg1": procfs::loadavg1(),
        "cpu_ms_per_request": {"server": per_req_ms(server_cpu), "postgres": per_req_ms(pg_cpu), "load": per_req_ms(load_cpu)},
        "server_vm_hwm_mib": hwm.map(r3),
        "server_alive": o.server_pid.map(procfs::alive),
        "server_vm_rss_mib": rss.map(r3),
        "first_error": first_error,
        "commit": matches!(o.scenario, Scenario::PostOutput).then_some(sha),
    });
    let line = summary.to_string();
    println!("{line}");
    if let Some(f) = &o.json_out {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(f)
            .map_err(|e| format!("cannot open {f}: {e}"))?;
        writeln!(file, "{line}").map_err(|e| format!("cannot write {f}: {e}"))?;
    }
    Ok(())
}
