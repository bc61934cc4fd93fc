//! Tiny command-line helpers (no argument-parsing dependency).
use std::time::Duration;

/// Parses `20s`, `500ms`, `2m`, `1h` or a plain number of seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s}"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("not a duration: {s}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Parses a count such as `1000000`, `1_000_000`, `1e6`, `10k` or `1M`.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = if let Some(n) = t.strip_suffix(['k', 'K']) {
        (n.to_string(), 1_000.0)
    } else if let Some(n) = t.strip_suffix('M') {
        (n.to_string(), 1_000_000.0)
    } else {
        (t.clone(), 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("not a count: {s}"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("not a count: {s}"));
    }
    Ok((v * mult).round() as u64)
}

/// The arguments after the program name, consumed front to back.
pub struct Args {
    items: std::collections::VecDeque<String>,
}

impl Args {
    /// The process arguments (without the program name).
    pub fn from_env() -> Args {
        Args {
            items: std::env::args().skip(1).collect(),
        }
    }

    /// The value of option `opt`, or an error naming it.
    pub fn value(&mut self, opt: &str) -> Result<String, String> {
        self.next().ok_or_else(|| format!("{opt} needs a value"))
    }

    /// The value of option `opt` parsed with `f`.
    pub fn parsed<T>(
        &mut self,
        opt: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, String> {
        let v = self.value(opt)?;
        f(&v).map_err(|e| format!("{opt}: {e}"))
    }
}

impl Iterator for Args {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.items.pop_front()
    }
}

/// `str::parse` with the error as a string.
pub fn parse<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| format!("invalid value '{s}'"))
}
