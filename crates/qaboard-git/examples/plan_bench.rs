//! Timing of the push path on a generated repository: 20 sub-projects (plus
//! the root) among 5,000 files, mirrored over `file://`.
//!
//! `nice -n 15 cargo run --release -p qaboard-git --example plan_bench [iterations]`
//!
//! Prints the median and the maximum of each step, in milliseconds.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use qaboard_git::{plan_subprojects, Mirrors};

const FILES: usize = 5_000;
const SUBPROJECTS: usize = 20;

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::TempDir::new().expect("temp dir");
    let forge = tmp.path().join("forge");
    let work = forge.join("group/repo");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "-q", "--bare"], None);

    // One commit through fast-import: configs, metrics and filler files.
    let mut stream = Vec::new();
    writeln!(stream, "commit refs/heads/master").unwrap();
    writeln!(stream, "committer Bench <b@example.com> 1600000000 +0200").unwrap();
    writeln!(stream, "data 5\nbench").unwrap();
    let mut add = |path: &str, content: &str| {
        writeln!(stream, "M 100644 inline {path}").unwrap();
        writeln!(stream, "data {}\n{content}", content.len()).unwrap();
    };
    add(
        "qaboard.yaml",
        "project:\n  name: group/repo\n  reference_branch: master\noutputs:\n  metrics: metrics.yaml\ninputs:\n  types: {default: image}\n",
    );
    add(
        "metrics.yaml",
        "available_metrics:\n  loss: {label: Loss, scale: 1}\n",
    );
    let mut files = 2;
    for i in 0..SUBPROJECTS {
        let dir = if i % 2 == 0 {
            format!("algo{i}")
        } else {
            format!("algo{}/variant{i}", i - 1)
        };
        add(
            &format!("{dir}/qaboard.yaml"),
            &format!("inputs:\n  database: {{linux: /data/{i}}}\nlevel: {i}\n"),
        );
        files += 1;
    }
    let mut j = 0;
    while files < FILES {
        add(
            &format!("algo{}/src/module{}/file{j}.c", (j % 10) * 2, j % 50),
            &format!("int f{j}(void) {{ return {j}; }}\n"),
        );
        files += 1;
        j += 1;
    }
    stream.extend_from_slice(b"done\n");
    git(&work, &["fast-import", "--quiet", "--done"], Some(&stream));
    let sha = git(&work, &["rev-parse", "master"], None);
    git(&work, &["tag", "v1", &sha], None);

    let mirrors = Mirrors::new(
        tmp.path().join("mirrors"),
        format!("file://{}", forge.display()),
    );
    let start = Instant::now();
    let repo = mirrors.sync("group/repo", None).expect("clone").repo;
    println!("clone ({FILES} files): {:.1} ms", ms(start));

    let plans = plan_subprojects(&repo, &sha, "group/repo").expect("plan");
    assert_eq!(plans.len(), SUBPROJECTS + 1);
    assert!(plans.iter().all(|p| p.errors.is_empty()));

    report("plan_subprojects", iterations, || {
        plan_subprojects(&repo, &sha, "group/repo").expect("plan");
    });
    report(
        "sync of an up-to-date mirror (git fetch)",
        iterations,
        || {
            mirrors.sync("group/repo", None).expect("fetch");
        },
    );
    report(
        "sync_push of a ref the mirror already has",
        iterations,
        || {
            let synced = mirrors
                .sync_push("group/repo", "refs/heads/master", &sha, None)
                .expect("sync_push");
            assert!(!synced.fetched);
        },
    );
    report("ensure_commit of a known commit", iterations, || {
        mirrors
            .ensure_commit("group/repo", &sha, None)
            .expect("ensure");
    });
    report("commit metadata", iterations, || {
        repo.commit(&sha).expect("commit");
    });
    report("tags_at + guess_branch", iterations, || {
        repo.tags_at(&sha).expect("tags");
        repo.guess_branch(&sha).expect("branch");
    });
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

fn report(name: &str, iterations: usize, mut f: impl FnMut()) {
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            ms(start)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{name}: median {:.2} ms, max {:.2} ms ({iterations} runs)",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

fn git(dir: &std::path::Path, args: &[&str], input: Option<&[u8]>) -> String {
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn git");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write");
    }
    let output = child.wait_with_output().expect("git");
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
