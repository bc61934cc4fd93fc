//! Real processes started by the local runner with a stand-in `qa` script.

use crate::common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use qaboard_jobs::argv::{self, RedoRun};
use qaboard_jobs::{JobError, JobRecord, JobsConfig, LocalRunner, Runner, StopOutcome};
use serde_json::{json, Value};

#[test]
fn start_records_argv_env_and_cwd() {
    let fx = Fixture::new();
    let runner = fx.runner();
    let spec = fx.spec(
        "artifacts/g/r/commits/abc",
        "ok",
        vec!["--label=x".into(), "batch".into()],
    );
    let record = runner.start(&spec).unwrap();
    assert!(eventually(
        || fx.record.join("env").exists() && runner.running() == 0
    ));
    assert_eq!(fx.recorded_argv(), ["--label=x", "batch"]);
    let cwd = fx.root().join("artifacts/g/r/commits/abc");
    assert_eq!(fx.recorded_cwd(), cwd.canonicalize().unwrap());
    for (k, v) in [
        ("CI", "true"),
        ("GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567"),
        ("QABOARD_TUNING", "true"),
        ("QA_BATCH_COMMAND_ID", spec.command_id.as_str()),
        ("LC_ALL", "C.UTF-8"),
        ("LANG", "C.UTF-8"),
        ("MPLBACKEND", "agg"),
    ] {
        assert_eq!(fx.recorded_env(k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(
        fx.recorded_env("QA_OUTPUTS_COMMIT").map(PathBuf::from),
        Some(fx.root().join("outputs/commit"))
    );
    // The record is what the database keeps: it round-trips through JSON.
    let stored: JobRecord = serde_json::from_value(serde_json::to_value(&record).unwrap()).unwrap();
    assert_eq!(stored, record);
    assert_eq!(record.runner, "local");
    assert_eq!(record.command_id, spec.command_id);
    assert_eq!(&record.argv[..2], ["bash", "-c"]);
    assert_eq!(record.argv.last().unwrap(), "batch");
    let log = fs::read_to_string(fx.root().join("logs/log.txt")).unwrap();
    assert!(log.contains("fake qa: ok"), "{log}");
    // Finished: stopping it is success and kills nothing.
    assert_eq!(runner.stop(&record).unwrap(), StopOutcome::AlreadyFinished);
    assert!(eventually(|| my_zombies().is_empty()));
}

#[test]
fn qa_command_may_be_several_words() {
    let fx = Fixture::new();
    let runner = LocalRunner::new(JobsConfig {
        qa_command: vec![
            "bash".into(),
            fx.qa.to_string_lossy().into_owned(),
            "--from-prefix".into(),
        ],
        ..fx.config()
    });
    runner
        .start(&fx.spec("a", "ok", vec!["save-artifacts".into()]))
        .unwrap();
    assert!(eventually(|| runner.running() == 0));
    assert_eq!(fx.recorded_argv(), ["--from-prefix", "save-artifacts"]);
}

#[test]
fn hostile_values_never_execute() {
    let fx = Fixture::new();
    let runner = fx.runner();
    let configs = [
        json!("$(touch pwned1)"),
        json!("a;touch pwned2;"),
        json!({"k": "`touch pwned3`"}),
    ];
    let params =
        json!({"p": "'; touch pwned4; '", "q": "\"$(touch pwned5)\"", "n": "x\ntouch pwned6"});
    let run = RedoRun {
        label: "l\"; touch pwned7; echo \"\n$(touch pwned8)",
        configurations: &configs,
        database: "/db'$(touch pwned9)'",
        output_type: "`touch pwned10`",
        extra_parameters: &params,
        platform: Some("linux && touch pwned11"),
        job_options: &Value::Null,
        test_input_path: "-$(touch pwned12) --x",
    };
    let qa_argv = argv::redo_output(&run);
    runner
        .start(&fx.spec("art", "ok", qa_argv.clone()))
        .unwrap();
    assert!(eventually(|| runner.running() == 0));
    assert_eq!(fx.recorded_argv(), qa_argv);
    assert!(fx.pwned_files().is_empty(), "{:?}", fx.pwned_files());
}

#[test]
fn envrc_files_sourced_outermost_first_and_names_are_inert() {
    let fx = Fixture::new();
    let outer = fx.root().join("store");
    let hostile = outer.join("$(touch pwned_a);touch pwned_b;`touch pwned_c`\n'\"x");
    let inner = hostile.join("commits");
    fs::create_dir_all(&inner).unwrap();
    fs::write(
        outer.join(".envrc"),
        "export ENVRC_ORDER=\"${ENVRC_ORDER}outer,\"\n",
    )
    .unwrap();
    fs::write(
        hostile.join(".envrc"),
        "export ENVRC_ORDER=\"${ENVRC_ORDER}hostile,\"\n",
    )
    .unwrap();
    fs::write(
        inner.join(".envrc"),
        "export ENVRC_ORDER=\"${ENVRC_ORDER}inner,\"\n",
    )
    .unwrap();
    let cwd_rel = inner
        .join("abc")
        .strip_prefix(fx.root())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let runner = fx.runner();
    let record = runner
        .start(&fx.spec(&cwd_rel, "ok", vec!["batch".into()]))
        .unwrap();
    assert!(eventually(|| runner.running() == 0));
    assert_eq!(
        fx.recorded_env("ENVRC_ORDER").as_deref(),
        Some("outer,hostile,inner,")
    );
    assert!(record.argv.iter().any(|a| a.ends_with("commits/.envrc")));
    assert!(fx.pwned_files().is_empty(), "{:?}", fx.pwned_files());

    // Turned off: nothing sourced.
    let mut spec = fx.spec(&cwd_rel, "ok", vec!["batch".into()]);
    spec.source_envrc = false;
    runner.start(&spec).unwrap();
    assert!(eventually(|| runner.running() == 0));
    assert_eq!(fx.recorded_env("ENVRC_ORDER"), None);
}

#[test]
fn early_failure_carries_the_log_tail() {
    let fx = Fixture::new();
    let runner = fx.runner();
    let err = runner.start(&fx.spec("a", "fail", vec![])).unwrap_err();
    match &err {
        JobError::EarlyExit { status, log_tail } => {
            assert_eq!(status, "3");
            assert!(log_tail.contains("fake qa: something broke"), "{log_tail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("something broke"));
    assert!(eventually(
        || runner.running() == 0 && my_zombies().is_empty()
    ));
    // A missing program fails early too (bash exits 127).
    let missing = LocalRunner::new(JobsConfig {
        qa_command: vec![fx.root().join("no-such-qa").to_string_lossy().into_owned()],
        ..fx.config()
    });
    let err = missing.start(&fx.spec("a", "ok", vec![])).unwrap_err();
    assert!(
        matches!(err, JobError::EarlyExit { ref status, .. } if status == "127"),
        "{err:?}"
    );
}

#[test]
fn stop_kills_the_process_group_from_the_stored_record() {
    let fx = Fixture::new();
    let starter = LocalRunner::new(JobsConfig {
        job_start_wait: Duration::from_millis(500),
        ..fx.config()
    });
    let record = starter.start(&fx.spec("a", "sleep", vec![])).unwrap();
    assert!(eventually(|| fx.record.join("child").exists()));
    let child = child_pid(&fx);
    assert_eq!(
        proc_stat(child).unwrap().2,
        record.pgid,
        "the child is in the job's group"
    );
    assert!(!live_group(record.pgid).is_empty());
    assert_eq!(starter.running(), 1);

    // Another "server process": a separate runner, the record read back from JSON.
    let stored = serde_json::to_value(&record).unwrap();
    let other = fx.runner();
    assert_eq!(
        other.stop_command(&record.command_id, &stored).unwrap(),
        StopOutcome::Stopped
    );
    assert!(eventually(|| is_dead(record.pgid) && is_dead(child)));
    assert!(eventually(|| live_group(record.pgid).is_empty()));
    assert!(eventually(
        || starter.running() == 0 && my_zombies().is_empty()
    ));
    // Stopping again is success.
    assert_eq!(other.stop(&record).unwrap(), StopOutcome::AlreadyFinished);

    // A record from another host is refused with a clear error.
    let elsewhere = JobRecord {
        host: "other-host".into(),
        ..record.clone()
    };
    let err = other.stop(&elsewhere).unwrap_err();
    assert!(matches!(err, JobError::OtherHost { .. }));
    assert!(err.to_string().contains("other-host"));
}

/// The pid the fixture's `sleep` job wrote to `<record>/child`.
fn child_pid(fx: &Fixture) -> i32 {
    fs::read_to_string(fx.record.join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn stat_ticks(pid: i32) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = text[text.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    rest[19].parse().unwrap()
}

fn forged(fx: &Fixture, pgid: i32, start_ticks: u64) -> JobRecord {
    JobRecord {
        command_id: qaboard_jobs::new_command_id(),
        runner: "local".into(),
        host: fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .into(),
        pid_namespace: fs::read_link("/proc/self/ns/pid")
            .unwrap()
            .to_string_lossy()
            .into(),
        pgid,
        start_ticks,
        started_at: chrono::Utc::now(),
        argv: vec![],
        cwd: fx.root().into(),
        log_file: fx.root().join("log"),
        user: None,
    }
}

#[test]
fn stop_leaves_unrelated_process_groups_alone() {
    let fx = Fixture::new();
    // An unrelated process group with no QA_BATCH_COMMAND_ID.
    let mut unrelated = Command::new("sleep")
        .arg("300")
        .env_remove("QA_BATCH_COMMAND_ID")
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = unrelated.id() as i32;
    let runner = fx.runner();
    // A reused number (other start time), then a forged record with the right
    // start time but not the job's command id: neither is signalled.
    for ticks in [1, stat_ticks(pgid)] {
        assert_eq!(
            runner.stop(&forged(&fx, pgid, ticks)).unwrap(),
            StopOutcome::AlreadyFinished
        );
    }
    assert_eq!(unrelated.try_wait().unwrap(), None, "still running");
    unrelated.kill().unwrap();
    unrelated.wait().unwrap();
    // The server's own process group is refused outright.
    let own: i32 = proc_stat(std::process::id() as i32).unwrap().2;
    let err = runner.stop(&forged(&fx, own, 0)).unwrap_err();
    assert!(matches!(err, JobError::InvalidValue { .. }), "{err:?}");
}

#[test]
fn max_jobs_limits_concurrent_jobs() {
    let fx = Fixture::new();
    let runner = LocalRunner::new(JobsConfig {
        max_jobs: 1,
        job_start_wait: Duration::from_millis(300),
        ..fx.config()
    });
    let first = runner.start(&fx.spec("a", "sleep", vec![])).unwrap();
    let err = runner
        .clone()
        .start(&fx.spec("a", "ok", vec![]))
        .unwrap_err();
    assert!(
        matches!(err, JobError::TooMany { running: 1, max: 1 }),
        "{err:?}"
    );
    assert!(matches!(
        runner.run(&fx.spec("a", "list", vec![]), Duration::from_secs(5)),
        Err(JobError::TooMany { .. })
    ));
    assert_eq!(runner.stop(&first).unwrap(), StopOutcome::Stopped);
    assert!(eventually(|| runner.running() == 0));
    let again = runner.start(&fx.spec("a", "ok", vec![])).unwrap();
    assert!(eventually(|| runner.running() == 0 && is_dead(again.pgid)));
}

#[test]
fn max_jobs_holds_across_runners_sharing_a_slots_folder() {
    // Two runners stand for two server processes: separate counters, one folder.
    let fx = Fixture::new();
    let config = JobsConfig {
        max_jobs: 1,
        job_start_wait: Duration::from_millis(300),
        slots_dir: Some(fx.root().join("job-slots")),
        ..fx.config()
    };
    let (a, b) = (LocalRunner::new(config.clone()), LocalRunner::new(config));
    let first = a.start(&fx.spec("a", "sleep", vec![])).unwrap();
    let err = b.start(&fx.spec("a", "ok", vec![])).unwrap_err();
    assert!(
        matches!(err, JobError::TooMany { running: 1, max: 1 }),
        "{err:?}"
    );
    assert_eq!(b.running(), 0, "a refused start leaves nothing counted");
    assert_eq!(a.stop(&first).unwrap(), StopOutcome::Stopped);
    // Freed once the reaper of `a` saw its job end.
    assert!(eventually(|| a.running() == 0));
    let again = b.start(&fx.spec("a", "ok", vec![])).unwrap();
    assert!(eventually(|| b.running() == 0 && is_dead(again.pgid)));
}

#[test]
fn time_limit_kills_the_job() {
    let fx = Fixture::new();
    let runner = LocalRunner::new(JobsConfig {
        job_time_limit: Some(Duration::from_secs(1)),
        stop_grace: Duration::from_secs(1),
        job_start_wait: Duration::from_millis(200),
        ..fx.config()
    });
    let record = runner.start(&fx.spec("a", "sleep", vec![])).unwrap();
    assert!(eventually(|| fx.record.join("child").exists()));
    let child = child_pid(&fx);
    assert!(eventually(|| runner.running() == 0));
    assert!(eventually(|| is_dead(record.pgid) && is_dead(child)));
    let log = fs::read_to_string(&record.log_file).unwrap();
    assert!(log.contains("time limit"), "{log}");
    assert!(eventually(|| my_zombies().is_empty()));
}

#[test]
fn run_to_completion_for_group_listing() {
    let fx = Fixture::new();
    let runner = fx.runner();
    let qa_argv = argv::list_group(&[fx.root().join("batches.yaml")], "smoke; touch pwned");
    let done = runner
        .run(
            &fx.spec("a", "list", qa_argv.clone()),
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(fx.recorded_argv(), qa_argv);
    let tests = argv::parse_list_output(&done.stdout).unwrap();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].input_path, "a b.mp4");
    assert_eq!(tests[0].configurations, json!(["base", {"x": 1}]));

    let err = runner
        .run(&fx.spec("a", "fail", vec![]), Duration::from_secs(60))
        .unwrap_err();
    assert!(
        matches!(&err, JobError::Failed { status, log_tail, .. } if status == "3" && log_tail.contains("broke"))
    );

    let spec = fx.spec("a", "sleep", vec![]);
    let err = runner.run(&spec, Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, JobError::TimedOut { secs: 1, .. }), "{err:?}");
    let child = child_pid(&fx);
    assert!(eventually(|| is_dead(child)));
    assert_eq!(runner.running(), 0);
    assert!(fx.pwned_files().is_empty());
    assert!(eventually(|| my_zombies().is_empty()));
}

#[test]
fn nul_bytes_are_refused_before_starting() {
    let fx = Fixture::new();
    let err = fx
        .runner()
        .start(&fx.spec("a", "ok", vec!["--label=a\0b".into()]))
        .unwrap_err();
    assert!(matches!(err, JobError::InvalidValue { .. }));
    assert!(!fx.record.join("argv").exists());
}

#[test]
fn umask_zero_on_request() {
    let fx = Fixture::new();
    let runner = fx.runner();
    let mut spec = fx.spec("a", "ok", vec![]);
    spec.umask_zero = true;
    let record = runner.start(&spec).unwrap();
    assert!(eventually(|| runner.running() == 0));
    assert_eq!(
        fs::read_to_string(fx.record.join("umask")).unwrap().trim(),
        "0000"
    );
    assert!(record.argv[2].starts_with("umask 0;"));
}

#[test]
fn batch_redo_starts_many_under_one_command_id() {
    let fx = Fixture::new();
    let runner = LocalRunner::new(JobsConfig {
        max_jobs: 3,
        ..fx.config()
    });
    let command_id = qaboard_jobs::new_command_id();
    let specs: Vec<_> = ["sleep", "fail", "sleep"]
        .iter()
        .map(|mode| {
            let mut s = fx.spec("a", mode, vec![]);
            s.command_id = command_id.clone();
            s.env.retain(|(k, _)| k != "QA_BATCH_COMMAND_ID");
            s.env
                .push(("QA_BATCH_COMMAND_ID".into(), command_id.clone()));
            s
        })
        .collect();
    let too_many = runner.start_many(&[specs.clone(), specs.clone()].concat());
    assert!(matches!(
        too_many,
        Err(JobError::TooMany { running: 0, max: 3 })
    ));
    assert_eq!(runner.running(), 0, "nothing started");

    let results = runner.start_many(&specs).unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(matches!(results[1], Err(JobError::EarlyExit { .. })));
    let records: Vec<JobRecord> = results.into_iter().filter_map(Result::ok).collect();
    let stored = serde_json::to_value(&records).unwrap();
    assert_eq!(
        runner.stop_command(&command_id, &stored).unwrap(),
        StopOutcome::Stopped
    );
    assert!(eventually(|| records.iter().all(|r| is_dead(r.pgid))));
    assert!(eventually(
        || runner.running() == 0 && my_zombies().is_empty()
    ));
}
