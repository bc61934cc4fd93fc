//! The error type of this crate.

use std::io;
use std::path::Path;

/// Everything that can go wrong when starting, running or stopping a job.
///
/// Suggested HTTP mapping for the API layer: [`JobError::TooMany`] → 429,
/// [`JobError::InvalidValue`] → 400, everything else → 500 `{"error": <Display>}`
/// (the early-failure variants carry the log tail the contract asks for).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// `max_jobs` server-started jobs already run in this server process.
    #[error("too many jobs are running on this server ({running} of {max}); try again later")]
    TooMany {
        /// Jobs running now in this process.
        running: usize,
        /// The configured `max_jobs`.
        max: usize,
    },
    /// The job exited with a non-zero status (or a signal) before
    /// `job_start_wait_secs` elapsed.
    #[error("the job failed to start (exit status {status}); end of its log:\n{log_tail}")]
    EarlyExit {
        /// Exit code, or `signal N` when it was killed.
        status: String,
        /// The last lines of the job's log file.
        log_tail: String,
    },
    /// A job run to completion ([`crate::LocalRunner::run`]) exited non-zero.
    #[error("the job failed (exit status {status}); end of its log:\n{log_tail}")]
    Failed {
        /// Exit code, or `signal N` when it was killed.
        status: String,
        /// What the job printed on stdout.
        stdout: String,
        /// The last lines of the job's log file (its stderr).
        log_tail: String,
    },
    /// A job run to completion took longer than its timeout; its process group was killed.
    #[error("the job did not finish within {secs} s and was killed; end of its log:\n{log_tail}")]
    TimedOut {
        /// The timeout, in seconds.
        secs: u64,
        /// The last lines of the job's log file.
        log_tail: String,
    },
    /// The job was started by a server on another host (or in another PID
    /// namespace, i.e. another container): a local process group cannot be signalled from here.
    #[error("job {command_id} was started on host {host}; it can only be stopped from a server on that host (this is {this_host})")]
    OtherHost {
        /// The job's command id.
        command_id: String,
        /// Host (and PID namespace) recorded when the job started.
        host: String,
        /// This host (and PID namespace).
        this_host: String,
    },
    /// A value cannot be used safely (e.g. in the LSF bridge command) or a
    /// stored record is malformed.
    #[error("invalid value for {what}: {reason}")]
    InvalidValue {
        /// Which value.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// The runner refused to stop the job (LSF `bkill` answered neither
    /// "is being terminated" nor "is not found").
    #[error("could not stop {command_id} with the {runner} runner: {output}")]
    StopFailed {
        /// Runner name (`lsf`, `local`).
        runner: String,
        /// The command id.
        command_id: String,
        /// What the stop command printed.
        output: String,
    },
    /// The `--list` output of `qa batch` was not the expected JSON.
    #[error("could not read the output of `qa batch --list`: {reason}")]
    BadListOutput {
        /// What was wrong.
        reason: String,
    },
    /// An I/O error, with the path or action it concerns.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (path, program).
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl JobError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        JobError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io_path(action: &str, path: &Path, source: io::Error) -> Self {
        JobError::io(format!("{action} {}", path.display()), source)
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        JobError::InvalidValue {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
