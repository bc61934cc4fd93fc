//! Running the `git` binary: isolated environment, per-call credentials,
//! bounded time.
//!
//! Why the binary and not gix for network operations: (1) a bounded fetch
//! must be *killable* — gix can only be interrupted cooperatively through a
//! flag it checks between steps, so a read stuck on a dead TCP peer or an
//! `ssh`/`git-upload-pack` child it spawned would outlive the deadline,
//! while a `git` process group can be killed; (2) gix's HTTP transport
//! (curl or reqwest) would add a large dependency tree to compile for two
//! rarely-called operations, and for `file://` and `ssh://` URLs gix spawns
//! `git-upload-pack`/`ssh` anyway; (3) `git` honours the server's proxies,
//! CA bundles and credential helpers already configured for the host.
//! Everything that reads the repository stays in-process with gix.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{GitError, Result};

/// Environment variables that would make `git` act on another repository,
/// read injected configuration or trace (and so log) HTTP headers.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_TRACE",
    "GIT_TRACE_CURL",
    "GIT_TRACE_PACKET",
    "GIT_CURL_VERBOSE",
];

/// A `git` command that cannot prompt, does not inherit repository selection
/// from the environment and refuses `ext::` URLs (which run commands).
pub(crate) fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.args(["-c", "protocol.ext.allow=never"]);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Adds an HTTP `Authorization` header for this one command, GitLab style
/// (`oauth2:<token>` as basic credentials, which GitLab accepts for personal,
/// project and OAuth access tokens). The header goes through git's
/// `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0` environment
/// (readable only by the same user, unlike arguments), never into the
/// repository's configuration, the URL or an error message.
pub(crate) fn with_token(cmd: &mut Command, token: Option<&str>) {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return;
    };
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("oauth2:{token}"));
    cmd.env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {basic}"),
        );
}

/// Runs `cmd` in its own process group; after `timeout` the whole group
/// (git and the helpers it spawned) is killed and [`GitError::Timeout`]
/// returned. `description` names the command in errors; it must not contain
/// secrets.
pub(crate) fn run(mut cmd: Command, description: String, timeout: Duration) -> Result<()> {
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let mut stderr = child.stderr.take();
    // Drained on a thread so that a chatty git cannot block on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(stderr) = stderr.as_mut() {
            // Bounded: a broken git could write forever.
            let _ = stderr.take(64 * 1024).read_to_end(&mut text);
            let _ = std::io::copy(stderr, &mut std::io::sink());
        }
        text
    });
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let stderr = String::from_utf8_lossy(&reader.join().unwrap_or_default())
        .trim()
        .to_string();
    match status {
        None => Err(GitError::Timeout {
            command: description,
            seconds: timeout.as_secs_f64(),
        }),
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(GitError::Command {
            command: description,
            status: status.to_string(),
            stderr,
        }),
    }
}

/// `git clone --mirror --quiet -- <url> <dest>`.
pub(crate) fn clone_mirror(
    url: &str,
    dest: &std::path::Path,
    token: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    let mut cmd = git_command();
    with_token(&mut cmd, token);
    cmd.args(["clone", "--mirror", "--quiet", "--"])
        .arg(url)
        .arg(dest);
    run(
        cmd,
        format!("clone --mirror -- {url} {}", dest.display()),
        timeout,
    )
}

/// `git --git-dir <git_dir> fetch --prune --quiet --no-write-fetch-head
/// origin`: every ref of a mirror, refs deleted upstream removed (nothing
/// reads `FETCH_HEAD`; git's automatic maintenance stays on, it keeps
/// long-lived mirrors packed).
pub(crate) fn fetch(
    git_dir: &std::path::Path,
    token: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    let mut cmd = git_command();
    with_token(&mut cmd, token);
    cmd.arg("--git-dir").arg(git_dir).args([
        "fetch",
        "--prune",
        "--quiet",
        "--no-write-fetch-head",
        "origin",
    ]);
    run(cmd, "fetch --prune origin".to_string(), timeout)
}
