//! Per-(rule, device) state and what one instant of readings does to it.

use std::collections::VecDeque;
use std::sync::Arc;

use cunlink_farm::telemetry::{DeviceId, KeyId, Value};
use serde_json::json;

use super::episode::{Episode, Step};
use super::herd::{Baseline, Pen};
use super::world::{Compiled, DeviceInfo};
use crate::rule::{Compare, Condition, HerdFever, Match};

/// A herd baseline needs this many readings at the same time of day.
const MIN_BASELINE_READINGS: u32 = 3;

pub struct RuleState {
    pub rule: Arc<Compiled>,
    /// Event time of the last instant evaluated; older readings arrive too late.
    pub last_ts: i64,
    pub kind: Kind,
}

pub enum Kind {
    Threshold {
        values: Vec<Option<f64>>,
        episode: Episode,
    },
    Rate {
        window: VecDeque<(i64, f64)>,
        episode: Episode,
    },
    Silence,
    Herd(Box<Herd>),
}

pub struct Herd {
    temperature: Baseline,
    activity: Option<Baseline>,
    last_activity: Option<f64>,
    episode: Episode,
}

/// What an evaluation decided.
pub enum Outcome {
    Nothing,
    Fire {
        since: i64,
        details: serde_json::Value,
    },
    Clear,
}

impl RuleState {
    pub fn new(rule: Arc<Compiled>) -> RuleState {
        let kind = match &rule.rule.condition {
            Condition::Threshold { conditions, .. } => Kind::Threshold {
                values: vec![None; conditions.len()],
                episode: Episode::default(),
            },
            Condition::Rate { .. } => Kind::Rate {
                window: VecDeque::new(),
                episode: Episode::default(),
            },
            Condition::Silence { .. } => Kind::Silence,
            Condition::HerdFever(h) => Kind::Herd(Box::new(Herd {
                temperature: Baseline::new(h.baseline_days, h.window_min),
                activity: h
                    .activity_key
                    .as_ref()
                    .map(|_| Baseline::new(h.baseline_days, h.window_min)),
                last_activity: None,
                episode: Episode::default(),
            })),
        };
        RuleState {
            rule,
            last_ts: i64::MIN,
            kind,
        }
    }

    /// Whether any of `readings` concerns this rule.
    pub fn reads(&self, readings: &[(KeyId, &Value)]) -> bool {
        readings.iter().any(|(k, _)| self.rule.keys.contains(k))
    }

    /// Apply the readings of one device at one instant `ts`.
    pub fn apply(
        &mut self,
        info: &DeviceInfo,
        ts: i64,
        readings: &[(KeyId, &Value)],
        pen: Option<&mut Pen>,
    ) -> Outcome {
        let keys = &self.rule.keys;
        match (&mut self.kind, &self.rule.rule.condition) {
            (
                Kind::Threshold { values, episode },
                Condition::Threshold {
                    r#match,
                    conditions,
                    for_s,
                },
            ) => threshold(
                values,
                episode,
                keys,
                (*r#match, conditions, *for_s),
                ts,
                readings,
            ),
            (
                Kind::Rate { window, episode },
                Condition::Rate {
                    key,
                    change,
                    within_s,
                },
            ) => rate(
                window,
                episode,
                keys,
                (key, *change, *within_s),
                ts,
                readings,
            ),
            (Kind::Herd(h), Condition::HerdFever(cfg)) => {
                h.apply(cfg, keys, info, ts, readings, pen)
            }
            _ => Outcome::Nothing,
        }
    }
}

/// An episode's step as an outcome; `details` is built only when it fires.
fn step_to_outcome(step: Step, details: impl FnOnce() -> serde_json::Value) -> Outcome {
    match step {
        Step::Nothing => Outcome::Nothing,
        Step::Fire { since } => Outcome::Fire {
            since,
            details: details(),
        },
        Step::Clear => Outcome::Clear,
    }
}

/// Threshold: remember the latest value of each compared key, then AND/OR the
/// comparisons; the episode decides whether they held for `for_s`.
fn threshold(
    values: &mut [Option<f64>],
    episode: &mut Episode,
    keys: &[KeyId],
    (r#match, conditions, for_s): (Match, &[Compare], u32),
    ts: i64,
    readings: &[(KeyId, &Value)],
) -> Outcome {
    for (k, v) in readings {
        for (i, key) in keys.iter().enumerate() {
            if key == k {
                if let Some(x) = v.as_f64() {
                    values[i] = Some(x);
                }
            }
        }
    }
    let mut results = conditions
        .iter()
        .zip(values.iter())
        .map(|(c, v)| v.is_some_and(|x| c.op.holds(x, c.value)));
    let holds = match r#match {
        Match::All => results.all(|b| b),
        Match::Any => results.any(|b| b),
    };
    let step = episode.step(holds, ts, for_s as i64 * 1000);
    step_to_outcome(step, || {
        let vals: serde_json::Map<String, serde_json::Value> = conditions
            .iter()
            .zip(values.iter())
            .filter_map(|(c, v)| Some((c.key.clone(), json!((*v)?))))
            .collect();
        json!({ "values": vals })
    })
}

/// Rate: the change of `key` against the lowest (rises) or highest (falls)
/// value within the last `within_s` seconds.
fn rate(
    window: &mut VecDeque<(i64, f64)>,
    episode: &mut Episode,
    keys: &[KeyId],
    (key, change, within_s): (&str, f64, u32),
    ts: i64,
    readings: &[(KeyId, &Value)],
) -> Outcome {
    let Some(v) = readings
        .iter()
        .find(|(k, _)| *k == keys[0])
        .and_then(|(_, v)| v.as_f64())
    else {
        return Outcome::Nothing;
    };
    let within = within_s as i64 * 1000;
    while window.front().is_some_and(|(t, _)| ts - t > within) {
        window.pop_front();
    }
    let reference = if change > 0.0 {
        window.iter().map(|(_, x)| *x).fold(f64::INFINITY, f64::min)
    } else {
        window
            .iter()
            .map(|(_, x)| *x)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    window.push_back((ts, v));
    let moved = v - reference;
    let holds = reference.is_finite()
        && if change > 0.0 {
            moved >= change
        } else {
            moved <= change
        };
    let step = episode.step(holds, ts, 0);
    step_to_outcome(
        step,
        || json!({ "key": key, "value": v, "from": reference, "change": moved, "within_s": within_s }),
    )
}

impl Herd {
    fn apply(
        &mut self,
        cfg: &HerdFever,
        keys: &[KeyId],
        info: &DeviceInfo,
        ts: i64,
        readings: &[(KeyId, &Value)],
        pen: Option<&mut Pen>,
    ) -> Outcome {
        let find = |k: KeyId| {
            readings
                .iter()
                .find(|(rk, _)| *rk == k)
                .and_then(|(_, v)| v.as_f64())
        };
        if let (Some(&ak), Some(base)) = (keys.get(1), self.activity.as_mut()) {
            if let Some(a) = find(ak) {
                base.add(ts, a);
                self.last_activity = Some(a);
            }
        }
        let Some(v) = find(keys[0]) else {
            return Outcome::Nothing;
        };
        let device: DeviceId = info.device.id;
        let baseline = self.temperature.at(ts, MIN_BASELINE_READINGS);
        let median = pen.and_then(|p| {
            p.note(device, ts, v);
            p.median_without(device, ts)
        });
        let activity_low = match (cfg.activity_drop, &self.activity, self.last_activity) {
            (Some(drop), Some(base), Some(last)) => match base.at(ts, MIN_BASELINE_READINGS) {
                Some(b) => last < (1.0 - drop) * b,
                // No activity history yet: cannot say it dropped, so do not block.
                None => true,
            },
            _ => true,
        };
        let relative = baseline.is_some_and(|b| v - b >= cfg.above_baseline)
            && median.is_none_or(|m| v - m >= cfg.above_pen_median)
            && activity_low;
        let core = info.measures_core_temp && v >= cfg.core_cutoff;
        let holds = relative || core;
        // Fever readings stay out of the baseline, or tomorrow's normal would be today's fever.
        if !holds {
            self.temperature.add(ts, v);
        }
        match self.episode.step(holds, ts, cfg.for_s as i64 * 1000) {
            Step::Nothing => Outcome::Nothing,
            Step::Clear => Outcome::Clear,
            Step::Fire { since } => Outcome::Fire {
                since,
                details: json!({
                    "key": cfg.key,
                    "value": v,
                    "baseline": baseline,
                    "pen_median": median,
                    "core_cutoff": core.then_some(cfg.core_cutoff),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests;
