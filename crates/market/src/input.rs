//! Reading JSON bodies field by field, so that every rejection names its field
//! and says what was expected (serde's messages do neither well for a villager's
//! app). Money and counts must be JSON integers: `12.5` fen is refused, not rounded.

use serde_json::{Map, Value};

use crate::error::MarketError;

pub type Obj = Map<String, Value>;

/// Parse a request body as a JSON object.
pub fn object(body: &[u8]) -> Result<Obj, MarketError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(MarketError::Invalid {
            code: "invalid_body",
            field: None,
            message: "the body must be a JSON object".into(),
        }),
        Err(e) => Err(MarketError::Invalid {
            code: "invalid_json",
            field: None,
            message: format!("the body is not valid JSON: {e}"),
        }),
    }
}

/// An integer field; `None` when absent or null.
pub fn opt_int(o: &Obj, field: &str, path: &str) -> Result<Option<i64>, MarketError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => Ok(Some(v)),
            None => Err(MarketError::invalid(
                if field.ends_with("_fen") {
                    "fractional_fen"
                } else {
                    "not_an_integer"
                },
                path,
                if field.ends_with("_fen") {
                    format!("{path} must be a whole number of fen (1 yuan = 100 fen), got {n}")
                } else {
                    format!("{path} must be a whole number, got {n}")
                },
            )),
        },
        Some(other) => Err(MarketError::invalid(
            "not_an_integer",
            path,
            format!("{path} must be a whole number, got {other}"),
        )),
    }
}

pub fn int(o: &Obj, field: &str, path: &str) -> Result<i64, MarketError> {
    opt_int(o, field, path)?
        .ok_or_else(|| MarketError::invalid("missing_field", path, format!("{path} is required")))
}

/// A positive amount of money in fen.
pub fn price_fen(o: &Obj, field: &str, path: &str) -> Result<i64, MarketError> {
    let v = int(o, field, path)?;
    if v <= 0 {
        return Err(MarketError::invalid(
            "bad_price",
            path,
            format!("{path} must be more than 0 fen, got {v}"),
        ));
    }
    if v > 100_000_000_00 {
        return Err(MarketError::invalid(
            "bad_price",
            path,
            format!("{path} is implausibly large"),
        ));
    }
    Ok(v)
}

pub fn opt_str<'a>(
    o: &'a Obj,
    field: &str,
    max_chars: usize,
) -> Result<Option<&'a str>, MarketError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.chars().count() > max_chars {
                return Err(MarketError::invalid(
                    "too_long",
                    field,
                    format!("{field} must be at most {max_chars} characters"),
                ));
            }
            Ok(Some(t))
        }
        Some(_) => Err(MarketError::invalid(
            "not_a_string",
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// A required, non-empty string.
pub fn string<'a>(o: &'a Obj, field: &str, max_chars: usize) -> Result<&'a str, MarketError> {
    match opt_str(o, field, max_chars)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(MarketError::invalid(
            "missing_field",
            field,
            format!("{field} is required"),
        )),
    }
}

pub fn opt_bool(o: &Obj, field: &str) -> Result<Option<bool>, MarketError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(MarketError::invalid(
            "not_a_boolean",
            field,
            format!("{field} must be true or false"),
        )),
    }
}

pub fn array<'a>(o: &'a Obj, field: &str) -> Result<Option<&'a Vec<Value>>, MarketError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(MarketError::invalid(
            "not_an_array",
            field,
            format!("{field} must be an array"),
        )),
    }
}

pub fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, MarketError> {
    v.as_object().ok_or_else(|| {
        MarketError::invalid("not_an_object", path, format!("{path} must be an object"))
    })
}
