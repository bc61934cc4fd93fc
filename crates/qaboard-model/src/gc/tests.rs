//! Unit tests of the garbage-collection rules.

use super::*;
use chrono::TimeZone;
use serde_json::json;

fn days(d: f64) -> TimeDelta {
    TimeDelta::microseconds((d * 86400e6) as i64)
}

#[test]
fn durations() {
    for (text, d) in [
        ("1month", days(31.0)),
        ("1m", days(31.0)),
        ("2months", days(62.0)),
        ("1y", days(365.0)),
        ("2years", days(730.0)),
        ("1year 2months", days(365.0 + 62.0)),
        ("3w", days(21.0)),
        ("2weeks", days(14.0)),
        ("1.5d", days(1.5)),
        ("10days", days(10.0)),
        ("8h", TimeDelta::hours(8)),
        ("2hours", TimeDelta::hours(2)),
        ("5min", TimeDelta::minutes(5)),
        ("3minutes", TimeDelta::minutes(3)),
        ("20s", TimeDelta::seconds(20)),
        ("1second", TimeDelta::seconds(1)),
        (
            "2d8h5min20s",
            days(2.0) + TimeDelta::seconds(8 * 3600 + 5 * 60 + 20),
        ),
        ("2months 20d", days(82.0)),
        ("1y  1d", days(366.0)),
        (".5d", days(0.5)),
        ("1.d", days(1.0)),
        ("", TimeDelta::zero()),
        ("1month\n", days(31.0)),
    ] {
        assert_eq!(parse_duration(text), Ok(d), "{text:?}");
    }
}

/// Answers of the original `parse_time`, obtained by running it.
#[test]
fn durations_agree_with_the_original() {
    let cases: &[(&str, Option<i64>)] = &[
        ("1month", Some(2678400000000)),
        ("1m", Some(2678400000000)),
        ("2months", Some(5356800000000)),
        ("1y", Some(31536000000000)),
        ("2years", Some(63072000000000)),
        ("1year 2months", Some(36892800000000)),
        ("3w", Some(1814400000000)),
        ("2weeks", Some(1209600000000)),
        ("1.5d", Some(129600000000)),
        ("10days", Some(864000000000)),
        ("8h", Some(28800000000)),
        ("2hours", Some(7200000000)),
        ("5min", Some(300000000)),
        ("3minutes", Some(180000000)),
        ("20s", Some(20000000)),
        ("1second", Some(1000000)),
        ("2d8h5min20s", Some(201920000000)),
        ("2months 20d", Some(7084800000000)),
        ("1y  1d", Some(31622400000000)),
        (".5d", Some(43200000000)),
        ("1.d", Some(86400000000)),
        ("", Some(0)),
        ("1month\n", Some(2678400000000)),
        ("1 month", None),
        ("month", None),
        ("1d2y", None),
        ("1mo", None),
        ("abc", None),
        ("1.2.3d", None),
        (".d", None),
        ("-1d", None),
        ("1D", None),
        ("1h 2d", None),
        ("1ms", Some(2678400000000)),
        ("1mins", Some(60000000)),
        ("1minute", Some(60000000)),
        ("1ys", Some(31536000000000)),
        ("1yearss", None),
        ("0.25y", Some(7884000000000)),
        ("1w2d", Some(777600000000)),
        ("1s2s", None),
        ("12", None),
        ("1m1min", Some(2678460000000)),
        ("1min1m", None),
        ("1y1m1w1d1h1min1s", Some(34909261000000)),
        ("3weeks", Some(1814400000000)),
        ("1h30min", Some(5400000000)),
        ("1.000001s", Some(1000001)),
        ("0.0000005s", Some(0)),
        ("0.0000015s", Some(2)),
        ("1days", Some(86400000000)),
        ("1 d", None),
        ("2y ", Some(63072000000000)),
        ("  1d", Some(86400000000)),
    ];
    for (text, micros) in cases {
        let got = parse_duration(text)
            .ok()
            .map(|d| d.num_microseconds().unwrap());
        assert_eq!(got, *micros, "{text:?}");
    }
}

#[test]
fn bad_durations() {
    for text in [
        "1 month", "month", "1d2y", "1mo", "abc", "1.2.3d", ".d", "-1d", "1D", "1h 2d",
    ] {
        assert!(
            matches!(
                parse_duration(text),
                Err(GcSettingsError::InvalidDuration(_))
            ),
            "{text:?}"
        );
    }
    assert!(matches!(
        parse_duration("99999999999999999999y"),
        Err(GcSettingsError::DurationTooLarge(_))
    ));
}

#[test]
fn settings_from_config() {
    let cfg = json!({"storage": {"garbage": {
        "after": "2weeks",
        "can_delete_reference_branch": true,
        "artifacts": {"delete": true, "keep": ["binary", "build/lib.so"]}
    }}});
    let s = GcSettings::for_project(&cfg, &GcOptions::default()).unwrap();
    assert_eq!(s.after, days(14.0));
    assert!(s.can_delete_reference_branch && s.delete_artifacts);
    assert_eq!(s.keep_artifacts, ["binary", "build/lib.so"]);
}

#[test]
fn defaults_and_malformed_sections() {
    for cfg in [
        json!({}),
        json!({"storage": "/mnt/qaboard"}),
        json!({"storage": {"garbage": {"after": null, "artifacts": "yes"}}}),
        json!(null),
    ] {
        let s = GcSettings::for_project(&cfg, &GcOptions::default()).unwrap();
        assert_eq!(s.after, days(31.0), "{cfg}");
        assert!(!s.can_delete_reference_branch && !s.delete_artifacts);
        assert!(s.keep_artifacts.is_empty());
    }
    let cfg = json!({"storage": {"garbage": {"after": 30}}});
    assert!(matches!(
        GcSettings::for_project(&cfg, &GcOptions::default()),
        Err(GcSettingsError::AfterNotAString(_))
    ));
    let cfg = json!({"storage": {"garbage": {"after": "soon"}}});
    assert!(GcSettings::for_project(&cfg, &GcOptions::default()).is_err());
    let cfg = json!({"storage": {"garbage": {"artifacts": {"delete": "true", "keep": "bin"}}}});
    let s = GcSettings::for_project(&cfg, &GcOptions::default()).unwrap();
    assert!(!s.delete_artifacts, "only true deletes, like `== True`");
    assert_eq!(s.keep_artifacts, ["bin"]);
}

#[test]
fn options_override_but_never_leak_between_projects() {
    let options = GcOptions {
        before: Some(days(3.0)),
        ..GcOptions::default()
    };
    let first = json!({"storage": {"garbage": {"after": "bad value", "can_delete_reference_branch": true}}});
    let s1 = GcSettings::for_project(&first, &options).unwrap();
    assert_eq!(s1.after, days(3.0));
    assert!(s1.can_delete_reference_branch);
    // The next project gets its own settings: the first one's flag does not carry over.
    let s2 = GcSettings::for_project(&json!({}), &GcOptions::default()).unwrap();
    assert!(!s2.can_delete_reference_branch);
    assert_eq!(s2.after, days(31.0));
    let forced = GcOptions {
        can_delete_reference_branch: true,
        can_delete_artifacts: true,
        before: None,
    };
    let s3 = GcSettings::for_project(&json!({}), &forced).unwrap();
    assert!(s3.can_delete_reference_branch && s3.delete_artifacts);
}

#[test]
fn keep_matches_groups_and_paths() {
    let s = GcSettings {
        after: TimeDelta::zero(),
        can_delete_reference_branch: false,
        delete_artifacts: true,
        keep_artifacts: vec!["binary".into(), "./build/".into(), "doc/a.txt".into()],
    };
    assert!(s.keeps_manifest("binary.json"));
    assert!(!s.keeps_manifest("configurations.json"));
    assert!(s.keeps_file("build/lib.so") && s.keeps_file("build"));
    assert!(s.keeps_file("doc/a.txt") && !s.keeps_file("doc/a.txt.bak"));
    assert!(!s.keeps_file("buildx/lib.so"));
}

#[test]
fn project_selection() {
    let none = GcProjects::new(&[], &GcOptions::default()).unwrap();
    assert!(none.includes("g/r", &json!({})));
    assert!(!none.includes("g/r", &json!({"legacy": true})));
    assert!(none.includes("g/r", &json!({"legacy": 0})));
    let some = GcProjects::new(&["g/r".into(), "other$".into()], &GcOptions::default()).unwrap();
    assert!(some.includes("g/r/sub", &json!({})));
    assert!(
        !some.includes("x/g/r", &json!({})),
        "matched at the start only"
    );
    assert!(some.includes("other", &json!({})));
    assert!(!some.includes("others", &json!({})));
    let before = GcOptions {
        before: Some(days(1.0)),
        ..GcOptions::default()
    };
    assert_eq!(
        GcProjects::new(&[], &before).unwrap_err(),
        GcSettingsError::BeforeNeedsProject
    );
    assert!(GcProjects::new(&["g/r".into()], &before).is_ok());
    assert!(matches!(
        GcProjects::new(&["(".into()], &GcOptions::default()),
        Err(GcSettingsError::InvalidProjectPattern(_))
    ));
}

#[test]
fn commit_rows_after_collection() {
    let report = GcCommitReport {
        nb_outputs: 0,
        artifacts_processed: true,
        nb_artifacts_deleted: 3,
        artifact_errors: false,
    };
    assert_eq!(
        commit_decision(&report, true),
        GcCommitDecision {
            mark_deleted: true,
            delete_row: true
        }
    );
    assert!(!commit_decision(&report, false).delete_row);
    let with_outputs = GcCommitReport {
        nb_outputs: 2,
        ..report
    };
    assert!(!commit_decision(&with_outputs, true).delete_row);
    let errors = GcCommitReport {
        artifact_errors: true,
        ..report
    };
    assert!(!commit_decision(&errors, true).mark_deleted);
    let nothing = GcCommitReport {
        nb_artifacts_deleted: 0,
        ..report
    };
    assert!(!commit_decision(&nothing, true).mark_deleted);
    let outputs_only = GcCommitReport {
        nb_outputs: 2,
        artifacts_processed: false,
        ..GcCommitReport::default()
    };
    assert_eq!(
        commit_decision(&outputs_only, true),
        GcCommitDecision {
            mark_deleted: false,
            delete_row: false
        }
    );
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap()
}

#[test]
fn which_commits_are_collected() {
    let milestones = Milestones::new(
        &json!({"project": {"reference_branch": "develop"}}),
        &json!({}),
    );
    let settings = GcSettings::for_project(
        &json!({"storage": {"garbage": {"after": "7d"}}}),
        &GcOptions::default(),
    )
    .unwrap();
    let now = at(31);
    let old = GcCommit {
        deleted: false,
        is_milestone: false,
        branch: Some("feature"),
        latest_output_datetime: Some(at(10)),
        authored_datetime: Some(at(1)),
    };
    assert!(is_collectable(&old, &settings, &milestones, now));
    let recent_output = GcCommit {
        latest_output_datetime: Some(at(28)),
        ..old
    };
    assert!(!is_collectable(&recent_output, &settings, &milestones, now));
    let authored_only = GcCommit {
        latest_output_datetime: None,
        authored_datetime: Some(at(2)),
        ..old
    };
    assert!(is_collectable(&authored_only, &settings, &milestones, now));
    let undated = GcCommit {
        latest_output_datetime: None,
        authored_datetime: None,
        ..old
    };
    assert!(!is_collectable(&undated, &settings, &milestones, now));
    assert!(!is_collectable(
        &GcCommit {
            deleted: true,
            ..old
        },
        &settings,
        &milestones,
        now
    ));
    assert!(!is_collectable(
        &GcCommit {
            is_milestone: true,
            ..old
        },
        &settings,
        &milestones,
        now
    ));
    assert!(is_collectable(
        &GcCommit {
            branch: None,
            ..old
        },
        &settings,
        &milestones,
        now
    ));
    for b in ["develop", "origin/develop"] {
        let c = GcCommit {
            branch: Some(b),
            ..old
        };
        assert!(!is_collectable(&c, &settings, &milestones, now), "{b}");
        let allowed = GcSettings {
            can_delete_reference_branch: true,
            ..settings.clone()
        };
        assert!(is_collectable(&c, &allowed, &milestones, now), "{b}");
    }
    // Idle exactly `after`: not yet.
    let edge = GcCommit {
        latest_output_datetime: Some(at(24)),
        ..old
    };
    assert!(!is_collectable(&edge, &settings, &milestones, now));
}
