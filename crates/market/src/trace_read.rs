//! What the public `/t/{code}` page may read from the farm's telemetry. Anyone
//! with a code can load the page, so the read is bounded whatever the batch says:
//!
//! * at most the last [`MAX_DAYS`] days before the harvest;
//! * at most [`MAX_DEVICES`] devices of the asset (by name) and [`MAX_KEYS`]
//!   numeric keys each;
//! * [`BUCKETS`] chart buckets; each bucket's raw points are read, folded into
//!   min / sum / max and dropped, so at most one bucket of points is in memory;
//! * a budget of [`POINT_BUDGET`] points per page, shared among the series and
//!   spent newest bucket first: when it runs out the page says which part of the
//!   period it shows;
//! * one answer per (asset, period) is kept for [`CACHE_TTL`], and at most
//!   [`CONCURRENT_READS`] readings run at once.
//!
//! The farm's public API has no bounded or aggregated range read yet, so this
//! reads each bucket window through `TsStore::range`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cunlink_core::time::DAY_MS;
use cunlink_farm::Farm;
use tokio::sync::Semaphore;

pub const MAX_DAYS: i64 = 366;
pub const MAX_DEVICES: usize = 8;
pub const MAX_KEYS: usize = 6;
pub const BUCKETS: i64 = 48;
pub const POINT_BUDGET: usize = 500_000;
pub const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_ENTRIES: usize = 256;
pub const CONCURRENT_READS: usize = 2;
/// Narrowest chart bucket: one minute.
const MIN_INTERVAL_MS: i64 = 60_000;

/// Growing conditions of one key of one device.
pub struct Series {
    pub device: String,
    pub key: String,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    pub count: usize,
    /// (bucket start, average), ascending.
    pub points: Vec<(i64, f64)>,
}

/// What the page shows, and which part of the growing period it covers.
pub struct Reading {
    pub series: Vec<Series>,
    /// Start of the period read (later than `grown_from` when clipped).
    pub from: i64,
    pub to: i64,
    /// The point budget ran out: the earliest buckets were not read.
    pub partial: bool,
}

/// The window a page may read: the growing period, clipped to the last
/// [`MAX_DAYS`] days before the harvest. `None` for an empty or inverted period.
pub fn window(grown_from: i64, harvested_at: i64) -> Option<(i64, i64)> {
    if harvested_at < grown_from {
        return None;
    }
    let earliest = harvested_at.saturating_sub(MAX_DAYS * DAY_MS);
    Some((grown_from.max(earliest), harvested_at))
}

/// Bucket width for `[from, to]` (at most [`MAX_DAYS`] wide): at most
/// [`BUCKETS`] buckets, never narrower than a minute.
pub fn interval(from: i64, to: i64) -> i64 {
    let span = to.saturating_sub(from).max(0);
    (span / BUCKETS + 1).max(MIN_INTERVAL_MS)
}

#[derive(Default)]
struct Fold {
    n: usize,
    sum: f64,
    min: f64,
    max: f64,
}

/// Read the asset's telemetry within the bounds above (blocking).
pub fn conditions(farm: &Farm, asset_id: i64, grown_from: i64, harvested_at: i64) -> Reading {
    let Some((from, to)) = window(grown_from, harvested_at) else {
        return Reading {
            series: Vec::new(),
            from: grown_from,
            to: harvested_at,
            partial: false,
        };
    };
    let store = farm.telemetry.store();
    let mut devices: Vec<_> = farm
        .registry
        .all()
        .into_iter()
        .filter(|d| d.asset_id == Some(asset_id))
        .collect();
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    devices.truncate(MAX_DEVICES);
    let mut wanted = Vec::new();
    for d in &devices {
        let keys = store
            .latest(d.id)
            .into_iter()
            .filter(|(_, _, v)| v.as_f64().is_some())
            .take(MAX_KEYS);
        for (key, _, _) in keys {
            if let Some(kid) = store.keys.lookup(&key) {
                wanted.push((d, key, kid));
            }
        }
    }
    let step = interval(from, to);
    // Buckets start at `from`; the last one ends at `to` (inclusive).
    let buckets = (to - from) / step + 1;
    let budget = POINT_BUDGET / wanted.len().max(1);
    let (mut partial, mut earliest) = (false, from);
    let mut out = Vec::new();
    for (d, key, kid) in wanted {
        let mut total = Fold {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Fold::default()
        };
        let (mut read, mut points) = (0usize, Vec::new());
        for k in (0..buckets).rev() {
            if read >= budget {
                partial = true;
                earliest = earliest.max(from + (k + 1) * step);
                break;
            }
            let start = from + k * step;
            let end = (start + step - 1).min(to);
            let Ok(raw) = store.range(d.id, kid, start, end) else {
                break;
            };
            read += raw.len();
            let mut b = Fold {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Fold::default()
            };
            for v in raw.iter().filter_map(|(_, v)| v.as_f64()) {
                b.n += 1;
                b.sum += v;
                b.min = b.min.min(v);
                b.max = b.max.max(v);
            }
            if b.n > 0 {
                points.push((start, b.sum / b.n as f64));
                total.n += b.n;
                total.sum += b.sum;
                total.min = total.min.min(b.min);
                total.max = total.max.max(b.max);
            }
        }
        if total.n == 0 {
            continue;
        }
        points.reverse();
        out.push(Series {
            device: d.name.clone(),
            key: key.to_string(),
            min: total.min,
            avg: total.sum / total.n as f64,
            max: total.max,
            count: total.n,
            points,
        });
    }
    Reading {
        series: out,
        from: earliest,
        to,
        partial,
    }
}

/// (asset, grown_from, harvested_at) → when read, and what.
type Cache = HashMap<(i64, i64, i64), (Instant, Arc<Reading>)>;

/// Recent readings and the limit on concurrent ones, shared by all page loads.
pub struct TraceReads {
    cache: Mutex<Cache>,
    permits: Semaphore,
}

impl Default for TraceReads {
    fn default() -> Self {
        TraceReads {
            cache: Mutex::new(HashMap::new()),
            permits: Semaphore::new(CONCURRENT_READS),
        }
    }
}

impl TraceReads {
    fn cached(&self, k: &(i64, i64, i64)) -> Option<Arc<Reading>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(k)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, r)| r.clone())
    }

    /// The bounded reading of `asset` over a batch's growing period.
    pub async fn read(
        &self,
        farm: Arc<Farm>,
        asset: i64,
        grown_from: i64,
        harvested_at: i64,
    ) -> Arc<Reading> {
        let k = (asset, grown_from, harvested_at);
        if let Some(r) = self.cached(&k) {
            return r;
        }
        // The semaphore is never closed; without a permit, read anyway rather than fail.
        let _permit = self.permits.acquire().await.ok();
        // Another request may have filled it while this one waited.
        if let Some(r) = self.cached(&k) {
            return r;
        }
        let r = tokio::task::spawn_blocking(move || {
            Arc::new(conditions(&farm, asset, grown_from, harvested_at))
        })
        .await
        .unwrap_or_else(|_| {
            Arc::new(Reading {
                series: Vec::new(),
                from: grown_from,
                to: harvested_at,
                partial: true,
            })
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(k, (Instant::now(), r.clone()));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decades_long_period_reads_at_most_a_year_in_few_buckets() {
        let harvest = 1_790_000_000_000;
        let (from, to) = window(i64::MIN, harvest).unwrap();
        assert_eq!(to - from, MAX_DAYS * DAY_MS);
        let step = interval(from, to);
        assert!((to - from) / step < BUCKETS, "{step}");
        // A short period keeps its start and one-minute buckets at least.
        assert_eq!(
            window(harvest - DAY_MS, harvest),
            Some((harvest - DAY_MS, harvest))
        );
        assert_eq!(interval(harvest - 60_000, harvest), 60_000);
        assert_eq!(window(harvest, harvest - 1), None);
    }
}
