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
    /// `--before` was given without `--project` (it would apply to all).
    BeforeNeedsProject,
    /// A `--project` pattern is not a regular expression.
    InvalidProjectPattern(String),
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
            GcSettingsError::BeforeNeedsProject => {
                f.write_str("when using --before you need to use --project")
            }
            GcSettingsError::InvalidProjectPattern(p) => {
                write!(f, "--project {p:?} is not a valid regular expression")
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

/// Which projects a garbage-collection run visits (`--project REGEX…`).
#[derive(Debug, Clone)]
pub struct GcProjects {
    patterns: Vec<Regex>,
}

impl GcProjects {
    /// Compiles the `--project` patterns; each must match at the start of a
    /// project id (Python's `re.match`). `--before` without any pattern is
    /// refused, as in the original.
    pub fn new(patterns: &[String], options: &GcOptions) -> Result<GcProjects, GcSettingsError> {
        if options.before.is_some() && patterns.is_empty() {
            return Err(GcSettingsError::BeforeNeedsProject);
        }
        let patterns = patterns
            .iter()
            .map(|p| {
                Regex::new(&format!("^(?:{p})"))
                    .map_err(|_| GcSettingsError::InvalidProjectPattern(p.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(GcProjects { patterns })
    }

    /// Whether to visit a project: not `data.legacy` (Python-truthy), and
    /// matched by some pattern when patterns were given. (Projects without
    /// a git mirror are skipped too; that is the caller's check.)
    pub fn includes(&self, project_id: &str, project_data: &Value) -> bool {
        !truthy(project_data.get("legacy"))
            && (self.patterns.is_empty() || self.patterns.iter().any(|r| r.is_match(project_id)))
    }
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

/// What happened to one collected commit, to decide its row's fate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcCommitReport {
    /// Outputs the commit had (counted only when outputs may be deleted).
    pub nb_outputs: usize,
    /// Artifact deletion ran to its end (it was asked for and did not fail).
    pub artifacts_processed: bool,
    /// Artifact files or folders actually removed.
    pub nb_artifacts_deleted: usize,
    /// Some artifact could not be removed or some manifest not read.
    pub artifact_errors: bool,
}

/// What to do with a commit's row after collection (as the original's
/// `clean` and `CiCommit.delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcCommitDecision {
    /// Set `deleted = true`: artifacts were removed without any error.
    pub mark_deleted: bool,
    /// Delete the row: it has no outputs and its artifacts were processed
    /// (only when outputs may be deleted).
    pub delete_row: bool,
}

/// Decides a collected commit's row from what happened to its files.
pub fn commit_decision(report: &GcCommitReport, can_delete_outputs: bool) -> GcCommitDecision {
    GcCommitDecision {
        mark_deleted: report.artifacts_processed
            && !report.artifact_errors
            && report.nb_artifacts_deleted > 0,
        delete_row: can_delete_outputs && report.nb_outputs == 0 && report.artifacts_processed,
    }
}

#[cfg(test)]
mod tests;
