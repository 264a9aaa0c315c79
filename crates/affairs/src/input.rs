//! Reading and checking request bodies: a size limit before any parsing, and
//! field checks that name the field. Pages build the same JSON and go through
//! the same checks.

use axum::body::Body;
use serde_json::{Map, Value};

use crate::AffairsError;

/// Largest JSON body of any affairs request: a notice of 5 000 characters
/// with room to spare. A 10 MB body is refused with 413 before it is parsed.
pub const MAX_JSON: usize = 64 * 1024;
/// Largest photo or recording upload.
pub const MAX_FILE: usize = 4 * 1024 * 1024;

pub type Obj = Map<String, Value>;

/// Read at most `limit` bytes of `body`; more is 413 naming `field`.
pub async fn bytes(body: Body, limit: usize, field: &str) -> Result<Vec<u8>, AffairsError> {
    axum::body::to_bytes(body, limit)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| AffairsError::TooLarge {
            field: field.to_string(),
            message: format!("the request body is larger than {limit} bytes"),
        })
}

/// A JSON object body of at most [`MAX_JSON`] bytes. The notice's `body`
/// field is what makes a body large, so a too-large body names it.
pub async fn object(body: Body) -> Result<Obj, AffairsError> {
    let raw = bytes(body, MAX_JSON, "body").await?;
    match serde_json::from_slice::<Value>(&raw) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(AffairsError::invalid(
            "invalid_body",
            "body",
            "expected a JSON object",
        )),
        Err(e) => Err(AffairsError::invalid(
            "invalid_body",
            "body",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// A required text field, trimmed, 1..=`max` characters.
pub fn text(o: &Obj, field: &str, max: usize) -> Result<String, AffairsError> {
    match opt_text(o, field, max)? {
        Some(s) => Ok(s),
        None => Err(AffairsError::invalid(
            "missing_field",
            field,
            format!("{field} is required"),
        )),
    }
}

/// An optional text field; empty counts as absent.
pub fn opt_text(o: &Obj, field: &str, max: usize) -> Result<Option<String>, AffairsError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            let n = s.chars().count();
            if n == 0 {
                Ok(None)
            } else if n > max {
                Err(AffairsError::invalid(
                    "too_long",
                    field,
                    format!("{field} has {n} characters; at most {max} are allowed"),
                ))
            } else {
                Ok(Some(s.to_string()))
            }
        }
        Some(_) => Err(AffairsError::invalid(
            "invalid_field",
            field,
            format!("{field} must be text"),
        )),
    }
}

pub fn opt_bool(o: &Obj, field: &str) -> Result<bool, AffairsError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(AffairsError::invalid(
            "invalid_field",
            field,
            format!("{field} must be true or false"),
        )),
    }
}

/// An optional whole number in `lo..=hi`. Numbers outside i64 (or with a
/// fraction) are refused naming the field, never wrapped or rounded.
pub fn opt_int(o: &Obj, field: &str, lo: i64, hi: i64) -> Result<Option<i64>, AffairsError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
            _ => Err(AffairsError::invalid(
                "out_of_range",
                field,
                format!("{field} must be a whole number from {lo} to {hi}, not {v}"),
            )),
        },
    }
}

pub fn int(o: &Obj, field: &str, lo: i64, hi: i64) -> Result<i64, AffairsError> {
    opt_int(o, field, lo, hi)?.ok_or_else(|| {
        AffairsError::invalid("missing_field", field, format!("{field} is required"))
    })
}

/// One of `allowed`, required.
pub fn choice(o: &Obj, field: &str, allowed: &[&str]) -> Result<String, AffairsError> {
    let v = text(o, field, 40)?;
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(AffairsError::invalid(
            "invalid_field",
            field,
            format!("{field} must be one of {}", allowed.join(", ")),
        ))
    }
}

/// `YYYY-MM-DD`, a real date; returns (year, month, day).
pub fn date(o: &Obj, field: &str) -> Result<(i64, i64, i64), AffairsError> {
    let s = text(o, field, 10)?;
    let bad = || {
        AffairsError::invalid(
            "invalid_date",
            field,
            format!("{field} must be a date like 2026-11-30"),
        )
    };
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(bad());
    }
    let num = |p: &str| -> Result<i64, AffairsError> {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, m, d) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    if !(2000..=2100).contains(&y)
        || !(1..=12).contains(&m)
        || d < 1
        || d > cunlink_core::time::days_in_month(y, m)
    {
        return Err(bad());
    }
    Ok((y, m, d))
}

/// `YYYY-MM`.
pub fn month_str(s: &str) -> Option<String> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let m: i64 = m.parse().ok()?;
    (1..=12).contains(&m).then(|| s.to_string())
}

/// The China-time month `ms` falls in, as `YYYY-MM`.
pub fn china_month(ms: i64) -> String {
    let (y, m, _) = cunlink_core::time::civil_from_days(cunlink_core::time::china_day(ms));
    format!("{y:04}-{m:02}")
}
