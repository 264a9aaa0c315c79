//! Locales: zh-CN (default) and en, strings from small YAML files embedded at
//! compile time, and locale-aware formatting of numbers, times and units.
//!
//! We use our own loader instead of `rust-i18n`: the files are a flat YAML subset
//! (`dotted.key: "text"`, `#` comments), which a 30-line parser reads, and every
//! domain crate adds its own files at wiring time ([`crate::KitBuilder::locale`]),
//! which a compile-time macro over one directory cannot do.
//! A missing key falls back to zh-CN, then to the key itself, so a gap shows
//! as `farm.something` on the page instead of an empty space.

use std::collections::HashMap;

pub use cunlink_core::time::TZ_OFFSET_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    ZhCn,
    En,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    pub fn code(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    /// The language's own name, shown on the switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Locale::ZhCn => "中文",
            Locale::En => "English",
        }
    }

    /// Parse a stored or submitted code; unknown codes give `None`.
    pub fn parse(code: &str) -> Option<Locale> {
        match code.trim().to_ascii_lowercase().as_str() {
            "zh-cn" | "zh" | "zh-hans" => Some(Locale::ZhCn),
            "en" | "en-us" | "en-gb" => Some(Locale::En),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("locale file line {line}: {problem}")]
pub struct LocaleFileError {
    pub line: usize,
    pub problem: &'static str,
}

/// Parse the flat YAML subset: `key: value` or `key: "value"` per line.
pub fn parse_locale_file(text: &str) -> Result<Vec<(String, String)>, LocaleFileError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |problem| LocaleFileError {
            line: i + 1,
            problem,
        };
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| err("expected 'key: value'"))?;
        let k = k.trim();
        if k.is_empty() || k.contains(' ') {
            return Err(err("a key is one word of letters, digits, '.', '_' or '-'"));
        }
        let v = v.trim();
        let v = if let Some(inner) = v.strip_prefix('"') {
            let inner = inner
                .strip_suffix('"')
                .ok_or_else(|| err("unterminated quote"))?;
            inner.replace("\\\"", "\"").replace("\\n", "\n")
        } else {
            v.to_string()
        };
        out.push((k.to_string(), v));
    }
    Ok(out)
}

/// All strings of all locales.
#[derive(Default)]
pub struct Catalog {
    maps: HashMap<Locale, HashMap<String, String>>,
}

impl Catalog {
    pub fn add(&mut self, locale: Locale, text: &str) -> Result<(), LocaleFileError> {
        let map = self.maps.entry(locale).or_default();
        for (k, v) in parse_locale_file(text)? {
            map.insert(k, v);
        }
        Ok(())
    }

    pub fn get<'a>(&'a self, locale: Locale, key: &'a str) -> &'a str {
        self.maps
            .get(&locale)
            .and_then(|m| m.get(key))
            .or_else(|| self.maps.get(&Locale::ZhCn).and_then(|m| m.get(key)))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// Keys present in zh-CN but missing in `locale` (a test keeps this empty).
    pub fn missing(&self, locale: Locale) -> Vec<String> {
        let (Some(base), other) = (self.maps.get(&Locale::ZhCn), self.maps.get(&locale)) else {
            return Vec::new();
        };
        let mut v: Vec<String> = base
            .keys()
            .filter(|k| other.is_none_or(|o| !o.contains_key(*k)))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

/// Formatting for one locale; what templates call.
#[derive(Clone, Copy)]
pub struct Fmt {
    pub locale: Locale,
}

impl Fmt {
    /// A number with `decimals` places and thousands grouped ("12,345.6").
    pub fn num(&self, v: f64, decimals: usize) -> String {
        if !v.is_finite() {
            return "–".into();
        }
        let s = format!("{:.*}", decimals, v.abs());
        let (int, frac) = s
            .split_once('.')
            .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
        let mut grouped = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        let sign = if v < 0.0 && s.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
            "-"
        } else {
            ""
        };
        match frac {
            Some(f) => format!("{sign}{grouped}.{f}"),
            None => format!("{sign}{grouped}"),
        }
    }

    /// Date and time of day in village time: "5月3日 14:05" / "3 May 14:05".
    pub fn datetime(&self, ts_ms: i64) -> String {
        let (_, m, d, hh, mm) = civil(ts_ms + TZ_OFFSET_MS);
        match self.locale {
            Locale::ZhCn => format!("{m}月{d}日 {hh:02}:{mm:02}"),
            Locale::En => format!("{d} {} {hh:02}:{mm:02}", MONTHS[(m - 1) as usize]),
        }
    }

    /// Time of day only ("14:05").
    pub fn time(&self, ts_ms: i64) -> String {
        let (_, _, _, hh, mm) = civil(ts_ms + TZ_OFFSET_MS);
        format!("{hh:02}:{mm:02}")
    }

    /// How long ago: "刚刚", "5 分钟前", "3 小时前", else the date.
    pub fn ago(&self, ts_ms: i64, now_ms: i64) -> String {
        let s = (now_ms - ts_ms).max(0) / 1000;
        let zh = self.locale == Locale::ZhCn;
        match s {
            0..60 => (if zh { "刚刚" } else { "just now" }).into(),
            60..3600 => {
                if zh {
                    format!("{} 分钟前", s / 60)
                } else {
                    format!("{} min ago", s / 60)
                }
            }
            3600..86400 => {
                if zh {
                    format!("{} 小时前", s / 3600)
                } else {
                    format!("{} h ago", s / 3600)
                }
            }
            _ => self.datetime(ts_ms),
        }
    }

    /// A measured value with its unit ("23.5 °C", "41 %", "1,200 步").
    pub fn value(&self, v: f64, unit: &str) -> String {
        let decimals = if v.fract() == 0.0 {
            0
        } else if unit == "°C" {
            1
        } else {
            1
        };
        let u = match (unit, self.locale) {
            ("steps", Locale::ZhCn) => "步",
            (u, _) => u,
        };
        if u.is_empty() {
            self.num(v, decimals)
        } else {
            format!("{} {u}", self.num(v, decimals))
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month, day, hour, minute) of a millisecond timestamp already shifted to
/// local time; days-from-civil inverse after Howard Hinnant's public algorithm.
fn civil(ms: i64) -> (i64, i64, i64, i64, i64) {
    use cunlink_core::time::{DAY_MS, civil_from_days};
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let rem = ms.rem_euclid(DAY_MS) / 1000;
    (y, m, d, rem / 3600, rem % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_and_round() {
        let f = Fmt {
            locale: Locale::ZhCn,
        };
        assert_eq!(f.num(12345.67, 1), "12,345.7");
        assert_eq!(f.num(-0.04, 1), "0.0");
        assert_eq!(f.num(-3.5, 1), "-3.5");
        assert_eq!(f.num(999.0, 0), "999");
    }

    #[test]
    fn dates_are_in_village_time() {
        // 2024-05-03T06:05:00Z is 14:05 in China.
        let ts = 1_714_716_300_000;
        assert_eq!(
            Fmt {
                locale: Locale::ZhCn
            }
            .datetime(ts),
            "5月3日 14:05"
        );
        assert_eq!(Fmt { locale: Locale::En }.datetime(ts), "3 May 14:05");
    }

    #[test]
    fn locale_file_subset_parses() {
        let v = parse_locale_file("# c\na.b: \"x: y\"\nc: plain\n").unwrap();
        assert_eq!(
            v,
            vec![("a.b".into(), "x: y".into()), ("c".into(), "plain".into())]
        );
        assert!(parse_locale_file("nocolon").is_err());
    }
}
