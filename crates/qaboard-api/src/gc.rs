//! Storage garbage collection (`qaboard-server gc`, and the server's
//! periodic run every `gc_interval` seconds), OPERATIONS.md §10.
//!
//! Each project's own `storage.garbage` settings apply (the pure rules are
//! `qaboard_model::gc`), to every project, whether it has a git mirror or
//! not (milestones and branch heads come from the database). Never
//! collected: commits idle for less than `after`, milestones (the reference
//! branch's head among them), commits on protected branches unless allowed.
//! For each collected commit, the files of its outputs listed in their
//! `manifest.outputs.json` (the folder listing when there is none) are
//! deleted, manifests kept, and the rows marked `deleted`; with artifacts
//! deletion, the files listed by `<artifacts dir>/manifests/*.json` (except
//! `artifacts.keep`) go too, and the commit is marked `deleted`. Files are
//! touched only through `qaboard_storage`. Rows are never removed (choice:
//! the original deleted artifact-only commits' rows; keeping them is safer).
//!
//! One run at a time: a PostgreSQL advisory lock held on a connection for
//! the whole run; on SQLite, an exclusive lock on `<data_dir>/gc.lock`.
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use qaboard_db::{gc as db, read, DbPool};
use qaboard_model::gc::{is_collectable, GcCommit, GcOptions, GcProjects, GcSettings};
use qaboard_model::milestone::{branch_heads, commit_tags, MilestoneCandidate, Milestones};
use qaboard_model::paths;
use qaboard_storage::{ManifestLimits, Storage};
use serde::Serialize;
use serde_json::Value;

/// Largest manifest read, in bytes.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
/// Manifests never deleted by output collection.
const MANIFESTS: [&str; 2] = ["manifest.outputs.json", "manifest.inputs.json"];

/// What a garbage collection is asked to do.
#[derive(Debug, Clone, Default)]
pub struct GcRequest {
    /// `--dry-run`: count what would go, change nothing.
    pub dry_run: bool,
    /// `--project REGEX…` (matched at the start of project ids).
    pub projects: Vec<String>,
    /// `--before`, `--can-delete-reference-branch`, `--can-delete-artifacts`.
    pub options: GcOptions,
    /// Show a progress bar on standard error when it is a terminal.
    pub progress: bool,
}

/// Usage of `qaboard-server gc`.
pub const GC_USAGE: &str = "usage: qaboard-server [--config FILE] gc [--dry-run] [--project REGEX]... \
[--before DURATION] [--can-delete-reference-branch] [--can-delete-artifacts]\n\
  --dry-run                       report what would be deleted, change nothing\n\
  --project REGEX                 only projects whose id matches at the start (repeatable)\n\
  --before DURATION               collect commits idle for longer than this (e.g. 2w3d; needs --project)\n\
  --can-delete-reference-branch   also commits of protected branches (never milestones)\n\
  --can-delete-artifacts          also the commits' artifacts";

impl GcRequest {
    /// Reads the arguments after `gc` (see [`GC_USAGE`]); a progress bar is
    /// asked for (shown only on a terminal). Errors: an unknown argument,
    /// a missing value, an invalid duration.
    pub fn parse_args(args: &[String]) -> Result<GcRequest, String> {
        let mut request = GcRequest {
            progress: true,
            ..GcRequest::default()
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--dry-run" | "--dryrun" => request.dry_run = true,
                "--project" => request
                    .projects
                    .push(it.next().ok_or("--project needs a REGEX")?.clone()),
                "--before" => {
                    let d = it.next().ok_or("--before needs a DURATION")?;
                    request.options.before =
                        Some(qaboard_model::gc::parse_duration(d).map_err(|e| e.to_string())?);
                }
                "--can-delete-reference-branch" => {
                    request.options.can_delete_reference_branch = true
                }
                "--can-delete-artifacts" => request.options.can_delete_artifacts = true,
                other => return Err(format!("unknown argument '{other}'\n{GC_USAGE}")),
            }
        }
        Ok(request)
    }
}

/// What a garbage collection did (or would do, on a dry run).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct GcReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Projects visited.
    pub projects: usize,
    /// Commits collected (idle commits that still had outputs or artifacts).
    pub commits: usize,
    /// Outputs whose files were deleted (and rows marked).
    pub outputs: usize,
    /// Files deleted (outputs' and artifacts').
    pub files: usize,
    /// Bytes freed (sizes of the deleted files; hard links counted fully).
    pub bytes_freed: u64,
    /// Problems met (a project's settings, unreadable manifests, files that
    /// could not be deleted); the run goes on.
    pub errors: Vec<String>,
}

impl std::fmt::Display for GcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{} projects, {} commits, {} outputs, {} files, {} bytes freed, {} errors",
            if self.dry_run { "dry run: " } else { "" },
            self.projects,
            self.commits,
            self.outputs,
            self.files,
            self.bytes_freed,
            self.errors.len()
        )
    }
}

/// Why a garbage collection did not run.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Another garbage collection holds the lock.
    #[error("another garbage collection is running (lock {0}); nothing was done")]
    Locked(String),
    /// A command-line option is invalid.
    #[error("{0}")]
    Settings(#[from] qaboard_model::gc::GcSettingsError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] qaboard_db::DbError),
    /// The SQLite lock file cannot be opened.
    #[error("cannot open the lock file {0}: {1}")]
    LockFile(PathBuf, std::io::Error),
}

/// Runs one garbage collection over every selected project, holding the
/// one-run lock (see the module docs). `default_root` is the storage root
/// of projects whose config names none; `data_dir` holds SQLite's lock file.
///
/// Errors: [`GcError::Locked`] when another run holds the lock (nothing
/// done), invalid options, the database failing.
pub fn run_gc(
    pool: &DbPool,
    storage: &Storage,
    default_root: &str,
    data_dir: &Path,
    request: &GcRequest,
    now: DateTime<Utc>,
) -> Result<GcReport, GcError> {
    let selection = GcProjects::new(&request.projects, &request.options)?;
    let mut lock_conn = pool.get()?;
    let backend = lock_conn.backend();
    let _file_lock = if backend == qaboard_db::Backend::Sqlite {
        Some(lock_file(data_dir)?)
    } else {
        if !db::try_lock_gc(&mut lock_conn)? {
            return Err(GcError::Locked(format!(
                "pg_advisory_lock {}",
                db::GC_LOCK_KEY
            )));
        }
        None
    };
    let result = collect(pool, storage, default_root, request, &selection, now);
    if backend == qaboard_db::Backend::Postgres {
        let _ = db::unlock_gc(&mut lock_conn);
    }
    result
}

/// Takes the exclusive lock on `<data_dir>/gc.lock` (released when the file
/// is closed, also when the process dies).
fn lock_file(data_dir: &Path) -> Result<std::fs::File, GcError> {
    let path = data_dir.join("gc.lock");
    let _ = std::fs::create_dir_all(data_dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| GcError::LockFile(path.clone(), e))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            Err(GcError::Locked(path.display().to_string()))
        }
        Err(e) => Err(GcError::LockFile(path, e.into())),
    }
}

/// A commit chosen for collection, with its project.
struct Chosen {
    project: qaboard_model::Project,
    commit: qaboard_model::CiCommit,
    settings: GcSettings,
}

fn collect(
    pool: &DbPool,
    storage: &Storage,
    default_root: &str,
    request: &GcRequest,
    selection: &GcProjects,
    now: DateTime<Utc>,
) -> Result<GcReport, GcError> {
    let mut conn = pool.get()?;
    let mut report = GcReport {
        dry_run: request.dry_run,
        ..GcReport::default()
    };
    let mut chosen = Vec::new();
    for project in db::all_projects(&mut conn)? {
        if !selection.includes(&project.id, &project.data) {
            continue;
        }
        report.projects += 1;
        let null = Value::Null;
        let config = project.data.get("qatools_config").unwrap_or(&null);
        let settings = match GcSettings::for_project(config, &request.options) {
            Ok(s) => s,
            Err(e) => {
                report.errors.push(format!("project {}: {e}", project.id));
                continue;
            }
        };
        let milestones = Milestones::new(config, project.data.get("milestones").unwrap_or(&null));
        let commits = db::project_commits(&mut conn, &project.id)?;
        let heads = branch_heads(
            commits
                .iter()
                .map(|c| (c.hexsha.as_str(), c.branch.as_deref(), c.authored_datetime)),
        );
        for commit in commits {
            let tags = commit_tags(&commit.data);
            let candidate = MilestoneCandidate {
                hexsha: &commit.hexsha,
                branch: commit.branch.as_deref(),
                tags: &tags,
            };
            let gc_commit = GcCommit {
                deleted: commit.deleted,
                is_milestone: milestones.is_milestone(&candidate, &heads, None),
                branch: commit.branch.as_deref(),
                latest_output_datetime: commit.latest_output_datetime,
                authored_datetime: commit.authored_datetime,
            };
            if is_collectable(&gc_commit, &settings, &milestones, now) {
                chosen.push(Chosen {
                    project: project.clone(),
                    commit,
                    settings: settings.clone(),
                });
            }
        }
    }
    let bar = if request.progress && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(chosen.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} commits {elapsed} {msg}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    for c in &chosen {
        bar.set_message(format!("{} {}", c.project.id, &c.commit.hexsha));
        collect_commit(
            &mut conn,
            storage,
            default_root,
            request.dry_run,
            c,
            &mut report,
        )?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Collects one commit: its outputs' files, then (per settings) its
/// artifacts, then marks the rows in one transaction.
fn collect_commit(
    conn: &mut qaboard_db::DbConn,
    storage: &Storage,
    default_root: &str,
    dry_run: bool,
    c: &Chosen,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let Some(tree) = read::commit_tree(conn, &c.project.id, &c.commit.hexsha, None, &[])? else {
        return Ok(());
    };
    let commit_paths = paths::commit_paths_of(Some(&c.project), &tree.commit, default_root);
    let mut output_ids = Vec::new();
    for batch in &tree.batches {
        let batch_dir = paths::batch_dir(&commit_paths.outputs_dir, &batch.batch);
        for o in batch.outputs.iter().filter(|o| !o.deleted && !o.is_pending) {
            let configurations: Value =
                serde_json::from_str(&o.configurations).unwrap_or(Value::Null);
            let extra: Value = serde_json::from_str(&o.extra_parameters).unwrap_or(Value::Null);
            let dir = PathBuf::from(paths::output_dir_from(
                &batch_dir,
                o.output_dir_override.as_deref(),
                o.platform.as_deref(),
                &configurations,
                &extra,
                o.test_input_path.as_deref(),
            ));
            if delete_output_files(storage, &dir, dry_run, report) {
                output_ids.push(o.id);
            }
        }
    }
    report.outputs += output_ids.len();
    let artifacts_gone = c.settings.delete_artifacts
        && delete_artifacts(
            storage,
            Path::new(&commit_paths.artifacts_dir),
            &c.settings,
            dry_run,
            report,
        );
    if output_ids.is_empty() && !artifacts_gone {
        return Ok(());
    }
    report.commits += 1;
    if !dry_run {
        db::mark_deleted(conn, &output_ids, artifacts_gone.then_some(tree.commit.id))?;
    }
    Ok(())
}

/// Deletes (or counts) one file; `true` when it went (or would go).
fn delete_file(storage: &Storage, path: &Path, dry_run: bool, report: &mut GcReport) -> bool {
    let size = match storage.open_file(path) {
        Ok(o) => o.metadata.len(),
        Err(e) if e.is_not_found() => return false,
        Err(e) => {
            report.errors.push(e.to_string());
            return false;
        }
    };
    if !dry_run {
        if let Err(e) = storage.remove_file(path) {
            report.errors.push(e.to_string());
            return false;
        }
    }
    report.files += 1;
    report.bytes_freed += size;
    true
}

/// Soft-deletes an output's files (OPERATIONS.md §2): those its manifest
/// lists, or every file of its folder when it has no manifest; manifests
/// stay. `false` when the output must not be marked (an unreadable
/// manifest, a folder outside the storage roots).
fn delete_output_files(
    storage: &Storage,
    dir: &Path,
    dry_run: bool,
    report: &mut GcReport,
) -> bool {
    let files: Vec<String> = match storage.read_small(dir.join(MANIFESTS[0]), MAX_MANIFEST_BYTES) {
        Ok(bytes) => match serde_json::from_slice::<BTreeMap<String, Value>>(&bytes) {
            Ok(m) => m.into_keys().collect(),
            Err(e) => {
                report
                    .errors
                    .push(format!("{}: unreadable manifest: {e}", dir.display()));
                return false;
            }
        },
        Err(e) if e.is_not_found() => {
            let limits = ManifestLimits {
                md5_budget_bytes: 0,
                ..ManifestLimits::default()
            };
            match storage.manifest(dir, &limits, |_, _| false) {
                Ok(m) => m.into_keys().collect(),
                // No folder: nothing to delete, the row is still marked.
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => {
                    report.errors.push(e.to_string());
                    return false;
                }
            }
        }
        Err(e) => {
            report.errors.push(e.to_string());
            return false;
        }
    };
    for rel in files.iter().filter(|r| !MANIFESTS.contains(&r.as_str())) {
        delete_file(storage, &dir.join(rel), dry_run, report);
    }
    true
}

/// Deletes a commit's artifacts (OPERATIONS.md §10): per
/// `<artifacts_dir>/manifests/*.json`, the listed files not kept, empty
/// parents pruned, the manifest dropped when all went; without manifests,
/// the whole folder. `true` when something went and nothing failed.
fn delete_artifacts(
    storage: &Storage,
    artifacts_dir: &Path,
    settings: &GcSettings,
    dry_run: bool,
    report: &mut GcReport,
) -> bool {
    let errors_before = report.errors.len();
    let files_before = report.files;
    let manifests_dir = artifacts_dir.join("manifests");
    let manifests = match storage.read_dir(&manifests_dir) {
        Ok(entries) => entries
            .into_iter()
            .filter(|e| !e.is_dir)
            .filter_map(|e| e.name.into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect::<Vec<_>>(),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => {
            report.errors.push(e.to_string());
            return false;
        }
    };
    if manifests.is_empty() {
        if settings.keep_artifacts.is_empty() {
            match storage.manifest(
                artifacts_dir,
                &ManifestLimits {
                    md5_budget_bytes: 0,
                    ..ManifestLimits::default()
                },
                |_, _| false,
            ) {
                Ok(m) => {
                    report.files += m.len();
                    report.bytes_freed += m.values().map(|d| d.st_size).sum::<u64>();
                    if !dry_run {
                        if let Err(e) = storage.remove_tree(artifacts_dir) {
                            report.errors.push(e.to_string());
                        }
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => report.errors.push(e.to_string()),
            }
        }
    } else {
        for name in manifests {
            if settings.keeps_manifest(&name) {
                continue;
            }
            let manifest = manifests_dir.join(&name);
            let listed = storage
                .read_small(&manifest, MAX_MANIFEST_BYTES)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    serde_json::from_slice::<BTreeMap<String, Value>>(&b).map_err(|e| e.to_string())
                });
            let listed = match listed {
                Ok(l) => l,
                Err(e) => {
                    report.errors.push(format!("{}: {e}", manifest.display()));
                    continue;
                }
            };
            let before = report.errors.len();
            for rel in listed.keys().filter(|r| !settings.keeps_file(r)) {
                let path = artifacts_dir.join(rel);
                if delete_file(storage, &path, dry_run, report) && !dry_run {
                    let _ = storage.prune_empty_parents(&path);
                }
            }
            if report.errors.len() == before && !dry_run {
                if let Err(e) = storage.remove_file(&manifest) {
                    report.errors.push(e.to_string());
                }
            }
        }
    }
    report.errors.len() == errors_before && report.files > files_before
}

/// The storage roots of `settings` (`storage_roots`, else `storage_root`).
/// Errors: a root that is not absolute.
pub fn storage_of(
    settings: &qaboard_settings::Settings,
) -> Result<Storage, qaboard_storage::StorageError> {
    Storage::new(
        settings
            .storage_roots()
            .into_iter()
            .map(Into::into)
            .collect(),
    )
}

/// Runs [`run_gc`] every `interval` seconds in the background of the server
/// (the `gc_interval` setting; never when 0). A run that finds the lock
/// taken (another process collects) is skipped quietly.
pub fn spawn_periodic(
    pool: DbPool,
    storage: Storage,
    default_root: String,
    data_dir: PathBuf,
    interval: u64,
) -> Option<std::thread::JoinHandle<()>> {
    if interval == 0 {
        return None;
    }
    let run = move || loop {
        std::thread::sleep(std::time::Duration::from_secs(interval));
        let request = GcRequest::default();
        match run_gc(
            &pool,
            &storage,
            &default_root,
            &data_dir,
            &request,
            Utc::now(),
        ) {
            Ok(report) => log::info!(target: "qaboard::gc", "garbage collection: {report}"),
            Err(GcError::Locked(_)) => {
                log::info!(target: "qaboard::gc", "garbage collection skipped: another one runs")
            }
            Err(e) => log::warn!(target: "qaboard::gc", "garbage collection failed: {e}"),
        }
    };
    std::thread::Builder::new()
        .name("qaboard-gc".into())
        .spawn(run)
        .ok()
}
