//! Stopping LSF jobs with `bkill`, possibly through `QA_RUNNERS_LSF_BRIDGE`.
//!
//! As the original `qaboard/runners/lsf.py` `stop_jobs`: `bkill -J "<command_id[:8]>*"`
//! kills every job of the command (their names are `<id8>_<12 letters>`), and
//! succeeds when stdout says "is being terminated" or "is not found" (bkill
//! exits 255 for jobs already done). The bridge is a Python format string
//! (`"ssh host su {user} {bsub_command}"`) filled with the command's fields;
//! the original ran the result with `shell=True`.
//!
//! Here the bridge TEMPLATE (an operator setting) is split into words with
//! POSIX shell rules, placeholders are filled inside each word, and the words
//! run as an argv, without a local shell. A bridge like `ssh` still hands its
//! words to a remote shell, so every substituted value must be made of
//! `[A-Za-z0-9._@%+=:,/-]` (user names, ids) and `{bsub_command}` is the
//! shell-quoted text `bkill -J '<id8>*'` (quoted by the `shlex` crate).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::error::JobError;
use crate::StopOutcome;

/// Stops the LSF jobs of a command (`runner: "lsf"` in `batch.data.commands`).
#[derive(Debug, Clone)]
pub struct LsfRunner {
    bridge: Option<String>,
    timeout: Duration,
}

impl LsfRunner {
    /// `bridge` = `QA_RUNNERS_LSF_BRIDGE` (empty or `None`: run `bkill` here);
    /// `timeout` bounds the `bkill` (ssh may hang).
    pub fn new(bridge: Option<String>, timeout: Duration) -> Self {
        LsfRunner {
            bridge: bridge.filter(|b| !b.trim().is_empty()),
            timeout,
        }
    }

    /// The argv that kills the jobs of `command_id`; `command` is its entry of
    /// `batch.data.commands` (fields such as `user` fill the bridge placeholders).
    /// Errors: [`JobError::InvalidValue`] for an unsafe id or field value, an
    /// unknown placeholder, or a bridge that does not split into words.
    pub fn bkill_argv(&self, command_id: &str, command: &Value) -> Result<Vec<String>, JobError> {
        let prefix: String = command_id.chars().take(8).collect();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(JobError::invalid("command_id", "expected a UUID"));
        }
        let pattern = format!("{prefix}*");
        let Some(bridge) = &self.bridge else {
            return Ok(vec!["bkill".into(), "-J".into(), pattern]);
        };
        let bkill_text = format!(
            "bkill -J {}",
            shlex::try_quote(&pattern)
                .map_err(|e| JobError::invalid("command_id", e.to_string()))?
        );
        let words = shlex::split(bridge)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| {
                JobError::invalid("QA_RUNNERS_LSF_BRIDGE", "not a list of shell words")
            })?;
        let lookup = |key: &str| -> Result<String, JobError> {
            match key {
                "bsub_command" => Ok(bkill_text.clone()),
                "command_id" => Ok(command_id.to_string()),
                "type" => Ok("lsf".to_string()),
                _ => {
                    let value = match command.get(key) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
                        _ => {
                            return Err(JobError::invalid(
                                "QA_RUNNERS_LSF_BRIDGE",
                                format!("the command has no field {key:?}"),
                            ))
                        }
                    };
                    if value.is_empty()
                        || !value.chars().all(is_safe_char)
                        || value.starts_with('-')
                    {
                        return Err(JobError::invalid(
                            key,
                            "refusing a value with unsafe characters",
                        ));
                    }
                    Ok(value)
                }
            }
        };
        words.iter().map(|w| format_word(w, &lookup)).collect()
    }

    /// Runs `bkill` for `command_id` (see [`LsfRunner::bkill_argv`]).
    /// Ok([`StopOutcome::Stopped`]) when stdout says "is being terminated" or
    /// "is not found"; else [`JobError::StopFailed`] with stdout and stderr.
    pub fn stop(&self, command_id: &str, command: &Value) -> Result<StopOutcome, JobError> {
        let argv = self.bkill_argv(command_id, command)?;
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| JobError::io(format!("cannot run {}", argv[0]), e))?;
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let (mut o, mut e) = (String::new(), String::new());
            if let Some(p) = out.as_mut() {
                let _ = p.read_to_string(&mut o);
            }
            if let Some(p) = err.as_mut() {
                let _ = p.read_to_string(&mut e);
            }
            let _ = tx.send((o, e));
        });
        let Ok((stdout, stderr)) = rx.recv_timeout(self.timeout) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(JobError::StopFailed {
                runner: "lsf".into(),
                command_id: command_id.into(),
                output: format!(
                    "{} did not answer within {} s",
                    argv[0],
                    self.timeout.as_secs()
                ),
            });
        };
        let _ = child.wait();
        if stdout.contains("is being terminated") || stdout.contains("is not found") {
            Ok(StopOutcome::Stopped)
        } else {
            Err(JobError::StopFailed {
                runner: "lsf".into(),
                command_id: command_id.into(),
                output: format!("{stdout}{stderr}"),
            })
        }
    }
}

fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._@%+=:,/-".contains(c)
}

/// Python `str.format` for one word: `{name}` replaced, `{{`/`}}` literal braces.
/// Conversions and format specs (`{x!r}`, `{x:>4}`) are refused.
fn format_word(
    word: &str,
    lookup: &dyn Fn(&str) -> Result<String, JobError>,
) -> Result<String, JobError> {
    let bad = |why: &str| JobError::invalid("QA_RUNNERS_LSF_BRIDGE", why.to_string());
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut key = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(k) if k.is_ascii_alphanumeric() || k == '_' => key.push(k),
                        _ => return Err(bad("only {name} placeholders are supported")),
                    }
                }
                out.push_str(&lookup(&key)?);
            }
            '}' => return Err(bad("single '}' in the format string")),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "0f3c2a9e-1111-4222-8333-444455556666";

    #[test]
    fn without_bridge() {
        let r = LsfRunner::new(None, Duration::from_secs(1));
        assert_eq!(
            r.bkill_argv(ID, &json!({})).unwrap(),
            ["bkill", "-J", "0f3c2a9e*"]
        );
        let r = LsfRunner::new(Some("  ".into()), Duration::from_secs(1));
        assert_eq!(r.bkill_argv(ID, &json!({})).unwrap()[0], "bkill");
    }

    #[test]
    fn bridge_words() {
        let r = LsfRunner::new(
            Some("ssh -o 'BatchMode yes' bridge-host su {user} {bsub_command}".into()),
            Duration::from_secs(1),
        );
        let argv = r
            .bkill_argv(ID, &json!({"user": "arthurf", "runner": "lsf"}))
            .unwrap();
        assert_eq!(
            argv,
            [
                "ssh",
                "-o",
                "BatchMode yes",
                "bridge-host",
                "su",
                "arthurf",
                "bkill -J '0f3c2a9e*'"
            ]
        );
        let r = LsfRunner::new(
            Some("sudo -u {user} bash -c {bsub_command}x{{}}".into()),
            Duration::from_secs(1),
        );
        let argv = r.bkill_argv(ID, &json!({"user": "a.b"})).unwrap();
        assert_eq!(argv[5], "bkill -J '0f3c2a9e*'x{}");
    }

    #[test]
    fn refuses_unsafe_values() {
        let r = LsfRunner::new(
            Some("ssh h su {user} {bsub_command}".into()),
            Duration::from_secs(1),
        );
        for user in [
            "a;touch pwned",
            "$(id)",
            "a b",
            "`id`",
            "-oProxyCommand=x",
            "a'b",
            "a\nb",
            "",
        ] {
            assert!(
                r.bkill_argv(ID, &json!({ "user": user })).is_err(),
                "{user:?}"
            );
        }
        assert!(r.bkill_argv(ID, &json!({})).is_err(), "missing field");
        assert!(r.bkill_argv("$(id)", &json!({"user": "a"})).is_err());
        assert!(r.bkill_argv("", &json!({"user": "a"})).is_err());
        let r = LsfRunner::new(
            Some("ssh h {user!r} {bsub_command}".into()),
            Duration::from_secs(1),
        );
        assert!(r.bkill_argv(ID, &json!({"user": "a"})).is_err());
        let r = LsfRunner::new(Some("ssh 'unterminated".into()), Duration::from_secs(1));
        assert!(r.bkill_argv(ID, &json!({"user": "a"})).is_err());
    }
}
