//! Time in cunlink is i64 milliseconds since the Unix epoch, UTC, everywhere.
//!
//! People in the villages read and type times on China Standard Time, so the
//! offset and the calendar arithmetic (days since the epoch to and from
//! year/month/day, proleptic Gregorian) live here once for every crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// Village clocks: the county runs on China Standard Time (UTC+8, no daylight saving).
pub const TZ_OFFSET_MS: i64 = 8 * HOUR_MS;

/// Wall-clock now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The China-time day `ms` falls on, as days since 1970-01-01.
/// Callers pass stored or wall-clock times; a client's number must be bounded first.
pub fn china_day(ms: i64) -> i64 {
    (ms + TZ_OFFSET_MS).div_euclid(DAY_MS)
}

pub fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1-12) of year `y`.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of the date `y-m-d` (Howard Hinnant's algorithm).
/// `m` is 1-12; callers bound the year (four digits is plenty), so nothing overflows.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month 1-12, day 1-31)` of a day number (days since 1970-01-01);
/// the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for day in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(day);
            assert!((1..=days_in_month(y, m)).contains(&d));
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert!(is_leap_year(2000) && !is_leap_year(1900) && is_leap_year(2024));
    }

    #[test]
    fn china_day_starts_at_local_midnight() {
        // 2024-05-02T16:00Z is 2024-05-03 00:00 in China.
        let midnight = days_from_civil(2024, 5, 3) * DAY_MS - TZ_OFFSET_MS;
        assert_eq!(china_day(midnight), days_from_civil(2024, 5, 3));
        assert_eq!(china_day(midnight - 1), days_from_civil(2024, 5, 2));
    }
}
