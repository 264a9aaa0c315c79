//! Reading request bodies: every field is checked here with its name, so a bad
//! value answers 400 naming the field before anything is written.

use serde_json::{Map, Value};

use crate::error::ClinicError;

pub type Obj = Map<String, Value>;

/// Largest JSON body the clinic reads (a prescription with many lines fits).
pub const MAX_BODY: usize = 64 * 1024;

/// The body as a JSON object.
pub fn object(body: &[u8]) -> Result<Obj, ClinicError> {
    if body.len() > MAX_BODY {
        return Err(ClinicError::invalid("body_too_large", "body", format!("at most {MAX_BODY} bytes are accepted")));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ClinicError::invalid("invalid_json", "body", "the body must be a JSON object")),
        Err(e) => Err(ClinicError::invalid("invalid_json", "body", format!("the body is not valid JSON: {e}"))),
    }
}

/// A required text field of 1..=`max` characters (trimmed).
pub fn text<'a>(o: &'a Obj, field: &str, max: usize) -> Result<&'a str, ClinicError> {
    match o.get(field) {
        None | Some(Value::Null) => Err(ClinicError::invalid("missing_field", field, format!("'{field}' is required"))),
        Some(v) => text_value(v, field, max),
    }
}

/// An optional text field; empty counts as absent.
pub fn opt_text<'a>(o: &'a Obj, field: &str, max: usize) -> Result<Option<&'a str>, ClinicError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => text_value(v, field, max).map(Some),
    }
}

/// Optional text that may be empty, defaulting to "" (SOAP sections).
pub fn text_or_empty<'a>(o: &'a Obj, field: &str, max: usize) -> Result<&'a str, ClinicError> {
    Ok(opt_text(o, field, max)?.unwrap_or(""))
}

fn text_value<'a>(v: &'a Value, field: &str, max: usize) -> Result<&'a str, ClinicError> {
    let Value::String(s) = v else {
        return Err(ClinicError::invalid("invalid_field", field, format!("'{field}' must be a string")));
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(ClinicError::invalid("missing_field", field, format!("'{field}' must not be empty")));
    }
    if s.chars().count() > max || s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ClinicError::invalid(
            "invalid_field",
            field,
            format!("'{field}' must be at most {max} characters without control characters"),
        ));
    }
    Ok(s)
}

/// A required integer field in `min..=max`.
pub fn int(o: &Obj, field: &str, min: i64, max: i64) -> Result<i64, ClinicError> {
    match o.get(field) {
        None | Some(Value::Null) => Err(ClinicError::invalid("missing_field", field, format!("'{field}' is required"))),
        Some(v) => int_value(v, field, min, max),
    }
}

pub fn int_value(v: &Value, field: &str, min: i64, max: i64) -> Result<i64, ClinicError> {
    match v.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ClinicError::invalid(
            "invalid_field",
            field,
            format!("'{field}' must be a whole number from {min} to {max}"),
        )),
    }
}

/// A calendar date `YYYY-MM-DD` that exists, not after `today` (days since epoch).
pub fn past_date<'a>(o: &'a Obj, field: &str, today: i64) -> Result<&'a str, ClinicError> {
    let s = text(o, field, 10)?;
    let bad = || ClinicError::invalid("invalid_date", field, format!("'{field}' must be a date YYYY-MM-DD, not in the future"));
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|p| p.bytes().all(|c| c.is_ascii_digit())).and_then(|p| p.parse::<i64>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(bad());
    };
    if !(1850..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > cunlink_core::time::days_in_month(y, m) {
        return Err(bad());
    }
    if cunlink_core::time::days_from_civil(y, m, d) > today {
        return Err(bad());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Obj {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn dates_must_exist_and_be_past() {
        let today = cunlink_core::time::days_from_civil(2026, 11, 30);
        for bad in ["2026-02-30", "1990-13-01", "90-01-01", "1990/01/01", "2026-12-01", "１９９０-01-01"] {
            assert!(past_date(&obj(json!({"d": bad})), "d", today).is_err(), "{bad}");
        }
        assert_eq!(past_date(&obj(json!({"d": "2024-02-29"})), "d", today).unwrap(), "2024-02-29");
    }

    #[test]
    fn numbers_are_bounded() {
        assert!(int(&obj(json!({"n": -1})), "n", 1, 10).is_err());
        assert!(int(&obj(json!({"n": 1.5})), "n", 1, 10).is_err());
        assert_eq!(int(&obj(json!({"n": 3})), "n", 1, 10).unwrap(), 3);
    }
}
