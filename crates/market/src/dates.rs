//! Calendar dates typed by people (`YYYY-MM-DD`): strict, and with arithmetic
//! that cannot overflow whatever the client sends.

use cunlink_core::time::{DAY_MS, TZ_OFFSET_MS, days_from_civil, days_in_month};

/// Earliest year a market date may name (the platform has no older data).
pub const MIN_YEAR: i64 = 2000;
/// Latest year (four digits).
pub const MAX_YEAR: i64 = 9999;

/// Days since 1970-01-01 of `YYYY-MM-DD` (proleptic Gregorian), or `None`
/// when it is not such a date or its year is outside [`MIN_YEAR`]..=[`MAX_YEAR`].
pub fn day_number(s: &str) -> Option<i64> {
    let mut it = s.trim().split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
    {
        return None;
    }
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(y) && all_digits(m) && all_digits(d)) {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(MIN_YEAR..=MAX_YEAR).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=days_in_month(y, m)).contains(&d)
    {
        return None;
    }
    // With the year bounded above, none of this can overflow.
    Some(days_from_civil(y, m, d))
}

/// Start of the day `YYYY-MM-DD` in China time (UTC+8), in ms since the epoch.
pub fn china_day_start_ms(s: &str) -> Option<i64> {
    day_number(s)?
        .checked_mul(DAY_MS)?
        .checked_sub(TZ_OFFSET_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_dates_and_no_overflow() {
        assert_eq!(day_number("2000-01-01"), Some(10_957));
        assert_eq!(day_number("2024-02-29"), Some(19_782));
        for bad in [
            "2023-02-29",
            "2026-04-31",
            "1969-12-31",
            "0001-01-01",
            "9223372036854775807-01-01",
            "2026-1-1-1",
            "2026-13-01",
            "+2026-01-01",
            "2026-01-",
            "",
        ] {
            assert_eq!(day_number(bad), None, "{bad}");
        }
        assert!(china_day_start_ms("9999-12-31").is_some());
    }
}
