//! LSF stop through a bridge: a stand-in bridge script records its argv and answers like bkill.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use qaboard_jobs::{stop_commands, JobError, LocalRunner, LsfRunner, StopOutcome};
use serde_json::{json, Map, Value};

const ID: &str = "0f3c2a9e-1111-4222-8333-444455556666";

fn bridge(dir: &std::path::Path, answer: &str) -> String {
    let script = dir.join("bridge");
    fs::write(
        &script,
        format!(
            "#!/bin/bash\nprintf '%s\\0' \"$@\" > \"{}/argv\"\necho '{answer}'\n",
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    format!("{} su {{user}} {{bsub_command}}", script.display())
}

fn recorded(dir: &std::path::Path) -> Vec<String> {
    let raw = fs::read(dir.join("argv")).unwrap();
    let mut v: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into())
        .collect();
    v.pop();
    v
}

#[test]
fn bkill_through_the_bridge() {
    let tmp = tempfile::tempdir().unwrap();
    let lsf = LsfRunner::new(
        Some(bridge(tmp.path(), "Job <42> is being terminated")),
        Duration::from_secs(30),
    );
    let command = json!({"runner": "lsf", "user": "arthurf", "argv": ["qa", "batch"]});
    assert_eq!(lsf.stop(ID, &command).unwrap(), StopOutcome::Stopped);
    assert_eq!(
        recorded(tmp.path()),
        ["su", "arthurf", "bkill -J '0f3c2a9e*'"]
    );

    let lsf = LsfRunner::new(
        Some(bridge(tmp.path(), "Job <0f3c2a9e*> is not found")),
        Duration::from_secs(30),
    );
    assert_eq!(lsf.stop(ID, &command).unwrap(), StopOutcome::Stopped);

    let lsf = LsfRunner::new(
        Some(bridge(tmp.path(), "permission denied")),
        Duration::from_secs(30),
    );
    let err = lsf.stop(ID, &command).unwrap_err();
    assert!(matches!(err, JobError::StopFailed { .. }));
    assert!(err.to_string().contains("permission denied"));

    // A hostile user name never reaches the bridge.
    fs::remove_file(tmp.path().join("argv")).unwrap();
    let bad = json!({"runner": "lsf", "user": "x;touch pwned"});
    assert!(matches!(
        lsf.stop(ID, &bad),
        Err(JobError::InvalidValue { .. })
    ));
    assert!(!tmp.path().join("argv").exists());
}

#[test]
fn stop_commands_collects_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let lsf = LsfRunner::new(Some(bridge(tmp.path(), "nope")), Duration::from_secs(30));
    let local = LocalRunner::new(Default::default());
    let mut commands = Map::new();
    commands.insert(ID.into(), json!({"runner": "lsf", "user": "u"}));
    commands.insert("1111".into(), json!({"runner": "local", "user": "u"}));
    commands.insert("2222".into(), json!({"runner": "celery"}));
    let mut server_jobs = Map::new();
    server_jobs.insert("3333".into(), json!({"not": "a record"}));
    let errors = stop_commands(&commands, &server_jobs, &local, &lsf);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(stop_commands(&Map::new(), &Map::<String, Value>::new(), &local, &lsf).is_empty());
}
