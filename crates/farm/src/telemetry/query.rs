//! Time-range queries: raw points or per-interval aggregates.

use std::str::FromStr;

use super::value::Value;

/// Aggregation over an interval, as ThingsBoard names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Avg,
    Min,
    Max,
    Sum,
    Count,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown aggregation '{0}'; expected avg, min, max, sum or count")]
pub struct UnknownAgg(pub String);

impl FromStr for Agg {
    type Err = UnknownAgg;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "sum" => Agg::Sum,
            "count" => Agg::Count,
            _ => return Err(UnknownAgg(s.to_string())),
        })
    }
}

/// Aggregate ascending `points` into buckets `[start + k·interval, start + (k+1)·interval)`.
/// Each bucket is reported at its start. Text values count but do not add up;
/// booleans add up as 0/1. Empty buckets are omitted.
pub fn aggregate(
    points: &[(i64, Value)],
    start: i64,
    interval: i64,
    agg: Agg,
) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let bucket = start + (points[i].0 - start).div_euclid(interval) * interval;
        let (mut n, mut num_n, mut sum, mut min, mut max) =
            (0u64, 0u64, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
        while i < points.len() && points[i].0 < bucket + interval {
            n += 1;
            if let Some(v) = points[i].1.as_f64() {
                num_n += 1;
                sum += v;
                min = min.min(v);
                max = max.max(v);
            }
            i += 1;
        }
        let value = match agg {
            Agg::Count => Some(n as f64),
            _ if num_n == 0 => None,
            Agg::Avg => Some(sum / num_n as f64),
            Agg::Sum => Some(sum),
            Agg::Min => Some(min),
            Agg::Max => Some(max),
        };
        if let Some(v) = value {
            out.push((bucket, Value::Num(v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_aggregate_as_expected() {
        let pts: Vec<(i64, Value)> = [(0, 1.0), (5, 3.0), (10, 10.0), (25, 4.0)]
            .iter()
            .map(|(t, v)| (*t, Value::Num(*v)))
            .collect();
        let avg = aggregate(&pts, 0, 10, Agg::Avg);
        assert_eq!(
            avg,
            vec![
                (0, Value::Num(2.0)),
                (10, Value::Num(10.0)),
                (20, Value::Num(4.0))
            ]
        );
        assert_eq!(
            aggregate(&pts, 0, 100, Agg::Count),
            vec![(0, Value::Num(4.0))]
        );
        assert_eq!(
            aggregate(&pts, 0, 100, Agg::Max),
            vec![(0, Value::Num(10.0))]
        );
        assert_eq!(
            aggregate(&pts, 0, 100, Agg::Min),
            vec![(0, Value::Num(1.0))]
        );
        assert_eq!(
            aggregate(&pts, 0, 100, Agg::Sum),
            vec![(0, Value::Num(18.0))]
        );
    }
}
