//! Query parameters of the farm API, parsed in one place.
//!
//! Every number a client puts in a query string is checked against its allowed
//! range here, before any arithmetic: handlers only see values whose sums,
//! differences and quotients cannot overflow (release builds wrap silently, and a
//! wrapped `end - start` once sent the aggregation into an endless loop). A value
//! out of range is a `400` naming the field, answered without reading any data.

use std::ops::RangeInclusive;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::telemetry::query::Agg;
use cunlink_core::ApiError;
use cunlink_core::time::DAY_MS;

/// Largest timestamp (ms since 1970) a query may name: the bound ingest puts on
/// `ts` too, so every stored point is reachable, and far enough from `i64::MAX`
/// that `end - start`, `start + interval` and bucket arithmetic cannot overflow.
pub const MAX_TS: i64 = 9_000_000_000_000_000;
/// Raw points per key when the query names no `limit`.
pub const DEFAULT_LIMIT: usize = 10_000;
/// Most points per key one query answers.
pub const MAX_LIMIT: usize = 100_000;
/// Most buckets one aggregated query may ask for (`(end - start) / interval`).
pub const MAX_BUCKETS: i64 = 100_000;
/// Most keys one query may name (each is a read of its own).
pub const MAX_KEYS: usize = 100;
/// Most points one query answers over all its keys (`keys × limit`): what a
/// single answer may hold in memory, a few tens of MB.
pub const MAX_POINTS: usize = 1_000_000;

/// The query string as `(name, value)` pairs, percent-decoded.
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Params::from_query(parts.uri.query().unwrap_or(""))
    }
}

impl Params {
    pub fn from_query(query: &str) -> Result<Params, ApiError> {
        let uri: axum::http::Uri = format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad_request("bad_query", "the query string is malformed"))?;
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
        Ok(Params(pairs))
    }

    /// The value of `field`; absent or empty is `None`. Given twice is an error
    /// (which one was meant is not ours to guess).
    pub fn get(&self, field: &str) -> Result<Option<&str>, ApiError> {
        let mut found = self.0.iter().filter(|(k, _)| k == field);
        let first = found.next();
        if found.next().is_some() {
            return Err(ApiError::bad_request(
                "duplicate_parameter",
                format!("'{field}' is given more than once"),
            )
            .with_field(field));
        }
        Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
    }

    /// A yes/no parameter: `true`/`false` (also `1`/`0`); absent is false.
    pub fn flag(&self, field: &str) -> Result<bool, ApiError> {
        match self.get(field)? {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(ApiError::bad_request(
                "bad_flag",
                format!("'{field}' must be true or false, got '{}'", shorten(other)),
            )
            .with_field(field)),
        }
    }

    /// A whole number within `allowed`, or `None` when absent; anything else
    /// (not a number, too large for 64 bits, out of range) is `400 code` naming `field`.
    pub fn int(
        &self,
        field: &str,
        code: &'static str,
        allowed: RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.get(field)? else {
            return Ok(None);
        };
        match raw.trim().parse::<i64>() {
            Ok(v) if allowed.contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::bad_request(
                code,
                format!(
                    "'{field}' must be a whole number from {} to {}, got '{}'",
                    allowed.start(),
                    allowed.end(),
                    shorten(raw)
                ),
            )
            .with_field(field)),
        }
    }
}

/// Echo at most 40 characters of a client's value in a message.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// `start <= end`, both within `0..=MAX_TS`, inclusive at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
}

impl TimeRange {
    /// `start` and `end` from `p`; `end` defaults to `now`, `start` to `end - default_span`
    /// (not before 1970).
    pub fn parse(p: &Params, now: i64, default_span: i64) -> Result<TimeRange, ApiError> {
        let start = p.int("start", "bad_range", 0..=MAX_TS)?;
        let end = p
            .int("end", "bad_range", 0..=MAX_TS)?
            .unwrap_or_else(|| now.clamp(0, MAX_TS));
        let start = start.unwrap_or_else(|| end.saturating_sub(default_span).max(0));
        if start > end {
            return Err(ApiError::bad_request(
                "bad_range",
                format!("start ({start}) is after end ({end})"),
            )
            .with_field("start"));
        }
        Ok(TimeRange { start, end })
    }

    /// Buckets of `interval` ms the range spans (the last one may be partial).
    pub fn buckets(self, interval: i64) -> Option<i64> {
        let span = self.end.checked_sub(self.start)?;
        span.checked_div(interval)?.checked_add(1)
    }
}

/// Per-interval aggregation of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucketing {
    /// Bucket width in ms, `1..=MAX_TS`.
    pub interval: i64,
    pub agg: Agg,
}

impl Bucketing {
    /// `interval` and `agg` from `p`, checked against `range` (at most [`MAX_BUCKETS`]).
    pub fn parse(p: &Params, range: TimeRange) -> Result<Option<Bucketing>, ApiError> {
        let interval = p.int("interval", "bad_interval", 1..=MAX_TS)?;
        let agg = p.get("agg")?;
        let Some(interval) = interval else {
            if agg.is_some() {
                return Err(ApiError::bad_request(
                    "missing_interval",
                    "agg needs an interval in ms",
                )
                .with_field("interval"));
            }
            return Ok(None);
        };
        // (end - start) / interval, as documented; checked although the bounds above
        // already keep it in range.
        let over = range
            .end
            .checked_sub(range.start)
            .and_then(|span| span.checked_div(interval))
            .is_none_or(|n| n > MAX_BUCKETS);
        if over {
            return Err(ApiError::bad_request(
                "too_many_buckets",
                format!(
                    "this range and interval make more than {MAX_BUCKETS} buckets; use a larger interval"
                ),
            )
            .with_field("interval"));
        }
        let agg = match agg {
            Some(a) => a
                .parse::<Agg>()
                .map_err(|e| ApiError::bad_request("bad_agg", e.to_string()).with_field("agg"))?,
            None => Agg::Avg,
        };
        Ok(Some(Bucketing { interval, agg }))
    }
}

/// `GET /api/devices/{name}/telemetry`, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryQuery {
    /// Keys named by the client; `None`: every key the device has.
    pub keys: Option<Vec<String>>,
    pub range: TimeRange,
    pub bucketing: Option<Bucketing>,
    /// Points per key, `1..=MAX_LIMIT`; the newest are kept.
    pub limit: usize,
    pub format: Option<String>,
}

impl TelemetryQuery {
    pub fn parse(p: &Params, now: i64) -> Result<TelemetryQuery, ApiError> {
        let range = TimeRange::parse(p, now, DAY_MS)?;
        let bucketing = Bucketing::parse(p, range)?;
        let limit = match p.int("limit", "bad_limit", 1..=MAX_LIMIT as i64)? {
            // In 1..=MAX_LIMIT, so it fits a usize.
            Some(l) => l as usize,
            // Aggregates are bounded by MAX_BUCKETS already; raw points get the default cap.
            None if bucketing.is_some() => MAX_LIMIT,
            None => DEFAULT_LIMIT,
        };
        let keys = match p.get("keys")? {
            Some(list) => {
                let keys: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_string)
                    .collect();
                if keys.len() > MAX_KEYS {
                    return Err(ApiError::bad_request(
                        "too_many_keys",
                        format!("at most {MAX_KEYS} keys per query"),
                    )
                    .with_field("keys"));
                }
                Some(keys).filter(|k| !k.is_empty())
            }
            None => None,
        };
        Ok(TelemetryQuery {
            keys,
            range,
            bucketing,
            limit,
            format: p.get("format")?.map(str::to_string),
        })
    }
}

impl TelemetryQuery {
    /// Points one key can answer: `limit`, and for aggregates no more than the buckets.
    pub fn points_per_key(&self) -> usize {
        match self.bucketing {
            Some(b) => self
                .range
                .buckets(b.interval)
                .and_then(|n| usize::try_from(n).ok())
                .map_or(self.limit, |n| n.min(self.limit)),
            None => self.limit,
        }
    }

    /// Refuse a query over `keys` keys that could answer more than [`MAX_POINTS`] points.
    pub fn check_points(&self, keys: usize) -> Result<(), ApiError> {
        let per_key = self.points_per_key();
        if keys.saturating_mul(per_key) > MAX_POINTS {
            return Err(ApiError::bad_request(
                "too_many_points",
                format!(
                    "{keys} keys × {per_key} points is more than {MAX_POINTS}; ask for fewer keys, a smaller limit or a larger interval"
                ),
            )
            .with_field("limit"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<TelemetryQuery, (u16, Option<String>)> {
        let p = Params::from_query(q).map_err(|e| (e.status.as_u16(), e.field.clone()))?;
        TelemetryQuery::parse(&p, 1_800_000_000_000).map_err(|e| (e.status.as_u16(), e.field))
    }

    fn field(q: &str) -> Option<String> {
        parse(q).expect_err(q).1
    }

    #[test]
    fn defaults_are_the_last_day_and_the_default_limit() {
        let t = parse("").unwrap();
        assert_eq!(
            t.range,
            TimeRange {
                start: 1_800_000_000_000 - DAY_MS,
                end: 1_800_000_000_000
            }
        );
        assert_eq!((t.limit, t.bucketing, t.keys), (DEFAULT_LIMIT, None, None));
        let t = parse("keys=a,%20b,,&limit=5&start=0&end=10&interval=2&agg=MAX").unwrap();
        assert_eq!(t.keys, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(t.limit, 5);
        assert_eq!(
            t.bucketing,
            Some(Bucketing {
                interval: 2,
                agg: Agg::Max
            })
        );
    }

    #[test]
    fn hostile_numbers_name_their_field() {
        let cases = [
            (
                "start=-9223372036854775808&interval=9223372036854775807&agg=count",
                "start",
            ),
            ("start=0&end=9223372036854775807", "end"),
            ("start=99999999999999999999999", "start"),
            ("start=yesterday", "start"),
            ("limit=-1", "limit"),
            ("limit=0", "limit"),
            ("limit=18446744073709551616", "limit"),
            ("limit=100001", "limit"),
            ("start=0&end=10&interval=0", "interval"),
            ("start=0&end=10&interval=-5", "interval"),
            ("start=0&end=10&interval=9223372036854775807", "interval"),
            (
                "start=0&end=9000000000000000&interval=1&agg=count",
                "interval",
            ),
            ("start=10&end=5", "start"),
            ("agg=avg", "interval"),
            ("start=0&end=10&interval=1&agg=median", "agg"),
            ("limit=1&limit=2", "limit"),
        ];
        for (q, f) in cases {
            assert_eq!(field(q).as_deref(), Some(f), "{q}");
        }
        let p = Params::from_query("wait=true&no=0&bad=yes").unwrap();
        assert!(p.flag("wait").unwrap() && !p.flag("no").unwrap() && !p.flag("x").unwrap());
        assert_eq!(p.flag("bad").unwrap_err().field.as_deref(), Some("bad"));
        let q = parse("limit=100000").unwrap();
        assert!(q.check_points(10).is_ok());
        assert_eq!(
            q.check_points(11).unwrap_err().field.as_deref(),
            Some("limit")
        );
        assert!(parse("").unwrap().check_points(MAX_KEYS).is_ok());
        // Hourly buckets over a week: 169 points per key whatever the limit.
        let week = parse("start=0&end=604800000&interval=3600000&agg=avg").unwrap();
        assert_eq!(week.points_per_key(), 169);
        assert!(week.check_points(MAX_KEYS).is_ok());
        let many = format!("keys={}", vec!["k"; MAX_KEYS + 1].join(","));
        assert_eq!(field(&many).as_deref(), Some("keys"));
    }

    #[test]
    fn bucket_counts_cannot_overflow() {
        let r = TimeRange {
            start: 0,
            end: MAX_TS,
        };
        assert_eq!(r.buckets(1), Some(MAX_TS + 1));
        assert_eq!(r.buckets(0), None);
        let edge = format!("start=0&end={}&interval=1000&agg=sum", MAX_BUCKETS * 1000);
        assert!(parse(&edge).is_ok());
    }
}
