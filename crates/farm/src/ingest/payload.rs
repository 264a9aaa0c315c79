//! ThingsBoard device API payloads → points, validated all-or-nothing.
//!
//! Telemetry accepts `{"k":v}`, `{"ts":ms,"values":{...}}` and arrays of either.
//! Values are numbers, booleans or strings. Nested JSON where a value belongs is
//! refused with an error naming the key (we do not store JSON blobs: a chart or a
//! rule cannot use them, and a device sending them is usually misconfigured).
//! Timestamps more than a day in the future are refused (a device clock that far
//! off would poison "latest" and every rule).

use std::borrow::Cow;

use super::json::Json;
use crate::telemetry::Value;
use cunlink_core::time::DAY_MS;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 255;
/// Longest string value accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Why a payload was refused. `key` names the offending key where there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    Shape(String),
    #[error(
        "'{key}' holds {kind}; values must be numbers, booleans or strings (nested JSON is not stored)"
    )]
    NestedValue { key: String, kind: &'static str },
    #[error("'{key}' is null; send a number, boolean or string, or leave the key out")]
    NullValue { key: String },
    #[error("'ts' must be a whole number of milliseconds since 1970, got {0}")]
    BadTimestamp(String),
    #[error(
        "'ts' {ts} is more than a day in the future (server time {now}); check the device clock"
    )]
    FutureTimestamp { ts: i64, now: i64 },
    #[error("empty key; every value needs a name")]
    EmptyKey,
    #[error("key '{0}…' is longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong(String),
    #[error("'{key}' is a string longer than {MAX_TEXT_BYTES} bytes")]
    TextTooLong { key: String },
    #[error("'{name}' is not a device name: 1-128 characters without control characters")]
    BadDeviceName { name: String },
}

impl PayloadError {
    /// A short machine code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            PayloadError::MalformedJson(_) => "malformed_json",
            PayloadError::Shape(_) => "invalid_payload",
            PayloadError::NestedValue { .. } => "nested_value",
            PayloadError::NullValue { .. } => "null_value",
            PayloadError::BadTimestamp(_) => "bad_timestamp",
            PayloadError::FutureTimestamp { .. } => "future_timestamp",
            PayloadError::EmptyKey | PayloadError::KeyTooLong(_) => "bad_key",
            PayloadError::TextTooLong { .. } => "value_too_long",
            PayloadError::BadDeviceName { .. } => "bad_device_name",
        }
    }

    /// The key (or field) the problem is about.
    pub fn field(&self) -> Option<String> {
        match self {
            PayloadError::NestedValue { key, .. }
            | PayloadError::NullValue { key }
            | PayloadError::TextTooLong { key } => Some(key.clone()),
            PayloadError::BadTimestamp(_) | PayloadError::FutureTimestamp { .. } => {
                Some("ts".into())
            }
            PayloadError::KeyTooLong(k) => Some(k.clone()),
            PayloadError::BadDeviceName { name } => Some(name.clone()),
            _ => None,
        }
    }
}

/// One parsed value: key (borrowed from the body), time, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    pub key: Cow<'a, str>,
    pub ts: i64,
    pub value: Value,
}

pub fn parse_json(body: &[u8]) -> Result<Json<'_>, PayloadError> {
    Json::parse(body).map_err(|e| PayloadError::MalformedJson(e.to_string()))
}

/// Telemetry of one device, in any ThingsBoard shape. `now` stamps values without `ts`.
pub fn telemetry<'a>(
    json: Json<'a>,
    now: i64,
    out: &mut Vec<Point<'a>>,
) -> Result<(), PayloadError> {
    match json {
        Json::Arr(items) => {
            for item in items {
                match item {
                    Json::Obj(_) => telemetry_object(item, now, out)?,
                    other => {
                        return Err(PayloadError::Shape(format!(
                            "telemetry arrays must hold objects, found {}",
                            other.kind()
                        )));
                    }
                }
            }
            Ok(())
        }
        Json::Obj(_) => telemetry_object(json, now, out),
        other => Err(PayloadError::Shape(format!(
            "telemetry must be an object like {{\"temperature\":21.5}} or an array of them, found {}",
            other.kind()
        ))),
    }
}

fn telemetry_object<'a>(
    json: Json<'a>,
    now: i64,
    out: &mut Vec<Point<'a>>,
) -> Result<(), PayloadError> {
    let Json::Obj(members) = json else {
        return Ok(());
    };
    let is_ts_form = members.len() == 2
        && members.iter().any(|(k, _)| k == "ts")
        && members.iter().any(|(k, _)| k == "values");
    if !is_ts_form {
        return values(members, now, out);
    }
    let mut ts = None;
    let mut vals = None;
    for (k, v) in members {
        if k == "ts" {
            ts = Some(timestamp(&v, now)?);
        } else {
            vals = Some(v);
        }
    }
    match (ts, vals) {
        (Some(ts), Some(Json::Obj(m))) => values(m, ts, out),
        (_, Some(other)) => Err(PayloadError::Shape(format!(
            "'values' must be an object of key/value pairs, found {}",
            other.kind()
        ))),
        _ => Ok(()),
    }
}

fn values<'a>(
    members: Vec<(Cow<'a, str>, Json<'a>)>,
    ts: i64,
    out: &mut Vec<Point<'a>>,
) -> Result<(), PayloadError> {
    for (key, v) in members {
        let value = scalar(&key, v)?;
        out.push(Point { key, ts, value });
    }
    Ok(())
}

/// Check a key and turn its JSON into a [`Value`].
pub fn scalar(key: &str, v: Json<'_>) -> Result<Value, PayloadError> {
    if key.is_empty() {
        return Err(PayloadError::EmptyKey);
    }
    if key.len() > MAX_KEY_BYTES {
        let cut: String = key.chars().take(32).collect();
        return Err(PayloadError::KeyTooLong(cut));
    }
    match v {
        Json::Num(x) => Ok(Value::Num(x)),
        Json::Bool(b) => Ok(Value::Bool(b)),
        Json::Str(s) if s.len() > MAX_TEXT_BYTES => Err(PayloadError::TextTooLong {
            key: key.to_string(),
        }),
        Json::Str(s) => Ok(Value::Text(s.into_owned().into_boxed_str())),
        Json::Null => Err(PayloadError::NullValue {
            key: key.to_string(),
        }),
        other => Err(PayloadError::NestedValue {
            key: key.to_string(),
            kind: other.kind(),
        }),
    }
}

fn timestamp(v: &Json<'_>, now: i64) -> Result<i64, PayloadError> {
    let Json::Num(x) = v else {
        return Err(PayloadError::BadTimestamp(v.kind().to_string()));
    };
    if x.fract() != 0.0 || *x < 0.0 || *x > 9.0e15 {
        return Err(PayloadError::BadTimestamp(x.to_string()));
    }
    let ts = *x as i64;
    if ts > now + DAY_MS {
        return Err(PayloadError::FutureTimestamp { ts, now });
    }
    Ok(ts)
}

/// Client attributes: a flat object of scalar values.
pub fn attributes<'a>(
    json: Json<'a>,
    now: i64,
    out: &mut Vec<Point<'a>>,
) -> Result<(), PayloadError> {
    match json {
        Json::Obj(m) => values(m, now, out),
        other => Err(PayloadError::Shape(format!(
            "attributes must be an object of key/value pairs, found {}",
            other.kind()
        ))),
    }
}

/// Per-device payloads of a gateway message: `{"Device A": <payload>, ...}`.
/// Device names are checked here; each payload is parsed by `per_device`.
pub fn gateway<'a>(
    json: Json<'a>,
    now: i64,
    per_device: fn(Json<'a>, i64, &mut Vec<Point<'a>>) -> Result<(), PayloadError>,
) -> Result<Vec<(Cow<'a, str>, Vec<Point<'a>>)>, PayloadError> {
    let Json::Obj(devices) = json else {
        return Err(PayloadError::Shape(format!(
            "gateway messages must be an object keyed by device name, like {{\"Ear tag 0412\":[{{\"ts\":..,\"values\":{{..}}}}]}}, found {}",
            json.kind()
        )));
    };
    let mut out = Vec::with_capacity(devices.len());
    for (name, payload) in devices {
        check_device_name(&name)?;
        let mut points = Vec::new();
        per_device(payload, now, &mut points)?;
        out.push((name, points));
    }
    Ok(out)
}

pub fn check_device_name(name: &str) -> Result<(), PayloadError> {
    let n = name.trim();
    if n.is_empty()
        || n.chars().count() > crate::model::MAX_NAME_CHARS
        || n.chars().any(char::is_control)
    {
        return Err(PayloadError::BadDeviceName {
            name: name.chars().take(64).collect(),
        });
    }
    Ok(())
}

/// `v1/gateway/connect`: `{"device":"Ear tag 0412","type":"ear-tag"}`.
pub fn gateway_connect<'a>(json: &'a Json<'a>) -> Result<(&'a str, Option<&'a str>), PayloadError> {
    let name = json.get("device").and_then(Json::as_str).ok_or_else(|| {
        PayloadError::Shape(
            "gateway connect needs {\"device\":\"<name>\"} and optionally \"type\"".into(),
        )
    })?;
    check_device_name(name)?;
    Ok((name, json.get("type").and_then(Json::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn parse(body: &str) -> Result<Vec<(String, i64, Value)>, PayloadError> {
        let json = parse_json(body.as_bytes())?;
        let mut out = Vec::new();
        telemetry(json, NOW, &mut out)?;
        Ok(out
            .into_iter()
            .map(|p| (p.key.into_owned(), p.ts, p.value))
            .collect())
    }

    #[test]
    fn every_thingsboard_shape_parses() {
        assert_eq!(
            parse(r#"{"t":21.5,"on":true,"s":"ok"}"#).unwrap(),
            vec![
                ("t".into(), NOW, Value::Num(21.5)),
                ("on".into(), NOW, Value::Bool(true)),
                ("s".into(), NOW, Value::Text("ok".into())),
            ]
        );
        assert_eq!(
            parse(r#"{"ts":1700000000000,"values":{"t":1}}"#).unwrap(),
            vec![("t".into(), 1_700_000_000_000, Value::Num(1.0))]
        );
        assert_eq!(
            parse(r#"[{"a":1},{"ts":5,"values":{"b":2}}]"#).unwrap(),
            vec![
                ("a".into(), NOW, Value::Num(1.0)),
                ("b".into(), 5, Value::Num(2.0))
            ]
        );
    }

    #[test]
    fn a_plain_object_with_a_ts_key_is_just_values() {
        assert_eq!(parse(r#"{"ts":5,"t":1}"#).unwrap().len(), 2);
    }

    #[test]
    fn bad_input_names_the_problem() {
        assert!(matches!(parse("{"), Err(PayloadError::MalformedJson(_))));
        assert_eq!(
            parse(r#"{"t":{"x":1}}"#),
            Err(PayloadError::NestedValue {
                key: "t".into(),
                kind: "an object"
            })
        );
        assert_eq!(
            parse(r#"{"t":[1]}"#).unwrap_err().field().as_deref(),
            Some("t")
        );
        assert_eq!(
            parse(r#"{"t":null}"#),
            Err(PayloadError::NullValue { key: "t".into() })
        );
        assert!(matches!(
            parse(&format!(
                r#"{{"ts":{},"values":{{"t":1}}}}"#,
                NOW + DAY_MS + 1
            )),
            Err(PayloadError::FutureTimestamp { .. })
        ));
        assert!(matches!(
            parse(r#"{"ts":1.5,"values":{"t":1}}"#),
            Err(PayloadError::BadTimestamp(_))
        ));
        assert!(matches!(
            parse(r#"{"ts":"x","values":{"t":1}}"#),
            Err(PayloadError::BadTimestamp(_))
        ));
        assert!(matches!(parse("42"), Err(PayloadError::Shape(_))));
        assert!(matches!(parse("[1]"), Err(PayloadError::Shape(_))));
        assert!(matches!(parse(r#"{"":1}"#), Err(PayloadError::EmptyKey)));
    }

    #[test]
    fn gateway_payloads_take_every_shape_per_device() {
        let body = r#"{"Ear tag 0412":[{"ts":10,"values":{"temperature":38.4}}],"Ear tag 0413":{"temperature":38.1},"B":[{"x":1},{"y":2}]}"#;
        let json = parse_json(body.as_bytes()).unwrap();
        let devs = gateway(json, NOW, telemetry).unwrap();
        assert_eq!(devs.len(), 3);
        assert_eq!(devs[0].0, "Ear tag 0412");
        assert_eq!(devs[0].1[0].ts, 10);
        assert_eq!(devs[1].1[0].ts, NOW);
        assert_eq!(devs[2].1.len(), 2);
    }

    #[test]
    fn gateway_errors_are_all_or_nothing() {
        let json = parse_json(br#"{"A":{"t":1},"B":{"t":{"deep":1}}}"#).unwrap();
        assert!(matches!(
            gateway(json, NOW, telemetry),
            Err(PayloadError::NestedValue { .. })
        ));
        let json = parse_json(b"[1,2]").unwrap();
        assert!(gateway(json, NOW, telemetry).is_err());
    }

    #[test]
    fn gateway_connect_reads_name_and_type() {
        let json = parse_json(br#"{"device":"Ear tag 0412","type":"ear-tag"}"#).unwrap();
        assert_eq!(
            gateway_connect(&json).unwrap(),
            ("Ear tag 0412", Some("ear-tag"))
        );
    }
}
