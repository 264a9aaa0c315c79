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
/// booleans add up as 0/1. Empty buckets are omitted. An `interval` below 1 is
/// taken as 1.
pub fn aggregate(
    points: &[(i64, Value)],
    start: i64,
    interval: i64,
    agg: Agg,
) -> Vec<(i64, Value)> {
    let mut a = Aggregator::new(start, interval, agg);
    for (t, v) in points {
        a.push(*t, v);
    }
    a.finish()
}

/// [`aggregate`] fed one point at a time (ascending), so a range can be aggregated
/// while it is read; memory follows the number of buckets.
///
/// Callers bound `start`, `interval` and the points' range (see [`crate::params`]);
/// the bucket arithmetic is done in 128 bits all the same, so that no input can
/// wrap it (a wrapped bucket end once kept a loop from ever advancing).
pub struct Aggregator {
    start: i128,
    interval: i128,
    agg: Agg,
    /// `[start, end)` of the bucket being filled, if any.
    bucket: Option<(i128, i128)>,
    n: u64,
    num_n: u64,
    sum: f64,
    min: f64,
    max: f64,
    out: Vec<(i64, Value)>,
}

impl Aggregator {
    pub fn new(start: i64, interval: i64, agg: Agg) -> Aggregator {
        Aggregator {
            start: i128::from(start),
            interval: i128::from(interval.max(1)),
            agg,
            bucket: None,
            n: 0,
            num_n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            out: Vec::new(),
        }
    }

    /// Add a point; `t` must not be before the previous point's.
    pub fn push(&mut self, t: i64, v: &Value) {
        let t128 = i128::from(t);
        if !self.bucket.is_some_and(|(b0, b1)| t128 >= b0 && t128 < b1) {
            self.close();
            let k = (t128 - self.start).div_euclid(self.interval);
            let b0 = self.start + k * self.interval;
            self.bucket = Some((b0, b0 + self.interval));
        }
        self.n += 1;
        if let Some(x) = v.as_f64() {
            self.num_n += 1;
            self.sum += x;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }

    fn close(&mut self) {
        let Some((b0, _)) = self.bucket.take() else {
            return;
        };
        let value = match self.agg {
            Agg::Count => Some(self.n as f64),
            _ if self.num_n == 0 => None,
            Agg::Avg => Some(self.sum / self.num_n as f64),
            Agg::Sum => Some(self.sum),
            Agg::Min => Some(self.min),
            Agg::Max => Some(self.max),
        };
        // A bucket's start lies between `start` and one of its points, both i64.
        if let (Some(v), Ok(at)) = (value, i64::try_from(b0)) {
            self.out.push((at, Value::Num(v)));
        }
        (self.n, self.num_n, self.sum) = (0, 0, 0.0);
        (self.min, self.max) = (f64::INFINITY, f64::NEG_INFINITY);
    }

    /// The buckets, ascending.
    pub fn finish(mut self) -> Vec<(i64, Value)> {
        self.close();
        self.out
    }
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

    #[test]
    fn extreme_start_and_interval_end_at_once() {
        let pts: Vec<(i64, Value)> = [(0, 1.0), (5, 3.0), (i64::MAX, 4.0)]
            .iter()
            .map(|(t, v)| (*t, Value::Num(*v)))
            .collect();
        // Before: `bucket + interval` wrapped, no point was consumed and the loop never ended.
        assert_eq!(
            aggregate(&pts, i64::MIN, i64::MAX, Agg::Count),
            vec![(-1, Value::Num(2.0)), (i64::MAX - 1, Value::Num(1.0))]
        );
        assert_eq!(aggregate(&pts, 0, 0, Agg::Count).len(), 3);
        assert_eq!(aggregate(&pts, 0, -7, Agg::Count).len(), 3);
    }
}
