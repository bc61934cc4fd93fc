//! The time bounds of the webapp's commits list (`GET /api/v1/commits`).
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Margin added on both sides of the requested window, in hours.
pub const WINDOW_MARGIN_HOURS: i64 = 3;

/// The authored-time bounds `(from, to)` (both inclusive) of the commits
/// shown for the requested window `from..to`, given the latest authored time
/// among the candidate commits.
///
/// When the window holds nothing recent, it reaches back as far before the
/// latest commit as the window is long; both ends get a 3 hour margin. The
/// bounds stay within years 1..=9999, so date arithmetic cannot overflow and
/// SQLite, which compares timestamps as ISO text, orders them right.
pub fn commits_window_bounds(
    latest: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let lowest = NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let highest = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let margin = Duration::hours(WINDOW_MARGIN_HOURS);
    let span = to.signed_duration_since(from);
    let reach_back = latest.checked_sub_signed(span).unwrap_or(lowest);
    let lower = std::cmp::min(reach_back, from)
        .checked_sub_signed(margin)
        .unwrap_or(lowest)
        .max(lowest);
    let upper = to
        .checked_add_signed(margin)
        .unwrap_or(highest)
        .min(highest);
    (lower, upper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn margins_on_both_sides() {
        let (lo, hi) = commits_window_bounds(t(2024, 1, 10), t(2024, 1, 1), t(2024, 1, 8));
        assert_eq!(lo, t(2024, 1, 1) - Duration::hours(3));
        assert_eq!(hi, t(2024, 1, 8) + Duration::hours(3));
    }

    #[test]
    fn reaches_back_from_an_old_latest_commit() {
        // Nothing since 2020: the week before the latest commit is shown.
        let (lo, _) = commits_window_bounds(t(2020, 1, 8), t(2024, 1, 1), t(2024, 1, 8));
        assert_eq!(lo, t(2020, 1, 1) - Duration::hours(3));
    }

    #[test]
    fn bounds_are_clamped_to_years_1_to_9999() {
        let end = Utc.with_ymd_and_hms(9999, 12, 31, 22, 0, 0).unwrap();
        let (lo, hi) = commits_window_bounds(t(1, 1, 1), t(1, 1, 1), end);
        assert_eq!(lo, t(1, 1, 1));
        assert_eq!(hi, Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap());
    }
}
