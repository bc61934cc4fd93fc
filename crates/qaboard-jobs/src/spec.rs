//! What a job is: its settings, its description and the record kept in the database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Settings of the jobs the server starts.
///
/// TOML keys / variables (OPERATIONS.md "Decisions"): `job_start_wait_secs` /
/// `QABOARD_JOB_START_WAIT_SECS`; the others are this crate's and are read by
/// the server's settings loader the same way.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// The `qa` program as an argv prefix (e.g. `["qa"]`, `["python3", "-m", "qaboard"]`);
    /// empty means `qa` found on `PATH` (after the `.envrc` files were sourced).
    pub qa_command: Vec<String>,
    /// How long [`crate::LocalRunner::start`] waits for an early failure (default 10 s).
    pub job_start_wait: Duration,
    /// Most jobs started by this server process running at once (default 8);
    /// with [`JobsConfig::slots_dir`], by every process sharing that folder.
    pub max_jobs: usize,
    /// A folder shared by the server processes (the API uses
    /// `<data_dir>/job-slots`): each running job holds an `flock` on one of
    /// `slot-0.lock` … `slot-<max_jobs-1>.lock` there, so `max_jobs` bounds
    /// the jobs of all of them together; a crashed server's locks are freed by
    /// the kernel. `None`: the limit is per process.
    pub slots_dir: Option<PathBuf>,
    /// A job still running after this long has its process group killed
    /// (SIGTERM, then SIGKILL after [`JobsConfig::stop_grace`]); `None` = no limit.
    /// Enforced by the server process that started the job.
    pub job_time_limit: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when stopping (default 5 s).
    pub stop_grace: Duration,
    /// `QA_RUNNERS_LSF_BRIDGE`: format string wrapping LSF commands, e.g.
    /// `ssh host su {user} {bsub_command}`; `None` runs `bkill` directly.
    pub lsf_bridge: Option<String>,
    /// Longest time an LSF `bkill` (through the bridge) may take (default 60 s).
    pub lsf_timeout: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            qa_command: Vec::new(),
            job_start_wait: Duration::from_secs(10),
            max_jobs: 8,
            slots_dir: None,
            job_time_limit: Some(Duration::from_secs(24 * 3600)),
            stop_grace: Duration::from_secs(5),
            lsf_bridge: None,
            lsf_timeout: Duration::from_secs(60),
        }
    }
}

impl JobsConfig {
    /// Splits a `qa_command` setting (e.g. `QABOARD_QA_COMMAND="python3 -m qaboard"`)
    /// into argv words with POSIX shell quoting rules; it is an operator setting,
    /// executed without a shell. Error: [`crate::JobError::InvalidValue`] (unbalanced quotes).
    pub fn parse_qa_command(setting: &str) -> Result<Vec<String>, crate::JobError> {
        shlex::split(setting)
            .ok_or_else(|| crate::JobError::invalid("qa_command", "unbalanced quotes"))
    }
}

/// A fresh command id: a random UUID v4 as text, as `qa batch` makes them
/// (`QA_BATCH_COMMAND_ID`, keys of `batch.data.commands`).
pub fn new_command_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One job to run: `qa <argv…>` in `cwd` with `env`, output appended to `log_file`.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Exported as `QA_BATCH_COMMAND_ID`; the key under which the caller stores the [`JobRecord`].
    pub command_id: String,
    /// Arguments after `qa` (see [`crate::argv`]); never parsed by a shell.
    pub argv: Vec<String>,
    /// Working directory (the commit's artifacts folder); created (mode per umask) if missing.
    pub cwd: PathBuf,
    /// File that receives stdout and stderr (appended; parent folders created).
    pub log_file: PathBuf,
    /// Environment added to the server's (see [`JobSpec::ci_env`]).
    pub env: Vec<(String, String)>,
    /// Source the `.envrc` files of `cwd` and its ancestors, outermost first
    /// (the original's redo and tuning scripts do).
    pub source_envrc: bool,
    /// Run with `umask 0` so files are writable by everyone sharing the storage
    /// (the original redo script did; its tuning script did not). Default false.
    pub umask_zero: bool,
}

impl JobSpec {
    /// A job with the environment of a CI run for `commit` (see [`JobSpec::ci_env`])
    /// and `.envrc` sourcing on.
    pub fn new(
        command_id: impl Into<String>,
        argv: Vec<String>,
        cwd: impl Into<PathBuf>,
        log_file: impl Into<PathBuf>,
        git_commit: &str,
        outputs_commit: &Path,
    ) -> Self {
        let command_id = command_id.into();
        let env = Self::ci_env(git_commit, outputs_commit, &command_id);
        JobSpec {
            command_id,
            argv,
            cwd: cwd.into(),
            log_file: log_file.into(),
            env,
            source_envrc: true,
            umask_zero: false,
        }
    }

    /// The environment of OPERATIONS.md §3/§4.2: `CI=true` and `GIT_COMMIT=<sha>`
    /// (CI mode, the artifacts dir is no git repo), `QA_OUTPUTS_COMMIT=<commit outputs_dir>`,
    /// `QABOARD_TUNING=true` (no GitLab status), `QA_BATCH_COMMAND_ID`,
    /// `LC_ALL`/`LANG=C.UTF-8` (click needs UTF-8), `MPLBACKEND=agg` (headless).
    pub fn ci_env(
        git_commit: &str,
        outputs_commit: &Path,
        command_id: &str,
    ) -> Vec<(String, String)> {
        [
            ("CI", "true"),
            ("GIT_COMMIT", git_commit),
            ("QA_OUTPUTS_COMMIT", &outputs_commit.to_string_lossy()),
            ("QABOARD_TUNING", "true"),
            ("QA_BATCH_COMMAND_ID", command_id),
            ("LC_ALL", "C.UTF-8"),
            ("LANG", "C.UTF-8"),
            ("MPLBACKEND", "agg"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// What the database keeps about a job this server started, to stop it later
/// from any server process (store it as JSON, e.g. `batch.data.server_jobs[command_id]`).
///
/// `host` + `pid_namespace` say where `pgid` means something; `start_ticks`
/// (field 22 of `/proc/<pgid>/stat`) tells the original group leader from a
/// later process that reused the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The command id (`QA_BATCH_COMMAND_ID` of the job).
    pub command_id: String,
    /// Always `"local"` for jobs started by [`crate::LocalRunner`].
    pub runner: String,
    /// Host name of the server that started it (`/proc/sys/kernel/hostname`).
    pub host: String,
    /// PID namespace of that server (`/proc/self/ns/pid` link text); containers differ.
    pub pid_namespace: String,
    /// Process group id (= pid of the group leader, the `qa` process).
    pub pgid: i32,
    /// Start time of the group leader in clock ticks since boot.
    pub start_ticks: u64,
    /// When the job was started.
    pub started_at: DateTime<Utc>,
    /// Full argv that was executed (`bash -c … qa-job <envrc…> -- qa <argv…>`).
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Log file receiving the job's stdout and stderr.
    pub log_file: PathBuf,
    /// The logged-in webapp user who started the job (issue 14), set by the
    /// caller; absent for anonymous requests and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `.envrc` files of `dir` and its ancestors that exist, outermost first
/// (as the original tuning script; its redo script only looked 3 levels up).
/// `dir` is made absolute lexically (no symlink resolution), like Python's `Path.parents`.
pub fn ancestor_envrc_files(dir: &Path) -> Vec<PathBuf> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut found: Vec<PathBuf> = dir
        .ancestors()
        .map(|a| a.join(".envrc"))
        .filter(|p| p.is_file())
        .collect();
    found.reverse();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qa_command_setting() {
        assert_eq!(
            JobsConfig::parse_qa_command("python3 -m 'qa board'").unwrap(),
            ["python3", "-m", "qa board"]
        );
        assert!(JobsConfig::parse_qa_command("").unwrap().is_empty());
        assert!(JobsConfig::parse_qa_command("qa 'x").is_err());
    }

    #[test]
    fn command_ids_are_uuids() {
        let id = new_command_id();
        assert_eq!(id.len(), 36);
        assert_ne!(id, new_command_id());
    }
}
