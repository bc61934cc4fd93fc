//! Storage garbage-collection rules: the duration syntax, each project's
//! settings, and which commits may be collected.
//!
//! Rule source: the original's `clean` command and `parse_time`
//! (`backend/backend/clean.py`), `CiCommit.delete` for `artifacts.keep`;
//! contract in OPERATIONS.md §10. Fixed defects of the original: settings
//! are computed per project from that project's config and the command-line
//! options only (the original let `--before`/`can_delete_reference_branch`
//! found in the first project apply to all later ones); the idle time uses
//! `latest_output_datetime`, else `authored_datetime` (the original's SQL
//! only ever looked at the first); protected branches match with or without
//! `origin/`; `keep` names really match (the original compared paths with
//! strings).

use chrono::{DateTime, TimeDelta, Utc};
use regex::Regex;
use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;

use crate::milestone::Milestones;
use crate::rules::truthy;

/// `storage.garbage.after` when a project sets none.
pub const DEFAULT_GC_AFTER: &str = "1month";

/// A duration or setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcSettingsError {
    /// The text is not in the duration syntax (see [`parse_duration`]).
    InvalidDuration(String),
    /// The duration does not fit in a date computation.
    DurationTooLarge(String),
    /// `storage.garbage.after` is neither a string nor absent.
    AfterNotAString(Value),
}

impl fmt::Display for GcSettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcSettingsError::InvalidDuration(s) => write!(
                f,
                "cannot read the duration {s:?}; examples: '1y', '2months 20d', '8h', '2d8h5min20s', '2min4s'"
            ),
            GcSettingsError::DurationTooLarge(s) => write!(f, "the duration {s:?} is too large"),
            GcSettingsError::AfterNotAString(v) => {
                write!(f, "storage.garbage.after must be a duration string, not {v}")
            }
        }
    }
}

impl std::error::Error for GcSettingsError {}

fn duration_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // The original's pattern, unchanged: each unit optional, in this order,
    // separated by optional spaces; lazy numbers made of digits and dots.
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"^((?P<years>[\.\d]+?)y(ear)?s?)? *((?P<months>[\.\d]+?)m(onth)?s?)? *",
            r"((?P<weeks>[\.\d]+?)w(eek)?s?)? *((?P<days>[\.\d]+?)d(ay)?s?)? *",
            r"((?P<hours>[\.\d]+?)h(our)?s?)? *((?P<minutes>[\.\d]+?)min(ute)?s?)? *",
            r"((?P<seconds>[\.\d]+?)s(econd)?s?)?$"
        ))
        .expect("the duration pattern compiles")
    })
}

/// Parses a garbage-collection duration like the original's `parse_time`:
/// `[Ny[ear][s]] [Nm[onth][s]] [Nw[eek][s]] [Nd[ay][s]] [Nh[our][s]]
/// [Nmin[ute][s]] [Ns[econd][s]]`, units in that order, optional spaces
/// between them, `N` a decimal number (`1.5d`); a month is 31 days, a year
/// 365 days, a week 7 days. The empty string is zero. Like Python's `$`, one
/// trailing newline is accepted. Precision is the microsecond.
///
/// Errors: text outside this syntax, numbers Python's `float` rejects (`.`,
/// `1.2.3`), and durations past chrono's range.
pub fn parse_duration(text: &str) -> Result<TimeDelta, GcSettingsError> {
    let invalid = || GcSettingsError::InvalidDuration(text.to_string());
    let trimmed = text.strip_suffix('\n').unwrap_or(text);
    let caps = duration_re().captures(trimmed).ok_or_else(invalid)?;
    let mut seconds = 0.0;
    for (unit, factor) in [
        ("years", 365.0 * 86400.0),
        ("months", 31.0 * 86400.0),
        ("weeks", 7.0 * 86400.0),
        ("days", 86400.0),
        ("hours", 3600.0),
        ("minutes", 60.0),
        ("seconds", 1.0),
    ] {
        if let Some(m) = caps.name(unit) {
            let n: f64 = m.as_str().parse().map_err(|_| invalid())?;
            seconds += n * factor;
        }
    }
    // Python's timedelta rounds half to even.
    let micros = (seconds * 1e6).round_ties_even();
    if !micros.is_finite() || micros.abs() >= i64::MAX as f64 {
        return Err(GcSettingsError::DurationTooLarge(text.to_string()));
    }
    // Any i64 of microseconds fits a TimeDelta; keep well inside date range.
    let delta = TimeDelta::microseconds(micros as i64);
    if delta.num_days() >= 100_000_000 {
        return Err(GcSettingsError::DurationTooLarge(text.to_string()));
    }
    Ok(delta)
}

/// Command-line options of the garbage collector that override project
/// settings (`--before`, `--can-delete-reference-branch`,
/// `--can-delete-artifacts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// `--before`: replaces every selected project's `after`.
    pub before: Option<TimeDelta>,
    /// `--can-delete-reference-branch`.
    pub can_delete_reference_branch: bool,
    /// `--can-delete-artifacts`.
    pub can_delete_artifacts: bool,
}

/// One project's effective garbage-collection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcSettings {
    /// Commits idle for longer than this are collected.
    pub after: TimeDelta,
    /// Commits on protected branches may be collected too.
    pub can_delete_reference_branch: bool,
    /// Artifacts are deleted along with outputs.
    pub delete_artifacts: bool,
    /// Artifact groups (manifest names) or relative paths never deleted.
    pub keep_artifacts: Vec<String>,
}

impl GcSettings {
    /// Settings of one project from its stored `qaboard.yaml` (the JSON in
    /// `project.data.qatools_config`, section `storage.garbage`) and the
    /// command-line options. Computed afresh for each project: nothing of
    /// one project carries over to the next.
    ///
    /// `after` defaults to `1month`; `--before` replaces it (the project's
    /// value is then not read). A `storage` or `garbage` that is not a
    /// mapping counts as empty, as does `artifacts`. Flags are true when the
    /// option or the (Python-truthy) setting says so; `artifacts.delete`
    /// must be `true` (or `1`, equal to `True` in Python). `artifacts.keep`
    /// is a list of strings (a single string is one entry).
    pub fn for_project(
        qaboard_config: &Value,
        options: &GcOptions,
    ) -> Result<GcSettings, GcSettingsError> {
        let empty = Value::Object(Default::default());
        let garbage = qaboard_config
            .pointer("/storage/garbage")
            .filter(|g| g.is_object())
            .unwrap_or(&empty);
        let after = match options.before {
            Some(before) => before,
            None => match garbage.get("after") {
                None | Some(Value::Null) => parse_duration(DEFAULT_GC_AFTER)?,
                Some(Value::String(s)) => parse_duration(s)?,
                Some(other) => return Err(GcSettingsError::AfterNotAString(other.clone())),
            },
        };
        let artifacts = garbage
            .get("artifacts")
            .filter(|a| a.is_object())
            .unwrap_or(&empty);
        let delete_setting = match artifacts.get("delete") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64() == Some(1.0),
            _ => false,
        };
        let keep_artifacts = match artifacts.get("keep") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        Ok(GcSettings {
            after,
            can_delete_reference_branch: options.can_delete_reference_branch
                || truthy(garbage.get("can_delete_reference_branch")),
            delete_artifacts: options.can_delete_artifacts || delete_setting,
            keep_artifacts,
        })
    }

    /// Commits idle since before this instant may be collected.
    pub fn threshold(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_sub_signed(self.after)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether the artifacts of a manifest (`manifests/<group>.json`, given
    /// by file name) are kept: its group name, or its file name, is listed
    /// in `keep`.
    pub fn keeps_manifest(&self, manifest_file_name: &str) -> bool {
        let group = manifest_file_name
            .strip_suffix(".json")
            .unwrap_or(manifest_file_name);
        self.keep_artifacts
            .iter()
            .any(|k| k == group || k == manifest_file_name)
    }

    /// Whether an artifact file (path relative to the repository's artifacts
    /// folder, as listed in manifests) is kept: a `keep` entry is that path
    /// or one of its parent folders (`./` prefixes and trailing `/` ignored).
    pub fn keeps_file(&self, relative_path: &str) -> bool {
        let clean = |p: &str| -> String {
            let p = p.trim_start_matches("./");
            p.trim_end_matches('/').to_string()
        };
        let path = clean(relative_path);
        self.keep_artifacts.iter().map(|k| clean(k)).any(|k| {
            !k.is_empty()
                && (path == k || path.strip_prefix(&k).is_some_and(|r| r.starts_with('/')))
        })
    }
}

/// What garbage collection needs to know about one commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcCommit<'a> {
    /// `commit.deleted`.
    pub deleted: bool,
    /// From [`Milestones::is_milestone`] (OPERATIONS.md §1.3).
    pub is_milestone: bool,
    /// The branch recorded with the commit.
    pub branch: Option<&'a str>,
    /// When its latest output was posted.
    pub latest_output_datetime: Option<DateTime<Utc>>,
    /// When it was authored.
    pub authored_datetime: Option<DateTime<Utc>>,
}

/// Whether garbage collection may delete a commit's outputs (and artifacts,
/// per settings): not already deleted, not a milestone, idle since before
/// `now − after` (its latest output, else its authoring time; a commit with
/// neither is kept), and not on a protected branch (with or without
/// `origin/`) unless the settings allow it. A commit without a branch is on
/// no protected branch.
pub fn is_collectable(
    commit: &GcCommit<'_>,
    settings: &GcSettings,
    milestones: &Milestones,
    now: DateTime<Utc>,
) -> bool {
    if commit.deleted || commit.is_milestone {
        return false;
    }
    let Some(idle_since) = commit.latest_output_datetime.or(commit.authored_datetime) else {
        return false;
    };
    if idle_since >= settings.threshold(now) {
        return false;
    }
    settings.can_delete_reference_branch
        || !commit
            .branch
            .is_some_and(|b| milestones.is_protected_branch(b))
}

#[cfg(test)]
mod tests {
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
}
