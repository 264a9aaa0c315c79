//! Reading JSON bodies and query strings field by field, so every rejection
//! names its field.

use serde_json::{Map, Value};

use crate::error::SchoolError;

pub type Obj = Map<String, Value>;

/// Parse a request body as a JSON object.
pub fn object(body: &[u8]) -> Result<Obj, SchoolError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(SchoolError::invalid(
            "invalid_body",
            "body",
            "the body must be a JSON object",
        )),
        Err(e) => Err(SchoolError::invalid(
            "invalid_json",
            "body",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// A required string of 1..=`max` characters, trimmed.
pub fn string(o: &Obj, field: &str, max: usize) -> Result<String, SchoolError> {
    match opt_string(o, field, max)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(SchoolError::invalid(
            "missing_field",
            field,
            format!("{field} is required"),
        )),
    }
}

/// An optional string of at most `max` characters, trimmed.
pub fn opt_string(o: &Obj, field: &str, max: usize) -> Result<Option<String>, SchoolError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max {
                return Err(SchoolError::invalid(
                    "too_long",
                    field,
                    format!("{field} has at most {max} characters"),
                ));
            }
            if s.chars().any(|c| c.is_control() && c != '\n') {
                return Err(SchoolError::invalid(
                    "bad_characters",
                    field,
                    format!("{field} has control characters"),
                ));
            }
            Ok(Some(s.to_string()))
        }
        Some(_) => Err(SchoolError::invalid(
            "not_a_string",
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// An optional integer.
pub fn opt_int(o: &Obj, field: &str) -> Result<Option<i64>, SchoolError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
            SchoolError::invalid(
                "not_an_integer",
                field,
                format!("{field} must be a whole number"),
            )
        }),
        Some(_) => Err(SchoolError::invalid(
            "not_an_integer",
            field,
            format!("{field} must be a whole number"),
        )),
    }
}

pub fn int(o: &Obj, field: &str) -> Result<i64, SchoolError> {
    opt_int(o, field)?
        .ok_or_else(|| SchoolError::invalid("missing_field", field, format!("{field} is required")))
}

/// A file name inside a channel: one path segment, no control characters.
pub fn file_name(name: Option<&str>) -> Result<String, SchoolError> {
    let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Err(SchoolError::invalid(
            "missing_field",
            "name",
            "the query must name the file: ?name=FILE",
        ));
    };
    if n.chars().count() > 200
        || n == "."
        || n == ".."
        || n.contains(['/', '\\'])
        || n.chars().any(char::is_control)
    {
        return Err(SchoolError::invalid(
            "bad_name",
            "name",
            "a file name is one segment of at most 200 characters, without / or \\",
        ));
    }
    Ok(n.to_string())
}
