//! Linux `/proc` readings: who we are, and which processes form a process group.

use std::fs;

/// One process as seen in `/proc/<pid>/stat` (proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub pid: i32,
    /// State letter (`R`, `S`, `Z` zombie, `X` dead…).
    pub state: char,
    pub pgid: i32,
    /// Field 22: start time in clock ticks after boot.
    pub start_ticks: u64,
}

/// Parses the text of `/proc/<pid>/stat`; the command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are
/// counted after the LAST `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field n is rest[n - 3].
    Some(ProcStat {
        pid,
        state: rest.first()?.chars().next()?,
        pgid: rest.get(2)?.parse().ok()?,
        start_ticks: rest.get(19)?.parse().ok()?,
    })
}

/// `/proc/<pid>/stat` of one process, `None` if it is gone.
pub(crate) fn stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Live (not zombie) processes whose process group is `pgid`.
pub(crate) fn group_members(pgid: i32) -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .filter(|s| s.pgid == pgid && s.state != 'Z' && s.state != 'X')
        .collect()
}

/// Whether `/proc/<pid>/environ` holds exactly `KEY=value` (false when unreadable).
pub(crate) fn has_env(pid: i32, key: &str, value: &str) -> bool {
    let Ok(bytes) = fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let wanted = format!("{key}={value}");
    bytes.split(|b| *b == 0).any(|e| e == wanted.as_bytes())
}

/// This machine's host name.
pub(crate) fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// This process's PID namespace, e.g. `pid:[4026531836]`.
pub(crate) fn pid_namespace() -> String {
    fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let line =
            "1234 (qa (x) y) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.pid, s.state, s.pgid, s.start_ticks),
            (1234, 'S', 1234, 98765)
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn reads_self() {
        let me = stat(std::process::id() as i32).unwrap();
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(!hostname().is_empty());
        assert!(pid_namespace().starts_with("pid:"));
    }
}
