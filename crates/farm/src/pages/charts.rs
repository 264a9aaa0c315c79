//! Time-series charts over 24 h, 7 d or 30 d, aggregated on the server into at
//! most a couple of hundred points so a chart costs a few KB on the wire.

use askama::Template;

use cunlink_web::PageCtx;

use super::readings;
use crate::telemetry::query::Agg;
use crate::telemetry::{DeviceId, TsStore};
use cunlink_core::time::DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Day,
    Week,
    Month,
}

impl Range {
    pub const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Month];

    pub fn parse(s: Option<&str>) -> Range {
        match s {
            Some("7d") => Range::Week,
            Some("30d") => Range::Month,
            _ => Range::Day,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }
    fn span_ms(self) -> i64 {
        match self {
            Range::Day => DAY_MS,
            Range::Week => 7 * DAY_MS,
            Range::Month => 30 * DAY_MS,
        }
    }
    /// Bucket width: 96, 168 and 120 points.
    fn bucket_ms(self) -> i64 {
        match self {
            Range::Day => 15 * 60_000,
            Range::Week => 3_600_000,
            Range::Month => 6 * 3_600_000,
        }
    }
}

/// One line of a chart.
pub struct Line {
    pub device: DeviceId,
    pub key: String,
    pub label: String,
}

pub struct Chart {
    pub title: String,
    pub json: String,
}

/// Build one chart per key of `lines` (lines of the same key share a chart).
/// Blocking: reads chunks from the store.
pub fn build(
    store: &TsStore,
    lines: &[Line],
    range: Range,
    now: i64,
    fixed: Option<(&str, f64)>,
) -> Vec<(String, String)> {
    let start = now - range.span_ms();
    let interval = range.bucket_ms();
    // Align buckets to the interval so a reload does not shift them.
    let start = start - start.rem_euclid(interval);
    let mut keys: Vec<&str> = lines.iter().map(|l| l.key.as_str()).collect();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let Some(kid) = store.keys.lookup(key) else {
            continue;
        };
        let group: Vec<&Line> = lines.iter().filter(|l| l.key == key).collect();
        let series: Vec<Vec<(i64, f64)>> = group
            .iter()
            .map(|l| {
                // Aggregated while read: memory follows the buckets, not the points.
                store
                    .range_aggregate(l.device, kid, start, now, interval, Agg::Avg)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(t, v)| Some((t, v.as_f64()?)))
                    .collect()
            })
            .collect();
        if series.iter().all(Vec::is_empty) {
            continue;
        }
        let json = chart_json(key, (start, interval, now), &group, &series, fixed);
        out.push((key.to_string(), json));
    }
    out
}

/// One chart's JSON: the bucket times, a line per device, and the fixed line
/// (a threshold) if any. `(start, interval, now)` give the buckets.
fn chart_json(
    key: &str,
    (start, interval, now): (i64, i64, i64),
    group: &[&Line],
    series: &[Vec<(i64, f64)>],
    fixed: Option<(&str, f64)>,
) -> String {
    let n = ((now - start) / interval + 1) as usize;
    let mut json = String::with_capacity(64 + n * 10 * (group.len() + 1));
    json.push_str("{\"unit\":\"");
    json.push_str(readings::unit(key));
    json.push_str("\",\"x\":[");
    for i in 0..n {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&((start + i as i64 * interval) / 1000).to_string());
    }
    json.push_str("],\"series\":[");
    for (i, (l, pts)) in group.iter().zip(series).enumerate() {
        if i > 0 {
            json.push(',');
        }
        let mut dense = vec![None; n];
        for (t, v) in pts {
            let idx = ((t - start) / interval) as usize;
            if idx < n {
                dense[idx] = Some(*v);
            }
        }
        push_series(&mut json, &l.label, dense.into_iter(), false);
    }
    if let Some((label, v)) = fixed {
        json.push(',');
        push_series(&mut json, label, std::iter::repeat_n(Some(v), n), true);
    }
    json.push_str("]}");
    json
}

/// One series of a chart: its label, dashed or not, and one y per bucket.
fn push_series(json: &mut String, label: &str, ys: impl Iterator<Item = Option<f64>>, dash: bool) {
    json.push_str("{\"label\":");
    json.push_str(&json_string(label));
    if dash {
        json.push_str(",\"dash\":true");
    }
    json.push_str(",\"y\":[");
    for (i, y) in ys.enumerate() {
        if i > 0 {
            json.push(',');
        }
        match y {
            Some(v) => json.push_str(&format!("{:.2}", v)),
            None => json.push_str("null"),
        }
    }
    json.push_str("]}");
}

fn json_string(s: &str) -> String {
    // `</` is escaped so the JSON cannot close the <script> it sits in.
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".into())
        .replace("</", "<\\/")
}

#[derive(Template)]
#[template(path = "charts.html")]
pub struct ChartsTpl<'a> {
    pub t: &'a PageCtx,
    pub base: String,
    pub ranges: Vec<(&'static str, &'a str, bool)>,
    pub charts: Vec<Chart>,
}

/// The charts fragment (range tabs and charts) for `base` (the page's path).
pub fn fragment<'a>(
    ctx: &'a PageCtx,
    base: String,
    range: Range,
    built: Vec<(String, String)>,
) -> ChartsTpl<'a> {
    ChartsTpl {
        t: ctx,
        ranges: Range::ALL
            .iter()
            .map(|r| {
                let key = match r {
                    Range::Day => "farm.range.day",
                    Range::Week => "farm.range.week",
                    Range::Month => "farm.range.month",
                };
                (r.code(), ctx.t(key), *r == range)
            })
            .collect(),
        charts: built
            .into_iter()
            .map(|(key, json)| Chart {
                title: format!(
                    "{} ({})",
                    readings::label(ctx, &key),
                    readings::unit_shown(ctx.fmt(), &key)
                ),
                json,
            })
            .collect(),
        base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_json_has_a_y_per_bucket_and_the_fixed_line_dashed() {
        let line = Line {
            device: DeviceId(1),
            key: "temperature".into(),
            label: "东</script>".into(),
        };
        // Buckets at 0, 60 and 120 s; a point in the middle one and one past the end.
        let series = vec![vec![(60_000, 21.456), (999_000, 5.0)]];
        let json = chart_json(
            "temperature",
            (0, 60_000, 120_000),
            &[&line],
            &series,
            Some(("阈值", 30.0)),
        );
        assert_eq!(
            json,
            r#"{"unit":"°C","x":[0,60,120],"series":[{"label":"东<\/script>","y":[null,21.46,null]},{"label":"阈值","dash":true,"y":[30.00,30.00,30.00]}]}"#
        );
    }
}
