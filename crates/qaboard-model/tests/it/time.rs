//! Time formatting like Python's `isoformat()`, and client input parsing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use qaboard_model::time::*;

fn naive(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_nano_opt(h, mi, s, nanos)
        .unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&naive(y, mo, d, h, mi, s, nanos))
}

#[test]
fn iso_naive_matches_python_isoformat() {
    assert_eq!(
        iso_naive(&naive(2026, 11, 24, 17, 52, 33, 486_228_000)),
        "2026-11-24T17:52:33.486228"
    );
    assert_eq!(
        iso_naive(&naive(2026, 11, 24, 17, 52, 33, 0)),
        "2026-11-24T17:52:33"
    );
    // Sub-microsecond digits are truncated, and a zero microsecond part omitted.
    assert_eq!(
        iso_naive(&naive(2026, 11, 24, 17, 52, 33, 999)),
        "2026-11-24T17:52:33"
    );
    assert_eq!(
        iso_naive(&naive(2026, 11, 24, 17, 52, 33, 1_999)),
        "2026-11-24T17:52:33.000001"
    );
    assert_eq!(
        iso_naive(&naive(2026, 1, 2, 3, 4, 5, 500_000_000)),
        "2026-01-02T03:04:05.500000"
    );
    assert_eq!(
        iso_naive(&naive(999, 1, 2, 0, 0, 0, 0)),
        "0999-01-02T00:00:00"
    );
}

#[test]
fn iso_utc_matches_python_isoformat() {
    assert_eq!(
        iso_utc(&utc(2026, 11, 20, 10, 0, 0, 0)),
        "2026-11-20T10:00:00+00:00"
    );
    assert_eq!(
        iso_utc(&utc(2026, 11, 24, 17, 53, 38, 547_529_123)),
        "2026-11-24T17:53:38.547529+00:00"
    );
}

#[test]
fn iso_date_utc_is_the_utc_day() {
    assert_eq!(
        iso_date_utc(&utc(2026, 11, 20, 23, 59, 59, 0)),
        "2026-11-20"
    );
    assert_eq!(iso_date_utc(&utc(2026, 1, 2, 0, 0, 0, 0)), "2026-01-02");
}

#[test]
fn parses_what_clients_send() {
    let ten = utc(2026, 11, 20, 10, 0, 0, 0);
    let cases: &[(&str, DateTime<Utc>)] = &[
        ("2026-11-20T10:00:00+00:00", ten),
        ("2026-11-20T12:00:00+02:00", ten),
        ("2026-11-20T07:30:00-02:30", ten),
        ("2026-11-20T12:00:00+0200", ten),
        ("2026-11-20T12:00:00+02", ten),
        ("2026-11-20T10:00:00Z", ten),
        ("2026-11-20T10:00:00z", ten),
        ("2026-11-20 10:00:00+00:00", ten),
        ("2026-11-20 10:00:00", ten),
        ("2026-11-20T10:00:00", ten),
        ("2026-11-20T10:00", ten),
        ("2026-11-20T10:00Z", ten),
        ("  2026-11-20T10:00:00Z  ", ten),
        (
            "2026-11-24T17:53:38.547529+00:00",
            utc(2026, 11, 24, 17, 53, 38, 547_529_000),
        ),
        (
            "2026-11-24 17:53:38.547529",
            utc(2026, 11, 24, 17, 53, 38, 547_529_000),
        ),
        ("2023-08-21T00:00:00.000Z", utc(2023, 8, 21, 0, 0, 0, 0)),
        ("2023-08-21", utc(2023, 8, 21, 0, 0, 0, 0)),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_client_datetime(input),
            Some(*expected),
            "parse_client_datetime({input:?})"
        );
    }
}

#[test]
fn rejects_garbage() {
    for input in [
        "",
        "yesterday",
        "2023-13-01",
        "2023-02-30",
        "2026-11-20T25:00:00",
        "2026-11-20T10:00:00+00:00 extra",
        "20261120",
    ] {
        assert_eq!(
            parse_client_datetime(input),
            None,
            "parse_client_datetime({input:?})"
        );
    }
}

#[test]
fn formatting_round_trips() {
    let t = utc(2026, 11, 24, 17, 53, 38, 547_529_000);
    assert_eq!(parse_client_datetime(&iso_utc(&t)), Some(t));
    assert_eq!(parse_client_datetime(&iso_naive(&t.naive_utc())), Some(t));
}
