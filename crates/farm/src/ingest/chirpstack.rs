//! ChirpStack v4 HTTP integration (JSON encoding): `POST …?event=up` with the
//! uplink event. The decoded `object` becomes readings of the device registered
//! with `deviceInfo.devEui`, timed by the event's `time` (else now).
//!
//! Codecs often return nested objects (`{"sensor":{"temp":21}}`): these are
//! flattened with dots (`sensor.temp`), arrays by index (`levels.0`); nulls are
//! skipped (a codec's way of saying "this sensor sent nothing").

use std::borrow::Cow;

use super::json::Json;
use super::payload::{self, PayloadError, Point};

/// The parts of an uplink event cunlink uses.
pub struct Uplink<'a> {
    pub dev_eui: String,
    pub points: Vec<Point<'a>>,
}

pub fn parse_uplink(body: &[u8], now: i64) -> Result<Uplink<'_>, PayloadError> {
    let json = payload::parse_json(body)?;
    let eui_raw = json
        .get("deviceInfo")
        .and_then(|d| d.get("devEui"))
        .and_then(Json::as_str)
        .ok_or_else(|| PayloadError::Shape("the up event has no deviceInfo.devEui".into()))?;
    let dev_eui = crate::model::parse_dev_eui(eui_raw).ok_or_else(|| {
        PayloadError::Shape(format!(
            "deviceInfo.devEui '{eui_raw}' is not 16 hex digits"
        ))
    })?;
    let ts = json
        .get("time")
        .and_then(Json::as_str)
        .and_then(parse_rfc3339_ms)
        .filter(|t| *t <= now + cunlink_core::time::DAY_MS)
        .unwrap_or(now);
    let mut points = Vec::new();
    if let Json::Obj(members) = json {
        for (k, v) in members {
            if k == "object" {
                if let Json::Obj(obj) = v {
                    for (key, val) in obj {
                        flatten(key, val, ts, &mut points)?;
                    }
                }
                break;
            }
        }
    }
    Ok(Uplink { dev_eui, points })
}

fn flatten<'a>(
    key: Cow<'a, str>,
    v: Json<'a>,
    ts: i64,
    out: &mut Vec<Point<'a>>,
) -> Result<(), PayloadError> {
    match v {
        Json::Null => Ok(()),
        Json::Obj(members) => {
            for (k, inner) in members {
                flatten(Cow::Owned(format!("{key}.{k}")), inner, ts, out)?;
            }
            Ok(())
        }
        Json::Arr(items) => {
            for (i, inner) in items.into_iter().enumerate() {
                flatten(Cow::Owned(format!("{key}.{i}")), inner, ts, out)?;
            }
            Ok(())
        }
        scalar => {
            let value = payload::scalar(&key, scalar)?;
            out.push(Point { key, ts, value });
            Ok(())
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time such as
/// `2026-11-23T06:01:02.123456789Z` or `…+08:00`.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i)?;
        let first3: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = first3.parse().ok()?;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' => 0,
        b'+' | b'-' => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            let oh: i64 = s.get(i + 1..i + 3)?.parse().ok()?;
            let om: i64 = s.get(i + 4..i + 6)?.parse().ok()?;
            sign * (oh * 60 + om)
        }
        _ => return None,
    };
    let days = cunlink_core::time::days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3_600 + mi * 60 + sec) - offset_min * 60) * 1_000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Value;

    #[test]
    fn rfc3339_times_parse() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-11-23T06:01:02.5Z"),
            Some(1_795_413_662_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-23T14:01:02.500+08:00"),
            Some(1_795_413_662_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-23T06:01:02.123456789Z"),
            Some(1_795_413_662_123)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn uplink_object_becomes_points() {
        let body = br#"{"deduplicationId":"x","time":"2026-11-23T06:01:02Z","deviceInfo":{"devEui":"70B3D57ED0001234","deviceName":"soil"},
            "fPort":1,"data":"AQI=","object":{"soil_moisture":18.5,"probe":{"depth_cm":30},"err":null,"ok":true}}"#;
        let up = parse_uplink(body, 1_900_000_000_000).unwrap();
        assert_eq!(up.dev_eui, "70b3d57ed0001234");
        let got: Vec<(String, Value)> = up
            .points
            .iter()
            .map(|p| (p.key.to_string(), p.value.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("soil_moisture".into(), Value::Num(18.5)),
                ("probe.depth_cm".into(), Value::Num(30.0)),
                ("ok".into(), Value::Bool(true)),
            ]
        );
        assert_eq!(up.points[0].ts, 1_795_413_662_000);
    }

    #[test]
    fn uplink_without_dev_eui_is_refused() {
        assert!(parse_uplink(br#"{"object":{"a":1}}"#, 0).is_err());
    }
}
