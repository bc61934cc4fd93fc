//! CPU time and memory of processes, read from `/proc` (Linux only; every
//! function returns `None` when the information is unavailable).

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`;
/// 100 on every mainstream Linux configuration).
pub const CLK_TCK: f64 = 100.0;

/// `(ppid, utime + stime in ticks)` of a process.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// CPU seconds (user + system) used so far by a process (all its threads).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat(pid).map(|(_, t)| t as f64 / CLK_TCK)
}

/// CPU seconds used so far by a process and its direct children (a
/// PostgreSQL postmaster and its backends).
pub fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    let (_, own) = stat(pid)?;
    let mut total = own;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((ppid, t)) = stat(child) {
            if ppid == pid {
                total += t;
            }
        }
    }
    Some(total as f64 / CLK_TCK)
}

/// CPU seconds used so far by this process.
pub fn self_cpu_seconds() -> Option<f64> {
    cpu_seconds(std::process::id())
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`, ...), in MiB.
pub fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// CPU seconds the whole machine spent busy (all cores: user, nice, system,
/// irq, softirq, steal) since boot, from `/proc/stat`.
pub fn machine_busy_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy =
        f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7).copied().unwrap_or(0);
    Some(busy as f64 / CLK_TCK)
}

/// The 1-minute load average.
pub fn loadavg1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("State:").map(|v| v.trim().to_string()))
        })
        .is_some_and(|state| !state.starts_with('Z') && !state.starts_with('X'))
}
