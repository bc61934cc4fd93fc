//! The local runner: `qa` started detached in its own process group on this host.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use rustix::process::{kill_process_group, Pid, Signal};

use crate::error::JobError;
use crate::procfs;
use crate::spec::{ancestor_envrc_files, JobRecord, JobSpec, JobsConfig};
use crate::StopOutcome;

/// The `bash -c` program: sources each positional parameter up to `--`, then
/// executes the rest. Paths and argv only ever reach bash as positional
/// parameters (OPERATIONS.md §3 "Intended \[JOB\]"), never as shell text.
pub const ENVRC_WRAPPER: &str =
    r#"while [ "$1" != -- ]; do source "$1"; shift; done; shift; exec "$@""#;

/// [`ENVRC_WRAPPER`] preceded by `umask 0`, for [`JobSpec::umask_zero`]
/// (the original redo script's `umask 0`: files shared with users).
pub const ENVRC_WRAPPER_UMASK_ZERO: &str =
    r#"umask 0; while [ "$1" != -- ]; do source "$1"; shift; done; shift; exec "$@""#;

/// Most stdout [`LocalRunner::run`] keeps (the rest is read and dropped).
const MAX_STDOUT_BYTES: u64 = 64 * 1024 * 1024;

/// `$0` of the wrapper, shown by `ps`.
const WRAPPER_NAME: &str = "qa-job";
/// How often reaper threads look at their child.
const POLL: Duration = Duration::from_millis(50);
/// How much of the log end is returned in errors.
const LOG_TAIL_BYTES: u64 = 8 * 1024;

/// Starts `qa` jobs on this host, detached in their own process group, and
/// stops them by process group from any server process on the same host.
///
/// Cheap to clone; clones share the `max_jobs` counter (one per server process).
#[derive(Debug, Clone)]
pub struct LocalRunner {
    config: Arc<JobsConfig>,
    running: Arc<AtomicUsize>,
}

/// What [`LocalRunner::run`] returns for a job that exited 0.
#[derive(Debug, Clone)]
pub struct Completed {
    /// Everything the job printed on stdout (lossy UTF-8).
    pub stdout: String,
    /// The last lines of the log file (the job's stderr).
    pub log_tail: String,
}

/// A counted slot of `max_jobs`, released on drop: the per-process counter,
/// and, with [`JobsConfig::slots_dir`], the `flock` of one slot file (closed
/// with the `File`).
struct Slot {
    running: Arc<AtomicUsize>,
    _lock: Option<File>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LocalRunner {
    /// A runner with these settings and no job running.
    pub fn new(config: JobsConfig) -> Self {
        LocalRunner {
            config: Arc::new(config),
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The settings.
    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    /// Jobs started by this process (through this runner or its clones) still running.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Starts `spec` detached and waits up to `job_start_wait` for an early exit.
    ///
    /// Ok (the job still runs, or already exited 0) → the [`JobRecord`] to store.
    /// Errors: [`JobError::TooMany`] (`max_jobs` reached), [`JobError::EarlyExit`]
    /// with the log tail (non-zero exit or signal), [`JobError::Io`] (cwd, log, spawn),
    /// [`JobError::InvalidValue`] (NUL byte in an argument).
    /// A reaper thread waits for the child (no zombie) and enforces `job_time_limit`.
    pub fn start(&self, spec: &JobSpec) -> Result<JobRecord, JobError> {
        self.start_many(std::slice::from_ref(spec))?
            .pop()
            .unwrap_or_else(|| Err(JobError::invalid("specs", "empty")))
    }

    /// Starts several jobs at once (a batch redo: one job per output, one shared
    /// command id) and waits ONE `job_start_wait` for early exits of any of them.
    ///
    /// Outer error: [`JobError::TooMany`] when fewer than `specs.len()` slots of
    /// `max_jobs` are free (nothing started). Otherwise one result per spec, in
    /// order, as [`LocalRunner::start`]; store every Ok record even when others failed.
    pub fn start_many(
        &self,
        specs: &[JobSpec],
    ) -> Result<Vec<Result<JobRecord, JobError>>, JobError> {
        let mut slots = self.acquire_n(specs.len())?;
        let mut started = Vec::with_capacity(specs.len());
        for spec in specs {
            let slot = slots.pop().expect("one slot per spec");
            started.push(self.spawn_detached(spec, slot));
        }
        let deadline = Instant::now() + self.config.job_start_wait;
        Ok(started
            .into_iter()
            .zip(specs)
            .map(|(res, spec)| {
                let (record, rx) = res?;
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(status) if status.success() => Ok(record),
                    Ok(status) => Err(JobError::EarlyExit {
                        status: describe(status),
                        log_tail: log_tail(&spec.log_file),
                    }),
                    Err(_) => Ok(record),
                }
            })
            .collect())
    }

    /// Spawns one job with its reaper thread; the receiver gets its exit status.
    fn spawn_detached(
        &self,
        spec: &JobSpec,
        slot: Slot,
    ) -> Result<(JobRecord, mpsc::Receiver<ExitStatus>), JobError> {
        let (mut command, argv) = self.prepare(spec)?;
        let child = command
            .spawn()
            .map_err(|e| JobError::io("cannot start bash", e))?;
        let pgid = child.id() as i32;
        let start_ticks = procfs::stat(pgid).map(|s| s.start_ticks).unwrap_or(0);
        let record = JobRecord {
            command_id: spec.command_id.clone(),
            runner: "local".to_string(),
            host: procfs::hostname(),
            pid_namespace: procfs::pid_namespace(),
            pgid,
            start_ticks,
            started_at: Utc::now(),
            argv,
            cwd: spec.cwd.clone(),
            log_file: spec.log_file.clone(),
            user: None,
        };
        let (tx, rx) = mpsc::channel();
        let limit = self.config.job_time_limit;
        let grace = self.config.stop_grace;
        let log_file = spec.log_file.clone();
        thread::Builder::new()
            .name(format!("qa-job-{pgid}"))
            .spawn(move || reap(child, limit, grace, &log_file, tx, slot))
            .map_err(|e| {
                // The child went with the failed closure: kill it rather than leave it unwatched.
                signal_group(pgid, Signal::KILL);
                JobError::io("cannot start the reaper thread", e)
            })?;
        Ok((record, rx))
    }

    /// Runs `spec` to completion, stdout captured, stderr appended to the log file.
    /// Used for `qa batch --list` (~60 s) and `qa save-artifacts`; counts toward `max_jobs`.
    ///
    /// Errors: [`JobError::TooMany`], [`JobError::TimedOut`] (the process group was
    /// killed), [`JobError::Failed`] (non-zero exit, with stdout and log tail), [`JobError::Io`].
    pub fn run(&self, spec: &JobSpec, timeout: Duration) -> Result<Completed, JobError> {
        let _slot = self.acquire()?;
        let (mut command, _argv) = self.prepare(spec)?;
        command.stdout(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| JobError::io("cannot start bash", e))?;
        let pgid = child.id() as i32;
        let mut pipe = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        let reader = thread::Builder::new().spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe.as_mut() {
                let _ = p.by_ref().take(MAX_STDOUT_BYTES).read_to_end(&mut buf);
                // Keep draining so the job never blocks on a full pipe.
                let _ = std::io::copy(p, &mut std::io::sink());
            }
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        if let Err(e) = reader {
            kill_group_and_wait(pgid, self.config.stop_grace);
            let _ = child.wait();
            return Err(JobError::io("cannot start the stdout reader thread", e));
        }
        let deadline = Instant::now() + timeout;
        let status = wait_until(&mut child, deadline)?;
        let stdout = match status {
            // Exited: the pipe may still be held by children it left behind.
            Some(_) => rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
            None => None,
        };
        let (Some(status), Some(stdout)) = (status, stdout) else {
            kill_group_and_wait(pgid, self.config.stop_grace);
            let _ = child.wait();
            let _ = append_line(&spec.log_file, "qaboard: killed, time limit reached");
            return Err(JobError::TimedOut {
                secs: timeout.as_secs(),
                log_tail: log_tail(&spec.log_file),
            });
        };
        if status.success() {
            Ok(Completed {
                stdout,
                log_tail: log_tail(&spec.log_file),
            })
        } else {
            Err(JobError::Failed {
                status: describe(status),
                stdout,
                log_tail: log_tail(&spec.log_file),
            })
        }
    }

    /// Stops a job from its stored record: SIGTERM to its process group, SIGKILL
    /// after `stop_grace`. A job already finished (no process of the group left,
    /// or the number reused by an unrelated process) is [`StopOutcome::AlreadyFinished`].
    ///
    /// The group is recognised by its leader's start time (while it lives) and
    /// by members carrying `QA_BATCH_COMMAND_ID=<command_id>`; anything else is
    /// left alone. The server's own process group is refused ([`JobError::InvalidValue`]).
    /// Errors: [`JobError::OtherHost`] when started on another host or PID namespace;
    /// [`JobError::StopFailed`] when processes survive SIGKILL.
    pub fn stop(&self, record: &JobRecord) -> Result<StopOutcome, JobError> {
        let (host, ns) = (procfs::hostname(), procfs::pid_namespace());
        if record.host != host || record.pid_namespace != ns {
            return Err(JobError::OtherHost {
                command_id: record.command_id.clone(),
                host: format!("{} ({})", record.host, record.pid_namespace),
                this_host: format!("{host} ({ns})"),
            });
        }
        let own_group = rustix::process::getpgrp().as_raw_nonzero().get();
        if record.pgid <= 1 || record.pgid == own_group {
            return Err(JobError::invalid(
                "pgid",
                format!("{} is not a job's process group", record.pgid),
            ));
        }
        if !is_our_group(record) {
            return Ok(StopOutcome::AlreadyFinished);
        }
        signal_group(record.pgid, Signal::TERM);
        if wait_group_gone(record.pgid, self.config.stop_grace) {
            return Ok(StopOutcome::Stopped);
        }
        if is_our_group(record) {
            signal_group(record.pgid, Signal::KILL);
        }
        if wait_group_gone(record.pgid, Duration::from_secs(5)) || !is_our_group(record) {
            Ok(StopOutcome::Stopped)
        } else {
            Err(JobError::StopFailed {
                runner: "local".to_string(),
                command_id: record.command_id.clone(),
                output: format!("process group {} survived SIGKILL", record.pgid),
            })
        }
    }

    fn acquire(&self) -> Result<Slot, JobError> {
        Ok(self.acquire_n(1)?.pop().expect("one slot"))
    }

    /// `n` slots of `max_jobs`, all or none: of this process (counter), and,
    /// with [`JobsConfig::slots_dir`], of every process sharing that folder.
    fn acquire_n(&self, n: usize) -> Result<Vec<Slot>, JobError> {
        let max = self.config.max_jobs;
        self.running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                (r + n <= max).then_some(r + n)
            })
            .map_err(|running| JobError::TooMany { running, max })?;
        let mut slots: Vec<Slot> = (0..n)
            .map(|_| Slot {
                running: self.running.clone(),
                _lock: None,
            })
            .collect();
        if let Some(dir) = &self.config.slots_dir {
            // On error the slots taken so far are dropped: counter and locks released.
            let files = lock_slot_files(dir, max, n)?;
            for (slot, file) in slots.iter_mut().zip(files) {
                slot._lock = Some(file);
            }
        }
        Ok(slots)
    }

    /// The command to spawn and its full argv (for the record).
    fn prepare(&self, spec: &JobSpec) -> Result<(Command, Vec<String>), JobError> {
        crate::argv::check_argv(&spec.argv)?;
        if spec
            .env
            .iter()
            .any(|(k, v)| k.is_empty() || k.contains(['=', '\0']) || v.contains('\0'))
        {
            return Err(JobError::invalid(
                "environment",
                "names need no '=' and no NUL byte",
            ));
        }
        let cwd = std::path::absolute(&spec.cwd)
            .map_err(|e| JobError::io_path("cannot resolve", &spec.cwd, e))?;
        fs::create_dir_all(&cwd).map_err(|e| JobError::io_path("cannot create", &cwd, e))?;
        if let Some(parent) = spec.log_file.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| JobError::io_path("cannot create", parent, e))?;
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_file)
            .map_err(|e| JobError::io_path("cannot open", &spec.log_file, e))?;
        let _ = writeln!(
            log,
            "qaboard: job {} started at {}",
            spec.command_id,
            Utc::now().to_rfc3339()
        );
        let envrcs = if spec.source_envrc {
            ancestor_envrc_files(&cwd)
        } else {
            Vec::new()
        };
        let program = if spec.umask_zero {
            ENVRC_WRAPPER_UMASK_ZERO
        } else {
            ENVRC_WRAPPER
        };
        let mut argv: Vec<String> = vec![
            "bash".into(),
            "-c".into(),
            program.into(),
            WRAPPER_NAME.into(),
        ];
        argv.extend(envrcs.iter().map(|p| p.to_string_lossy().into_owned()));
        argv.push("--".into());
        if self.config.qa_command.is_empty() {
            argv.push("qa".into());
        } else {
            argv.extend(self.config.qa_command.iter().cloned());
        }
        argv.extend(spec.argv.iter().cloned());

        let mut command = Command::new(&argv[0]);
        // envrc paths go as OsStr: lossy conversion only affects the record.
        command
            .arg("-c")
            .arg(program)
            .arg(WRAPPER_NAME)
            .args(&envrcs)
            .arg("--")
            .args(&argv[5 + envrcs.len()..])
            .current_dir(&cwd)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(|e| JobError::io_path("cannot open", &spec.log_file, e))?,
            )
            .stderr(log)
            // Own process group (safe std API; setsid would need unsafe pre_exec):
            // stop signals the whole group, and a server shutdown does not reach it.
            .process_group(0);
        Ok((command, argv))
    }
}

/// Takes `n` free slot files among `<dir>/slot-<i>.lock` (`i < max`) with a
/// non-blocking exclusive `flock` each. `flock` locks belong to the open file
/// description, so they exclude other processes and other opens in this
/// process alike, and the kernel releases them when the holder dies.
/// Errors: [`JobError::TooMany`] (fewer than `n` free; nothing kept), I/O.
fn lock_slot_files(dir: &Path, max: usize, n: usize) -> Result<Vec<File>, JobError> {
    use rustix::fs::{flock, FlockOperation};
    fs::create_dir_all(dir).map_err(|e| JobError::io_path("cannot create", dir, e))?;
    let mut held = Vec::with_capacity(n);
    let mut busy = 0;
    for i in 0..max {
        if held.len() == n {
            break;
        }
        let path = dir.join(format!("slot-{i}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| JobError::io_path("cannot open", &path, e))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => held.push(file),
            Err(rustix::io::Errno::WOULDBLOCK) => busy += 1,
            Err(e) => return Err(JobError::io_path("cannot lock", &path, e.into())),
        }
    }
    if held.len() < n {
        return Err(JobError::TooMany { running: busy, max });
    }
    Ok(held)
}

/// Waits for `child`, enforcing the time limit, then reports its status.
fn reap(
    mut child: Child,
    limit: Option<Duration>,
    grace: Duration,
    log_file: &Path,
    tx: mpsc::Sender<ExitStatus>,
    _slot: Slot,
) {
    let pgid = child.id() as i32;
    let started = Instant::now();
    let mut term_sent: Option<Instant> = None;
    let mut kill_sent = false;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if term_sent.is_some() && !kill_sent {
                    // Leftover children of a job killed for its time limit.
                    signal_group(pgid, Signal::KILL);
                }
                let _ = tx.send(status);
                return;
            }
            Ok(None) => {}
            Err(_) => return,
        }
        if let Some(limit) = limit {
            if term_sent.is_none() && started.elapsed() >= limit {
                let _ = append_line(log_file, "qaboard: killed, time limit reached");
                signal_group(pgid, Signal::TERM);
                term_sent = Some(Instant::now());
            }
        }
        if let Some(t) = term_sent {
            if !kill_sent && t.elapsed() >= grace {
                signal_group(pgid, Signal::KILL);
                kill_sent = true;
            }
        }
        thread::sleep(POLL);
    }
}

/// Polls `child` until it exits (`Some`) or `deadline` passes (`None`).
fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>, JobError> {
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| JobError::io("cannot wait for the job", e))?
        {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}

fn signal_group(pgid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pgid) {
        // ESRCH (group gone) is the expected race; nothing else can be done.
        let _ = kill_process_group(pid, signal);
    }
}

/// SIGTERM, then SIGKILL after `grace` if processes of the group remain.
fn kill_group_and_wait(pgid: i32, grace: Duration) {
    signal_group(pgid, Signal::TERM);
    if !wait_group_gone(pgid, grace) {
        signal_group(pgid, Signal::KILL);
        wait_group_gone(pgid, Duration::from_secs(5));
    }
}

/// Whether every (non-zombie) process of the group is gone within `within`.
fn wait_group_gone(pgid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if procfs::group_members(pgid).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// Whether the live processes of `record.pgid` are the recorded job: the leader,
/// when alive, has the recorded start time, AND some member carries
/// `QA_BATCH_COMMAND_ID=<command_id>` in its initial environment. The second
/// check keeps a forged or stale record (job data lives in a client-writable
/// JSON column) from signalling unrelated processes of the server's user.
fn is_our_group(record: &JobRecord) -> bool {
    let members = procfs::group_members(record.pgid);
    if let Some(leader) = members.iter().find(|m| m.pid == record.pgid) {
        if record.start_ticks != 0 && leader.start_ticks != record.start_ticks {
            return false;
        }
    }
    members
        .iter()
        .any(|m| procfs::has_env(m.pid, "QA_BATCH_COMMAND_ID", &record.command_id))
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => code.to_string(),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "unknown".to_string(),
    }
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(path)?;
    writeln!(f, "{line}")
}

/// The end of a log file (last ~8 KiB, from a line start), lossy UTF-8; empty if unreadable.
pub fn log_tail(path: &Path) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    match (start > 0, text.find('\n')) {
        (true, Some(i)) => text[i + 1..].to_string(),
        _ => text,
    }
}
