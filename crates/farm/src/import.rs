//! CSV import of telemetry history (`cunlink import`), for people moving from
//! another platform. Two shapes are read, told apart by the header:
//!
//! * **long**: `ts,key,value` — one reading per line;
//! * **wide** (ThingsBoard's telemetry export): `Timestamp,<key>,<key>…` — a time
//!   and one column per key; empty cells are skipped.
//!
//! A time is milliseconds since the epoch, or `YYYY-MM-DD HH:MM:SS[.mmm]` (also
//! with `T`), read as UTC. A value is a number, `true`/`false`, or text. Fields
//! may be quoted (`"a,b"`, `""` for a quote). The whole file is parsed before
//! anything is written, so a bad line is reported by number and nothing of the
//! file is stored.

use std::io::BufRead;

use crate::telemetry::value::Keys;
use crate::telemetry::{DeviceId, Reading, Value};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
}

fn at(line: u64, message: impl Into<String>) -> ImportError {
    ImportError::Line {
        line,
        message: message.into(),
    }
}

/// Parse a whole CSV file into readings of `device`, interning keys in `keys`.
/// `progress` is called with the number of lines read, every 100,000 lines.
pub fn parse_csv(
    input: impl BufRead,
    device: DeviceId,
    keys: &Keys,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Reading>, ImportError> {
    let mut lines = input.lines();
    let header = match lines.next() {
        Some(h) => h?,
        None => return Err(at(1, "the file is empty; expected a header line")),
    };
    let header = split(header.trim_start_matches('\u{feff}'), 1)?;
    let cols: Vec<String> = header.iter().map(|c| c.trim().to_string()).collect();
    let long = cols.len() == 3
        && cols[0].eq_ignore_ascii_case("ts")
        && cols[1].eq_ignore_ascii_case("key")
        && cols[2].eq_ignore_ascii_case("value");
    let wide_keys = if long {
        Vec::new()
    } else {
        let first = cols
            .first()
            .map(|c| c.to_ascii_lowercase())
            .unwrap_or_default();
        if cols.len() < 2 || !(first == "ts" || first == "timestamp" || first == "time") {
            return Err(at(
                1,
                "the header must be 'ts,key,value' or 'Timestamp,<key>,<key>…' (ThingsBoard export)",
            ));
        }
        let mut ks = Vec::new();
        for c in &cols[1..] {
            if c.is_empty() || c.chars().count() > 64 {
                return Err(at(
                    1,
                    format!("column name '{c}' is not a key (1-64 characters)"),
                ));
            }
            ks.push(keys.intern(c));
        }
        ks
    };
    let mut out = Vec::new();
    let mut n = 1u64;
    for line in lines {
        n += 1;
        let line = line?;
        if n % 100_000 == 0 {
            progress(n);
        }
        if line.trim().is_empty() {
            continue;
        }
        let f = split(&line, n)?;
        if long {
            if f.len() != 3 {
                return Err(at(
                    n,
                    format!("expected 3 fields (ts,key,value), found {}", f.len()),
                ));
            }
            let ts = parse_ts(&f[0]).map_err(|m| at(n, m))?;
            let key = f[1].trim();
            if key.is_empty() || key.chars().count() > 64 {
                return Err(at(n, "the key must be 1-64 characters"));
            }
            out.push(Reading {
                device,
                key: keys.intern(key),
                ts,
                value: parse_value(&f[2]).map_err(|m| at(n, m))?,
            });
        } else {
            if f.len() != cols.len() {
                return Err(at(
                    n,
                    format!(
                        "expected {} fields like the header, found {}",
                        cols.len(),
                        f.len()
                    ),
                ));
            }
            let ts = parse_ts(&f[0]).map_err(|m| at(n, m))?;
            for (cell, key) in f[1..].iter().zip(&wide_keys) {
                if cell.trim().is_empty() {
                    continue;
                }
                out.push(Reading {
                    device,
                    key: *key,
                    ts,
                    value: parse_value(cell).map_err(|m| at(n, m))?,
                });
            }
        }
    }
    Ok(out)
}

/// Split one CSV line into fields, honouring double quotes.
fn split(line: &str, n: u64) -> Result<Vec<String>, ImportError> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(at(n, "a quoted field is not closed"));
    }
    fields.push(cur);
    Ok(fields)
}

/// Milliseconds since the epoch, or a UTC date-time.
pub fn parse_ts(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return if (0..=253_402_300_799_999).contains(&ms) {
            Ok(ms)
        } else {
            Err(format!("time {ms} is outside years 1970-9999"))
        };
    }
    parse_datetime(s).ok_or_else(|| {
        format!("'{s}' is not a time (milliseconds since 1970, or YYYY-MM-DD HH:MM:SS in UTC)")
    })
}

fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let (h, mi, se): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next().unwrap_or("0").parse().ok()?,
    );
    if t.next().is_some()
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=60).contains(&se)
    {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        if !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        format!("{digits:0<3}").parse().ok()?
    };
    let days_in = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if da < 1 || da > days_in[(mo - 1) as usize] {
        return None;
    }
    Some((days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se) * 1000 + ms)
}

fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A number, a boolean, or text (at most 1,024 characters, as ingest allows… and
/// finite numbers only: a CSV "NaN" is kept as text rather than guessed at).
fn parse_value(s: &str) -> Result<Value, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") {
        return Ok(Value::Bool(true));
    }
    if t.eq_ignore_ascii_case("false") {
        return Ok(Value::Bool(false));
    }
    if let Ok(x) = t.parse::<f64>()
        && x.is_finite()
    {
        return Ok(Value::Num(x));
    }
    if s.chars().count() > 1024 {
        return Err("a text value is at most 1,024 characters".into());
    }
    Ok(Value::Text(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Reading>, ImportError> {
        parse_csv(s.as_bytes(), DeviceId(1), &Keys::default(), |_| {})
    }

    #[test]
    fn negative_time_fields_are_refused() {
        assert!(parse_ts("2026-11-30 08:05:00").is_ok());
        for bad in [
            "2026-11-30 -1:00:00",
            "2026-11-30 08:-5:00",
            "2026-11-30 08:05:-1",
        ] {
            assert!(parse_ts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_and_wide_shapes() {
        let r =
            parse("ts,key,value\n1000,temperature,21.5\n2000,door,true\n3000,mode,\"auto, eco\"\n")
                .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].value, Value::Num(21.5));
        assert_eq!(r[1].value, Value::Bool(true));
        assert_eq!(r[2].value, Value::Text("auto, eco".into()));
        let w = parse("Timestamp,temperature,humidity\n2024-03-01 08:00:00,21.5,60\n2024-03-01 08:01:00.250,,61\n").unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].ts, 1_709_280_000_000);
        assert_eq!(w[2].ts, 1_709_280_060_250);
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse("ts,key,value\n1000,t,1\n1001,t\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: expected 3 fields (ts,key,value), found 2"
        );
        let e = parse("ts,key,value\n1000,t,1\nyesterday,t,2\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 3: 'yesterday' is not a time"),
            "{e}"
        );
        assert!(
            parse("nonsense\n")
                .unwrap_err()
                .to_string()
                .starts_with("line 1:")
        );
    }

    #[test]
    fn dates_match_the_epoch() {
        assert_eq!(parse_ts("1970-01-01 00:00:00"), Ok(0));
        assert_eq!(parse_ts("2000-02-29T12:00:00Z"), Ok(951_825_600_000));
        assert!(parse_ts("2001-02-29 00:00:00").is_err());
    }
}
