//! Calendar dates typed by people (`YYYY-MM-DD`): strict, and with arithmetic
//! that cannot overflow whatever the client sends.

use cunlink_core::time::DAY_MS;

/// Earliest year a market date may name (the platform has no older data).
pub const MIN_YEAR: i64 = 2000;
/// Latest year (four digits).
pub const MAX_YEAR: i64 = 9999;

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

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
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Start of the day `YYYY-MM-DD` in China time (UTC+8), in ms since the epoch.
pub fn china_day_start_ms(s: &str) -> Option<i64> {
    day_number(s)?
        .checked_mul(DAY_MS)?
        .checked_sub(8 * 3_600_000)
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
