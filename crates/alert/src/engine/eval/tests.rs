//! Rule evaluation on in-memory readings, without a database or HTTP: what
//! one (rule, device) state decides as readings arrive.

use std::collections::HashMap;
use std::sync::Arc;

use cunlink_farm::model::Device;
use cunlink_farm::telemetry::{DeviceId, KeyId, Value};

use super::{Outcome, RuleState};
use crate::engine::herd::Pen;
use crate::engine::silence::Timers;
use crate::engine::world::{Compiled, DeviceInfo};
use crate::rule::{Compare, Condition, HerdFever, Match, Op, Rule, Severity, Target};

const MIN: i64 = 60_000;
const DAY: i64 = 24 * 60 * MIN;

/// Key ids as the telemetry store would intern them.
fn key_id(name: &str) -> KeyId {
    match name {
        "temperature" => KeyId(0),
        "humidity" => KeyId(1),
        "activity" => KeyId(2),
        _ => KeyId(99),
    }
}

fn rule(condition: Condition) -> Arc<Compiled> {
    let rule = Rule {
        id: 1,
        name: "test".into(),
        village_id: None,
        severity: Severity::Warning,
        target: Target::Profile("ear-tag".into()),
        condition,
        action: None,
        escalate: None,
        auto_clear: true,
        enabled: true,
        builtin: false,
        created_at: 0,
        updated_at: 0,
    };
    Arc::new(Compiled::new(Arc::new(rule), key_id))
}

fn device(id: i64) -> DeviceInfo {
    DeviceInfo {
        device: Arc::new(Device {
            id: DeviceId(id),
            name: format!("耳标 {id}"),
            profile: "ear-tag".into(),
            asset_id: Some(1),
            asset: Some("猪舍".into()),
            village_id: None,
            gateway_id: None,
            is_gateway: false,
            token: String::new(),
            dev_eui: None,
            created_at: 0,
        }),
        pen: Some(1),
        pen_name: Some("猪舍".into()),
        asset_kind: Some("pen".into()),
        reporting_interval_s: 60,
        measures_core_temp: false,
    }
}

fn cmp(key: &str, op: Op, value: f64) -> Compare {
    Compare {
        key: key.into(),
        op,
        value,
    }
}

/// Apply one instant of `(key, value)` readings; what the state decided.
fn at(s: &mut RuleState, info: &DeviceInfo, ts: i64, readings: &[(&str, f64)]) -> &'static str {
    let values: Vec<(KeyId, Value)> = readings
        .iter()
        .map(|(k, v)| (key_id(k), Value::Num(*v)))
        .collect();
    let refs: Vec<(KeyId, &Value)> = values.iter().map(|(k, v)| (*k, v)).collect();
    outcome(s.apply(info, ts, &refs, None))
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Nothing => "nothing",
        Outcome::Fire { .. } => "fire",
        Outcome::Clear => "clear",
    }
}

#[test]
fn threshold_fires_after_for_s_and_clears() {
    let r = rule(Condition::Threshold {
        r#match: Match::All,
        conditions: vec![cmp("temperature", Op::Gt, 30.0)],
        for_s: 600,
    });
    let (mut s, d) = (RuleState::new(r), device(1));
    assert_eq!(at(&mut s, &d, 0, &[("temperature", 31.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 300_000, &[("temperature", 31.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 600_000, &[("temperature", 31.0)]), "fire");
    assert_eq!(at(&mut s, &d, 660_000, &[("temperature", 32.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 720_000, &[("temperature", 29.0)]), "clear");
    // A dip restarts the clock: 10 minutes again before it fires.
    assert_eq!(at(&mut s, &d, 780_000, &[("temperature", 31.0)]), "nothing");
    assert_eq!(
        at(&mut s, &d, 1_320_000, &[("temperature", 31.0)]),
        "nothing"
    );
    assert_eq!(at(&mut s, &d, 1_380_000, &[("temperature", 31.0)]), "fire");
}

#[test]
fn threshold_and_needs_every_comparison_or_needs_one() {
    let conditions = vec![
        cmp("temperature", Op::Gt, 30.0),
        cmp("humidity", Op::Lt, 40.0),
    ];
    let all = rule(Condition::Threshold {
        r#match: Match::All,
        conditions: conditions.clone(),
        for_s: 0,
    });
    let (mut s, d) = (RuleState::new(all), device(1));
    assert_eq!(at(&mut s, &d, 0, &[("temperature", 31.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 1000, &[("humidity", 50.0)]), "nothing");
    // The last temperature is remembered: humidity alone completes the AND.
    assert_eq!(at(&mut s, &d, 2000, &[("humidity", 35.0)]), "fire");

    let any = rule(Condition::Threshold {
        r#match: Match::Any,
        conditions,
        for_s: 0,
    });
    let mut s = RuleState::new(any);
    assert_eq!(at(&mut s, &d, 0, &[("humidity", 50.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 1000, &[("humidity", 35.0)]), "fire");
    assert_eq!(
        at(
            &mut s,
            &d,
            2000,
            &[("humidity", 50.0), ("temperature", 29.0)]
        ),
        "clear"
    );
}

#[test]
fn rate_fires_on_a_change_within_the_window_only() {
    let rises = || {
        rule(Condition::Rate {
            key: "temperature".into(),
            change: 5.0,
            within_s: 600,
        })
    };
    let d = device(1);
    let mut s = RuleState::new(rises());
    assert_eq!(at(&mut s, &d, 0, &[("temperature", 20.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 100_000, &[("temperature", 22.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 200_000, &[("temperature", 26.0)]), "fire");
    // The same rise spread over more than the window is not a rate alarm.
    let mut s = RuleState::new(rises());
    assert_eq!(at(&mut s, &d, 0, &[("temperature", 20.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 500_000, &[("temperature", 23.0)]), "nothing");
    assert_eq!(
        at(&mut s, &d, 1_000_000, &[("temperature", 26.0)]),
        "nothing"
    );
    // A negative change watches falls.
    let falls = rule(Condition::Rate {
        key: "temperature".into(),
        change: -5.0,
        within_s: 600,
    });
    let mut s = RuleState::new(falls);
    assert_eq!(at(&mut s, &d, 0, &[("temperature", 20.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 100_000, &[("temperature", 26.0)]), "nothing");
    assert_eq!(at(&mut s, &d, 200_000, &[("temperature", 18.0)]), "fire");
    // Other keys do not feed the window.
    assert_eq!(at(&mut s, &d, 300_000, &[("humidity", 0.0)]), "nothing");
}

#[test]
fn silence_waits_its_time_then_fires_once_until_data() {
    let d = device(7);
    let fixed = rule(Condition::Silence {
        after_s: Some(120),
        intervals: None,
    });
    assert_eq!(fixed.silence_ms(&d), Some(120_000));
    // Intervals count the profile's reporting interval (60 s here), 3 by default.
    let default = rule(Condition::Silence {
        after_s: None,
        intervals: None,
    });
    assert_eq!(default.silence_ms(&d), Some(180_000));
    // A huge interval count is capped at the 7 days a rule may watch.
    let mut slow = device(7);
    slow.reporting_interval_s = u32::MAX;
    let huge = rule(Condition::Silence {
        after_s: None,
        intervals: Some(u32::MAX),
    });
    assert_eq!(huge.silence_ms(&slow), Some(7 * DAY));

    let wait = fixed.silence_ms(&d).unwrap_or_default();
    let mut timers = Timers::default();
    let dev = d.device.id;
    timers.touch(1, dev, 1000 + wait);
    assert!(timers.pop_due(1000 + wait - 1).is_empty());
    assert_eq!(timers.pop_due(1000 + wait), vec![(1, dev, 1000 + wait)]);
    assert!(timers.pop_due(1000 + 10 * wait).is_empty(), "fires once");
    // Data again: the silence alarm clears and the wait starts over.
    assert!(timers.touch(1, dev, 5000 + wait));
    assert_eq!(timers.next_deadline(), Some(5000 + wait));
}

/// A pen of sows read every 10 minutes over `days`; `temp(sow, ts)` gives each
/// reading. Returns the sows whose herd-fever state fired, with when.
fn herd_run(days: i64, temp: impl Fn(i64, i64) -> f64) -> Vec<(i64, i64)> {
    let r = rule(Condition::HerdFever(HerdFever::default()));
    let sows: Vec<DeviceInfo> = (0..6).map(device).collect();
    let mut states: HashMap<i64, RuleState> =
        (0..6).map(|i| (i, RuleState::new(r.clone()))).collect();
    let mut pen = Pen::default();
    let mut fired = Vec::new();
    for ts in (0..days * DAY).step_by(10 * MIN as usize) {
        for info in &sows {
            let id = info.device.id.0;
            let v = Value::Num(temp(id, ts));
            let readings = [(KeyId(0), &v)];
            let s = states.get_mut(&id).expect("state per sow");
            if let Outcome::Fire { .. } = s.apply(info, ts, &readings, Some(&mut pen)) {
                fired.push((id, ts));
            }
        }
    }
    fired
}

/// Skin temperature with a daily cycle: 1.5 °C warmer in the afternoon.
fn daily(sow: i64, ts: i64) -> f64 {
    let phase = (ts % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
    37.0 + sow as f64 * 0.1 - 1.5 * phase.cos()
}

#[test]
fn herd_fever_fires_for_a_fevered_sow_against_baseline_and_pen() {
    // Sow 2 runs 2 °C warm from noon of day 4 on.
    let fever_from = 3 * DAY + 12 * 60 * MIN;
    let fired = herd_run(4, |sow, ts| {
        daily(sow, ts)
            + if sow == 2 && ts >= fever_from {
                2.0
            } else {
                0.0
            }
    });
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (sow, when) = fired[0];
    assert_eq!(sow, 2);
    // After the 30 minutes the default rule waits, not before.
    assert!(
        when >= fever_from + 30 * MIN && when <= fever_from + 40 * MIN,
        "{when}"
    );
}

#[test]
fn herd_fever_ignores_the_daily_cycle_a_spike_and_a_hot_pen() {
    // Four days of the daily cycle alone: nobody fires.
    assert_eq!(herd_run(4, daily), Vec::new());
    // One reading 3 °C high (10 minutes) is shorter than the 30 the rule waits.
    let spike = 3 * DAY + 15 * 60 * MIN;
    let fired = herd_run(4, |sow, ts| {
        daily(sow, ts) + if sow == 1 && ts == spike { 3.0 } else { 0.0 }
    });
    assert_eq!(fired, Vec::new());
    // A hot afternoon warms the whole pen: above baseline, not above the median.
    let hot = 3 * DAY + 13 * 60 * MIN..3 * DAY + 17 * 60 * MIN;
    let fired = herd_run(4, |sow, ts| {
        daily(sow, ts) + if hot.contains(&ts) { 2.0 } else { 0.0 }
    });
    assert_eq!(fired, Vec::new());
}
