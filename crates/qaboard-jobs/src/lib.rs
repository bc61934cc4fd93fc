//! Jobs the QA-Board server starts for the webapp (redo, tuning, group listing,
//! save-artifacts) and stops (OPERATIONS.md §3, §4 and its "Decisions").
//!
//! - [`argv`]: pure builders of the `qa` arguments of each job, and the parser of
//!   `qa batch --list` output.
//! - [`LocalRunner`]: runs `qa` on this host detached in its own process group,
//!   with ancestor `.envrc` files sourced through a fixed `bash -c` program
//!   ([`ENVRC_WRAPPER`]) that only receives values as positional parameters;
//!   returns a [`JobRecord`] to store in the database; stops by process group.
//! - [`LsfRunner`]: `bkill -J "<id8>*"`, through `QA_RUNNERS_LSF_BRIDGE`.
//! - [`Runner`] and [`stop_commands`]: stop whatever a batch's commands started.
//!
//! # What the API handlers store
//! - `start` returns a [`JobRecord`]; store it as JSON in the batch the job
//!   works on, in the array `batch.data.server_jobs[command_id]` (a batch
//!   redo's [`LocalRunner::start_many`] gives several records for one command
//!   id; a lone record object is accepted too), NOT in
//!   `batch.data.commands`: `qa batch` posts its own entry under the same
//!   command id and the ingestion merge would replace ours).
//! - Stop reads `batch.data.server_jobs` and `batch.data.commands` and calls
//!   [`stop_commands`]; stopping a finished job succeeds, so old records are
//!   harmless (they may be pruned after a successful stop).
//! - Group listing and save-artifacts use [`LocalRunner::run`] (to completion,
//!   with a timeout) and store nothing.
//!
//! Nothing here keeps state needed for correctness except the time-limit
//! watchers of the jobs this process started (a job outlives a server restart;
//! it can still be stopped from its record). `max_jobs` is counted per process
//! and, with [`JobsConfig::slots_dir`], across the processes sharing that
//! folder (one `flock`ed slot file per running job).
//! Linux only (`/proc`, process groups).
#![warn(missing_docs)]

pub mod argv;
mod error;
mod local;
mod lsf;
mod procfs;
mod spec;

use serde::Serialize;
use serde_json::{Map, Value};

pub use error::JobError;
pub use local::{log_tail, Completed, LocalRunner, ENVRC_WRAPPER, ENVRC_WRAPPER_UMASK_ZERO};
pub use lsf::LsfRunner;
pub use spec::{ancestor_envrc_files, new_command_id, JobRecord, JobSpec, JobsConfig};

/// What a stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopOutcome {
    /// Signals were sent (or `bkill` accepted the request).
    Stopped,
    /// Nothing of the job was running any more.
    AlreadyFinished,
    /// The runner cannot stop jobs (celery, windows, a `local` run on a user's
    /// machine): nothing done, as the original.
    NotSupported,
}

/// A kind of runner that can stop the jobs of a command.
pub trait Runner {
    /// The runner's name as `qa batch --runner` spells it (`local`, `lsf`).
    fn name(&self) -> &str;

    /// Stops command `command_id`; `command` is what the database keeps about it
    /// (a [`JobRecord`] for [`LocalRunner`], the `batch.data.commands` entry for
    /// [`LsfRunner`]). Stopping a finished job is success.
    fn stop_command(&self, command_id: &str, command: &Value) -> Result<StopOutcome, JobError>;
}

impl Runner for LocalRunner {
    fn name(&self) -> &str {
        "local"
    }

    /// `command`: one [`JobRecord`], or an array of them (a batch redo starts
    /// one job per output under one command id). All are tried; the first error is returned.
    fn stop_command(&self, command_id: &str, command: &Value) -> Result<StopOutcome, JobError> {
        let parse = |v: &Value| -> Result<JobRecord, JobError> {
            serde_json::from_value(v.clone()).map_err(|e| {
                JobError::invalid(format!("job record of {command_id}"), e.to_string())
            })
        };
        let records: Vec<Result<JobRecord, JobError>> = match command {
            Value::Array(items) => items.iter().map(parse).collect(),
            one => vec![parse(one)],
        };
        let mut outcome = StopOutcome::AlreadyFinished;
        let mut first_error = None;
        for record in records {
            match record.and_then(|r| self.stop(&r)) {
                Ok(StopOutcome::Stopped) => outcome = StopOutcome::Stopped,
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }
}

impl Runner for LsfRunner {
    fn name(&self) -> &str {
        "lsf"
    }

    fn stop_command(&self, command_id: &str, command: &Value) -> Result<StopOutcome, JobError> {
        self.stop(command_id, command)
    }
}

/// Stops everything a batch started (orig `Batch.stop`, intended: errors collected):
/// each [`JobRecord`] of `server_jobs` (the batch's `data.server_jobs`) through
/// `local`, and each `batch.data.commands` entry with `runner: "lsf"` through `lsf`
/// (other runners: nothing to do, as the original). Returns the errors, empty
/// on success; the API answers 500 `{"error": [messages]}` and leaves outputs untouched.
pub fn stop_commands(
    commands: &Map<String, Value>,
    server_jobs: &Map<String, Value>,
    local: &dyn Runner,
    lsf: &dyn Runner,
) -> Vec<JobError> {
    let mut errors = Vec::new();
    for (id, record) in server_jobs {
        if let Err(e) = local.stop_command(id, record) {
            errors.push(e);
        }
    }
    for (id, command) in commands {
        if command.get("runner").and_then(Value::as_str) == Some("lsf") {
            if let Err(e) = lsf.stop_command(id, command) {
                errors.push(e);
            }
        }
    }
    errors
}
