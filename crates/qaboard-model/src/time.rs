//! Time formatting and parsing.
//!
//! The original backend serialised datetimes with Python's `isoformat()`,
//! and clients parse them back, so the exact shapes matter:
//!
//! * naive: `2026-11-24T17:52:33.486228`, or `2026-11-24T17:52:33` when the
//!   microseconds are zero;
//! * UTC-aware: the same followed by `+00:00`;
//! * dates: `2026-11-20`.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use std::fmt::Write as _;

/// Python's `datetime.isoformat()` of a naive datetime: microsecond
/// precision (sub-microsecond digits are truncated), fraction omitted when
/// zero.
pub fn iso_naive(t: &NaiveDateTime) -> String {
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    // A leap second has nanoseconds >= 1e9, which Python cannot represent.
    let micros = (t.nanosecond() / 1000).min(999_999);
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
    out
}

/// Python's `datetime.isoformat()` of a UTC-aware datetime: like
/// [`iso_naive`], followed by `+00:00`.
pub fn iso_utc(t: &DateTime<Utc>) -> String {
    let mut out = iso_naive(&t.naive_utc());
    out.push_str("+00:00");
    out
}

/// The UTC date of a datetime, as `YYYY-MM-DD`.
pub fn iso_date_utc(t: &DateTime<Utc>) -> String {
    let d = t.date_naive();
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Parses a datetime sent by a client.
///
/// Accepted: ISO 8601 / RFC 3339 with an offset (`+02:00`, `+0200`, `Z`),
/// with or without fractional seconds and seconds, with `T` or a space
/// between date and time; naive datetimes (taken as UTC); plain dates
/// (`2023-08-21`, midnight UTC). Surrounding whitespace is ignored.
pub fn parse_client_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    }
    // Use `T` between date and time whatever the client sent.
    let mut normalized = String::with_capacity(s.len() + 5);
    for (i, c) in s.char_indices() {
        if i == 10 && (c == ' ' || c == 't') {
            normalized.push('T');
        } else {
            normalized.push(c);
        }
    }
    if let Some(rest) = normalized
        .strip_suffix('Z')
        .or_else(|| normalized.strip_suffix('z'))
    {
        normalized = format!("{rest}+00:00");
    }
    const WITH_OFFSET: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"];
    for fmt in WITH_OFFSET {
        if let Ok(t) = DateTime::parse_from_str(&normalized, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    const NAIVE: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"];
    for fmt in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(&normalized, fmt) {
            return Some(t.and_utc());
        }
    }
    parse_git_or_rfc2822(s)
}

/// git's default date format (`Fri Mar 1 10:00:00 2024 +0100`, what
/// `git log` prints and older `qa` versions sent) and RFC 2822
/// (`Fri, 01 Mar 2024 10:00:00 +0100`). The original stored these strings in
/// PostgreSQL, which parsed both.
fn parse_git_or_rfc2822(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Collapse runs of spaces: git pads nothing, but `date` pads the day.
    let words: Vec<&str> = s.split_whitespace().collect();
    let joined = words.join(" ");
    for fmt in ["%a %b %e %H:%M:%S %Y %z", "%a %b %d %H:%M:%S %Y %z"] {
        if let Ok(t) = DateTime::parse_from_str(&joined, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

/// Years a stored date may have: those of Python's `datetime` (1 to 9999),
/// which every client and both databases can represent (PostgreSQL's
/// timestamps stop at 4714 BC, SQLite keeps text that sorts only for
/// four-digit years). See `docs/robustness.md`, "Dates".
pub const STORABLE_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// `t` when its year is in [`STORABLE_YEARS`], else `None`: a date outside
/// is cosmetic and treated as absent by the writers (which log it).
pub fn storable(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    STORABLE_YEARS.contains(&t.year()).then_some(t)
}

#[cfg(test)]
mod storable_tests {
    use super::*;

    #[test]
    fn dates_outside_years_1_to_9999_are_not_storable() {
        let t = |s: &str| parse_client_datetime(s).unwrap();
        assert_eq!(
            storable(t("2024-01-01T00:00:00Z")),
            Some(t("2024-01-01T00:00:00Z"))
        );
        assert!(storable(t("0001-01-01T00:00:00Z")).is_some());
        assert!(storable(t("9999-12-31T23:59:59Z")).is_some());
        assert_eq!(storable(t("-4713-01-01T00:00:00Z")), None);
        assert_eq!(storable(t("0000-12-31T00:00:00Z")), None);
        assert_eq!(storable(t("+10000-01-01T00:00:00Z")), None);
    }
}

#[cfg(test)]
mod git_date_tests {
    use super::parse_client_datetime;

    #[test]
    fn git_default_and_rfc2822_dates_parse() {
        let want = "2024-03-01T09:00:00+00:00";
        for s in [
            "Fri Mar 1 10:00:00 2024 +0100",
            "Fri Mar  1 10:00:00 2024 +0100",
            "Fri, 01 Mar 2024 10:00:00 +0100",
            "Fri, 1 Mar 2024 10:00:00 +0100",
        ] {
            let t = parse_client_datetime(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(t.to_rfc3339(), want, "{s}");
        }
    }
}
