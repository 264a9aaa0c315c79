//! `/farm/herd`: every ear-tagged animal, its temperature against its own
//! baseline and against its pen, and a fever flag.
//!
//! Ear tags measure skin temperature, which runs below core temperature and
//! follows the day, so a fixed threshold misleads. For display we use:
//! * **baseline** — the mean of the animal's readings within ±30 minutes of the
//!   same time of day on each of the previous 3 days;
//! * **pen median** — the median of the latest temperatures of the animals on the
//!   same asset (barn or pen), fresh within the last hour;
//! * **fever** — latest ≥ baseline + 1.0 °C **and** ≥ pen median + 0.8 °C.
//!   The second condition keeps a hot afternoon, which warms the whole pen,
//!   from flagging every animal.
//!
//! Baselines move slowly, so each is cached for [`BASELINE_TTL_MS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use cunlink_core::time::{DAY_MS, now_ms};
use cunlink_web::layout::body;
use cunlink_web::layout::page as shell;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::{PagesState, require_farm};
use crate::model::Device;
use crate::telemetry::{DeviceId, TsStore};

pub const FEVER_OVER_BASELINE: f64 = 1.0;
pub const FEVER_OVER_PEN: f64 = 0.8;
const WINDOW_MS: i64 = 30 * 60_000;
const BASELINE_DAYS: i64 = 3;
const BASELINE_TTL_MS: i64 = 10 * 60_000;
const FRESH_MS: i64 = 3_600_000;

#[derive(Default)]
pub struct BaselineCache {
    inner: Mutex<HashMap<DeviceId, (i64, Option<f64>)>>,
}

/// One animal as the herd page shows it.
pub struct Animal {
    pub device: Arc<Device>,
    pub temp: Option<(i64, f64)>,
    pub baseline: Option<f64>,
    pub pen_median: Option<f64>,
    pub fever: bool,
}

/// Baseline of `device`'s temperature at `now` (see the module docs).
pub fn baseline(store: &TsStore, device: DeviceId, now: i64) -> Option<f64> {
    let key = store.keys.lookup("temperature")?;
    let (mut sum, mut n) = (0.0, 0usize);
    for d in 1..=BASELINE_DAYS {
        let mid = now - d * DAY_MS;
        for (_, v) in store
            .range(device, key, mid - WINDOW_MS, mid + WINDOW_MS)
            .ok()?
        {
            if let Some(x) = v.as_f64() {
                sum += x;
                n += 1;
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

pub fn is_fever(temp: f64, baseline: Option<f64>, pen_median: Option<f64>) -> bool {
    match (baseline, pen_median) {
        (Some(b), Some(m)) => temp - b >= FEVER_OVER_BASELINE && temp - m >= FEVER_OVER_PEN,
        _ => false,
    }
}

/// Assess `animals` (ear-tag devices) at `now`.
pub(crate) async fn assess(s: &PagesState, animals: &[&Arc<Device>], now: i64) -> Vec<Animal> {
    let store = s.farm.telemetry.store().clone();
    let temp_of = |d: &Device| {
        store
            .latest(d.id)
            .into_iter()
            .find(|l| l.0.as_ref() == "temperature")
            .and_then(|(_, ts, v)| Some((ts, v.as_f64()?)))
    };
    let temps: Vec<Option<(i64, f64)>> = animals.iter().map(|d| temp_of(d)).collect();
    // Baselines: cached ones now, missing ones computed off the async threads.
    let mut baselines: Vec<Option<Option<f64>>> = {
        let cache = s.herd.inner.lock().unwrap_or_else(|p| p.into_inner());
        animals
            .iter()
            .map(|d| {
                cache
                    .get(&d.id)
                    .filter(|(at, _)| now - at < BASELINE_TTL_MS)
                    .map(|(_, b)| *b)
            })
            .collect()
    };
    let missing: Vec<(usize, DeviceId)> = baselines
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_none())
        .map(|(i, _)| (i, animals[i].id))
        .collect();
    if !missing.is_empty() {
        let st = store.clone();
        let computed = tokio::task::spawn_blocking(move || {
            missing
                .into_iter()
                .map(|(i, id)| (i, id, baseline(&st, id, now)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut cache = s.herd.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (i, id, b) in computed {
            cache.insert(id, (now, b));
            baselines[i] = Some(b);
        }
    }
    // Pen medians over fresh readings, per asset.
    let mut pens: HashMap<Option<i64>, Vec<f64>> = HashMap::new();
    for (d, t) in animals.iter().zip(&temps) {
        if let Some((ts, v)) = t
            && now - ts < FRESH_MS
        {
            pens.entry(d.asset_id).or_default().push(*v);
        }
    }
    let medians: HashMap<Option<i64>, Option<f64>> =
        pens.into_iter().map(|(k, v)| (k, median(v))).collect();
    animals
        .iter()
        .zip(temps)
        .zip(baselines)
        .map(|((d, temp), b)| {
            let baseline = b.flatten();
            let pen_median = medians.get(&d.asset_id).copied().flatten();
            let fever = temp
                .is_some_and(|(ts, v)| now - ts < FRESH_MS && is_fever(v, baseline, pen_median));
            Animal {
                device: (*d).clone(),
                temp,
                baseline,
                pen_median,
                fever,
            }
        })
        .collect()
}

pub(crate) struct Row {
    pub id: i64,
    pub name: String,
    pub name_enc: String,
    pub pen: String,
    pub temp: String,
    pub baseline: String,
    pub delta: String,
    pub median: String,
    pub fever: bool,
    pub seen: String,
}

#[derive(Template)]
#[template(path = "herd.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    rows: Vec<Row>,
    fevers: usize,
}

pub(crate) async fn page(State(s): State<PagesState>, ctx: PageCtx) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let devices: Vec<Arc<Device>> = s
        .farm
        .registry
        .all()
        .into_iter()
        .filter(|d| d.profile == "ear-tag" && crate::scope::can_see(&ctx.user, d.village_id))
        .collect();
    let refs: Vec<&Arc<Device>> = devices.iter().collect();
    let now = now_ms();
    let mut animals = assess(&s, &refs, now).await;
    // Fevers first, then the hottest against its baseline.
    animals.sort_by(|a, b| {
        let d = |x: &Animal| match (x.temp, x.baseline) {
            (Some((_, t)), Some(b)) => t - b,
            _ => f64::NEG_INFINITY,
        };
        b.fever.cmp(&a.fever).then(d(b).total_cmp(&d(a)))
    });
    let f = ctx.fmt();
    let c = |v: Option<f64>| v.map_or("–".to_string(), |x| f.value(x, "°C"));
    let rows: Vec<Row> = animals
        .iter()
        .map(|a| Row {
            id: a.device.id.0,
            name: a.device.name.clone(),
            name_enc: cunlink_web::page::encode_component(&a.device.name),
            pen: a.device.asset.clone().unwrap_or_default(),
            temp: c(a.temp.map(|t| t.1)),
            baseline: c(a.baseline),
            delta: match (a.temp, a.baseline) {
                (Some((_, t)), Some(b)) => {
                    format!("{}{}", if t >= b { "+" } else { "" }, f.num(t - b, 1))
                }
                _ => "–".into(),
            },
            median: c(a.pen_median),
            fever: a.fever,
            seen: a.temp.map_or("–".into(), |t| f.ago(t.0, now)),
        })
        .collect();
    let fevers = rows.iter().filter(|r| r.fever).count();
    let live = format!(
        "/farm/live?d={}",
        rows.iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let tpl = Tpl {
        t: &ctx,
        rows,
        fevers,
    };
    Ok(shell(
        &ctx,
        ctx.t("farm.herd.title"),
        &body(&tpl)?,
        PageOpts {
            charts: false,
            live: Some(&live),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fever_needs_both_baseline_and_pen() {
        assert!(is_fever(39.0, Some(37.9), Some(38.1)));
        // A hot afternoon warms the whole pen: not a fever.
        assert!(!is_fever(39.0, Some(37.9), Some(38.6)));
        assert!(!is_fever(38.5, Some(37.9), Some(37.5)));
        assert!(!is_fever(39.0, None, Some(37.5)));
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
