//! What reaches a user: severities, assets, channels, quiet hours.

use serde::{Deserialize, Serialize};

use crate::rule::Severity;

const DAY_MIN: i64 = 24 * 60;

/// A user's choices. Without a stored row, [`Prefs::default`] applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prefs {
    /// The least urgent severity that still notifies.
    pub min_severity: Severity,
    /// Asset names; empty means every asset the user can see.
    pub assets: Vec<String>,
    pub push: bool,
    pub webhook: bool,
    /// "22:00"–"07:00": only critical alarms notify in between; the rest wait
    /// until the quiet hours end (they are in the inbox at once).
    pub quiet_hours: Option<QuietHours>,
    /// Minutes east of UTC for the quiet hours (China: 480).
    pub utc_offset_min: i32,
}

impl Default for Prefs {
    fn default() -> Self {
        Prefs {
            min_severity: Severity::Warning,
            assets: Vec::new(),
            push: true,
            webhook: true,
            quiet_hours: None,
            utc_offset_min: (cunlink_core::time::TZ_OFFSET_MS / 60_000) as i32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

/// "HH:MM" → minutes after midnight. One or two digits each, nothing else
/// (`i64::parse` alone would take "+7" and "-0").
pub fn parse_hhmm(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    let digits = |x: &str| (1..=2).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// Check the one number of a preferences body before it is parsed into an
/// `i32`, so that `utc_offset_min: 9223372036854775807` is refused naming it.
pub fn check_numbers(body: &serde_json::Value) -> Result<(), (String, String)> {
    match body.get("utc_offset_min") {
        None => Ok(()),
        Some(v)
            if v.as_i64()
                .is_some_and(|n| (-14 * 60..=14 * 60).contains(&n)) =>
        {
            Ok(())
        }
        Some(v) => Err((
            "utc_offset_min".into(),
            format!("utc_offset_min must be a whole number of minutes from -840 to 840, not {v}"),
        )),
    }
}

impl Prefs {
    pub fn check(&self) -> Result<(), (String, String)> {
        if let Some(q) = &self.quiet_hours {
            for (f, v) in [("quiet_hours.start", &q.start), ("quiet_hours.end", &q.end)] {
                if parse_hhmm(v).is_none() {
                    return Err((f.into(), format!("'{v}' is not a time of day like 22:00")));
                }
            }
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_min) {
            return Err((
                "utc_offset_min".into(),
                "utc_offset_min must be between -840 and 840".into(),
            ));
        }
        Ok(())
    }

    /// When a notification of `severity`, due at `now` (ms), may leave.
    pub fn release_at(&self, severity: Severity, now: i64) -> i64 {
        let Some(q) = &self.quiet_hours else {
            return now;
        };
        let (Some(start), Some(end)) = (parse_hhmm(&q.start), parse_hhmm(&q.end)) else {
            return now;
        };
        if severity == Severity::Critical || start == end {
            return now;
        }
        let offset_ms = self.utc_offset_min as i64 * 60_000;
        let local = now + offset_ms;
        let minute = local.div_euclid(60_000).rem_euclid(DAY_MIN);
        let quiet = if start < end {
            minute >= start && minute < end
        } else {
            minute >= start || minute < end
        };
        if !quiet {
            return now;
        }
        let wait_min = (end - minute).rem_euclid(DAY_MIN);
        // To the start of the end minute.
        let into_minute = local.rem_euclid(60_000);
        now + wait_min * 60_000 - into_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_over_midnight() {
        let p = Prefs {
            quiet_hours: Some(QuietHours {
                start: "22:00".into(),
                end: "07:00".into(),
            }),
            utc_offset_min: 0,
            ..Prefs::default()
        };
        let day = 86_400_000i64;
        let at = |h: i64, m: i64| 10 * day + (h * 60 + m) * 60_000;
        assert_eq!(p.release_at(Severity::Major, at(12, 0)), at(12, 0));
        assert_eq!(p.release_at(Severity::Major, at(23, 30)), at(7, 0) + day);
        assert_eq!(p.release_at(Severity::Major, at(3, 0)), at(7, 0));
        assert_eq!(p.release_at(Severity::Critical, at(3, 0)), at(3, 0));
    }

    #[test]
    fn times_and_offsets_are_checked() {
        assert_eq!(parse_hhmm("7:05"), Some(425));
        for bad in [
            "+7:00",
            "-0:30",
            "24:00",
            "07:60",
            "007:00",
            "99999999999999999999:00",
            ":",
        ] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
        let off = |v: serde_json::Value| check_numbers(&serde_json::json!({ "utc_offset_min": v }));
        assert!(off(serde_json::json!(480)).is_ok());
        for bad in [
            serde_json::json!(i64::MAX),
            serde_json::json!(-100000),
            serde_json::json!(1.5),
        ] {
            assert_eq!(off(bad).unwrap_err().0, "utc_offset_min");
        }
    }
}
