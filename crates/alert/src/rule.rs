//! Rules as users write them: what they watch (target), when they fire
//! (condition), how loud (severity) and what else happens (action, escalation).
//!
//! Parsing is strict: an unknown field, an impossible condition or a key the
//! target's devices never report is refused with a message that names it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Alarm severities, most urgent first (ThingsBoard's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Major,
    Minor,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Warning => "warning",
        }
    }

    /// True when `self` is at least as urgent as `floor`.
    pub fn at_least(self, floor: Severity) -> bool {
        self <= floor
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, RuleError> {
        Ok(match s {
            "critical" => Severity::Critical,
            "major" => Severity::Major,
            "minor" => Severity::Minor,
            "warning" => Severity::Warning,
            _ => {
                return Err(RuleError::new(
                    "severity",
                    format!("unknown severity '{s}'; expected critical, major, minor or warning"),
                ));
            }
        })
    }
}

/// Which devices a rule watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// One device by name.
    Device(String),
    /// Every device on an asset (a pen, a field); a gateway's children count as
    /// being on the gateway's asset when they have none of their own.
    Asset(String),
    /// Every device of a profile (`ear-tag`, `soil-probe`).
    Profile(String),
    /// Every device on assets of a kind (`field`, `barn`).
    AssetKind(String),
}

/// Comparison in a threshold condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Eq => left == right,
            Op::Ne => left != right,
        }
    }
}

/// `key op value`, e.g. `soil_moisture < 20`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    pub key: String,
    pub op: Op,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// Every comparison holds (AND).
    #[default]
    All,
    /// At least one holds (OR), also across different keys.
    Any,
}

/// When a rule fires. Durations are judged on the readings' own timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Comparisons combined with AND/OR that hold for `for_s` seconds.
    Threshold {
        #[serde(default)]
        r#match: Match,
        conditions: Vec<Compare>,
        #[serde(default)]
        for_s: u32,
    },
    /// `key` rises (or falls, with a negative `change`) by at least |change|
    /// within `within_s` seconds.
    Rate {
        key: String,
        change: f64,
        within_s: u32,
    },
    /// No reading for `after_s` seconds, or for `intervals` × the profile's
    /// reporting interval (default 3). Judged on the wall clock.
    Silence {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_s: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intervals: Option<u32>,
    },
    /// An animal warmer than its own baseline and its pen, see [`HerdFever`].
    HerdFever(HerdFever),
}

/// Herd fever: ear-tag temperature above the animal's own baseline (same time of
/// day over the last days) and above its pen's median, for a while. Defaults and
/// their sources are in docs/alerts.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HerdFever {
    pub key: String,
    /// Days of history the baseline is drawn from.
    pub baseline_days: u32,
    /// Half-width of the time-of-day window of the baseline, minutes.
    pub window_min: u32,
    /// °C above the animal's baseline.
    pub above_baseline: f64,
    /// °C above the median of its pen mates' current temperatures.
    pub above_pen_median: f64,
    /// How long both must hold, seconds.
    pub for_s: u32,
    /// Optionally also require activity below (1 − drop) × its baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_drop: Option<f64>,
    /// Fixed cut-off in °C, applied only to devices whose profile measures core
    /// temperature (ear-tag skin temperature runs below core temperature).
    pub core_cutoff: f64,
}

impl Default for HerdFever {
    fn default() -> Self {
        HerdFever {
            key: "temperature".into(),
            baseline_days: 3,
            window_min: 30,
            above_baseline: 1.0,
            above_pen_median: 1.0,
            for_s: 30 * 60,
            activity_key: None,
            activity_drop: None,
            core_cutoff: 39.5,
        }
    }
}

/// A device command sent when the rule fires (e.g. open the irrigation valve).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcAction {
    pub method: String,
    #[serde(default)]
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub rpc: RpcAction,
}

/// Unacknowledged after `after_s`: notify `to` (e.g. the village vet) as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalate {
    pub after_s: u32,
    pub to: Vec<String>,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub village_id: Option<i64>,
    pub severity: Severity,
    pub target: Target,
    pub condition: Condition,
    pub action: Option<Action>,
    pub escalate: Option<Escalate>,
    /// Clear the alarm by itself when the condition stops holding.
    pub auto_clear: bool,
    pub enabled: bool,
    pub builtin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a client sends to create or replace a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    #[serde(default)]
    pub village: Option<String>,
    pub severity: Severity,
    pub target: Target,
    pub condition: Condition,
    #[serde(default)]
    pub action: Option<Action>,
    #[serde(default)]
    pub escalate: Option<Escalate>,
    #[serde(default = "yes")]
    pub auto_clear: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A refused rule, naming the field at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl RuleError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RuleError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Longest duration or window a rule may ask for: 7 days.
pub const MAX_SECONDS: u32 = 7 * 24 * 3600;

/// Most reporting intervals a silence rule may wait (the wait is also capped
/// at [`MAX_SECONDS`] whatever the profile's interval).
pub const MAX_INTERVALS: u32 = 10_000;

/// The whole numbers a rule body may carry, their JSON path and range.
const COUNTS: &[(&str, &str, u64, u64)] = &[
    ("condition", "for_s", 0, MAX_SECONDS as u64),
    ("condition", "within_s", 1, MAX_SECONDS as u64),
    ("condition", "after_s", 1, MAX_SECONDS as u64),
    ("condition", "intervals", 1, MAX_INTERVALS as u64),
    ("condition", "baseline_days", 1, 14),
    ("condition", "window_min", 1, 180),
    ("escalate", "after_s", 1, MAX_SECONDS as u64),
];

/// Check the counts and durations of a rule body before it is parsed into
/// typed fields, so that a negative, fractional or huge number (`-1`,
/// `9223372036854775807`) is refused naming its field instead of failing the
/// parse as a whole. `null` is left to the parser (optional fields).
pub fn check_numbers(body: &serde_json::Value) -> Result<(), RuleError> {
    for (section, field, lo, hi) in COUNTS {
        let Some(v) = body.get(section).and_then(|s| s.get(field)) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        if !v.as_u64().is_some_and(|n| (*lo..=*hi).contains(&n)) {
            return Err(RuleError::new(
                format!("{section}.{field}"),
                format!("{field} must be a whole number from {lo} to {hi}, not {v}"),
            ));
        }
    }
    Ok(())
}

impl Condition {
    /// Keys this condition reads.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Condition::Threshold { conditions, .. } => {
                conditions.iter().map(|c| c.key.as_str()).collect()
            }
            Condition::Rate { key, .. } => vec![key.as_str()],
            Condition::Silence { .. } => Vec::new(),
            Condition::HerdFever(h) => {
                let mut k = vec![h.key.as_str()];
                if let Some(a) = &h.activity_key {
                    k.push(a.as_str());
                }
                k
            }
        }
    }

    /// Refuse what cannot be evaluated or can never hold.
    pub fn check(&self) -> Result<(), RuleError> {
        match self {
            Condition::Threshold {
                r#match,
                conditions,
                for_s,
            } => check_threshold(*r#match, conditions, *for_s),
            Condition::Rate {
                key,
                change,
                within_s,
            } => check_rate(key, *change, *within_s),
            Condition::Silence { after_s, intervals } => check_silence(*after_s, *intervals),
            Condition::HerdFever(h) => check_herd_fever(h),
        }
    }
}

/// A duration field must fit the 7 days a rule may watch.
fn check_duration(field: &str, v: u32) -> Result<(), RuleError> {
    if v > MAX_SECONDS {
        return Err(RuleError::new(
            format!("condition.{field}"),
            format!("{field} = {v} s is longer than the 7 days a rule may watch"),
        ));
    }
    Ok(())
}

fn check_finite(field: &str, v: f64) -> Result<(), RuleError> {
    if !v.is_finite() {
        return Err(RuleError::new(
            format!("condition.{field}"),
            format!("{field} must be a finite number"),
        ));
    }
    Ok(())
}

fn check_threshold(r#match: Match, conditions: &[Compare], for_s: u32) -> Result<(), RuleError> {
    check_duration("for_s", for_s)?;
    if conditions.is_empty() {
        return Err(RuleError::new(
            "condition.conditions",
            "a threshold needs at least one comparison",
        ));
    }
    for (i, c) in conditions.iter().enumerate() {
        check_finite(&format!("conditions[{i}].value"), c.value)?;
        check_key(&format!("condition.conditions[{i}].key"), &c.key)?;
    }
    if r#match == Match::All {
        impossible_conjunction(conditions)?;
    }
    Ok(())
}

fn check_rate(key: &str, change: f64, within_s: u32) -> Result<(), RuleError> {
    check_key("condition.key", key)?;
    check_finite("change", change)?;
    if change == 0.0 {
        return Err(RuleError::new(
            "condition.change",
            "a rate rule needs a non-zero change (positive: rises by, negative: falls by)",
        ));
    }
    if within_s == 0 {
        return Err(RuleError::new(
            "condition.within_s",
            "within_s must be at least 1 second",
        ));
    }
    check_duration("within_s", within_s)?;
    Ok(())
}

fn check_silence(after_s: Option<u32>, intervals: Option<u32>) -> Result<(), RuleError> {
    match (after_s, intervals) {
        (Some(_), Some(_)) => {
            return Err(RuleError::new(
                "condition.after_s",
                "give either after_s or intervals, not both",
            ));
        }
        (Some(0), _) | (_, Some(0)) => {
            return Err(RuleError::new(
                "condition.after_s",
                "a silence must last at least 1 second (or 1 interval)",
            ));
        }
        _ => {}
    }
    if let Some(s) = after_s {
        check_duration("after_s", s)?;
    }
    if intervals.is_some_and(|n| n > MAX_INTERVALS) {
        return Err(RuleError::new(
            "condition.intervals",
            format!("intervals must be at most {MAX_INTERVALS}"),
        ));
    }
    Ok(())
}

fn check_herd_fever(h: &HerdFever) -> Result<(), RuleError> {
    check_key("condition.key", &h.key)?;
    if h.baseline_days == 0 || h.baseline_days > 14 {
        return Err(RuleError::new(
            "condition.baseline_days",
            "baseline_days must be between 1 and 14",
        ));
    }
    if h.window_min == 0 || h.window_min > 180 {
        return Err(RuleError::new(
            "condition.window_min",
            "window_min must be between 1 and 180 minutes",
        ));
    }
    for (field, v) in [
        ("above_baseline", h.above_baseline),
        ("above_pen_median", h.above_pen_median),
        ("core_cutoff", h.core_cutoff),
    ] {
        check_finite(field, v)?;
    }
    if h.above_baseline <= 0.0 || h.above_baseline > 10.0 {
        return Err(RuleError::new(
            "condition.above_baseline",
            "above_baseline must be more than 0 and at most 10 °C",
        ));
    }
    if h.above_pen_median < 0.0 || h.above_pen_median > 10.0 {
        return Err(RuleError::new(
            "condition.above_pen_median",
            "above_pen_median must be between 0 and 10 °C",
        ));
    }
    check_duration("for_s", h.for_s)?;
    match (&h.activity_key, h.activity_drop) {
        (Some(k), Some(d)) => {
            check_key("condition.activity_key", k)?;
            if !(d > 0.0 && d < 1.0) {
                return Err(RuleError::new(
                    "condition.activity_drop",
                    "activity_drop is a fraction between 0 and 1 (0.3: 30 % less active)",
                ));
            }
        }
        (None, None) => {}
        _ => {
            return Err(RuleError::new(
                "condition.activity_drop",
                "activity_key and activity_drop go together",
            ));
        }
    }
    Ok(())
}

fn check_key(field: &str, key: &str) -> Result<(), RuleError> {
    if key.trim().is_empty() || key.len() > 255 {
        return Err(RuleError::new(field, "a key name must be 1 to 255 bytes"));
    }
    Ok(())
}

/// AND of comparisons on one key that no value satisfies (`t < 10` and `t > 20`).
fn impossible_conjunction(conds: &[Compare]) -> Result<(), RuleError> {
    // Per key: the open/closed interval every comparison allows, and the
    // exact values excluded by `!=`.
    struct Range {
        lo: f64,
        lo_closed: bool,
        hi: f64,
        hi_closed: bool,
        eq: Option<f64>,
        ne: Vec<f64>,
    }
    let mut by_key: HashMap<&str, Range> = HashMap::new();
    for c in conds {
        let r = by_key.entry(c.key.as_str()).or_insert(Range {
            lo: f64::NEG_INFINITY,
            lo_closed: false,
            hi: f64::INFINITY,
            hi_closed: false,
            eq: None,
            ne: Vec::new(),
        });
        let v = c.value;
        match c.op {
            Op::Gt | Op::Ge => {
                let closed = c.op == Op::Ge;
                if v > r.lo || (v == r.lo && !closed) {
                    r.lo = v;
                    r.lo_closed = closed;
                }
            }
            Op::Lt | Op::Le => {
                let closed = c.op == Op::Le;
                if v < r.hi || (v == r.hi && !closed) {
                    r.hi = v;
                    r.hi_closed = closed;
                }
            }
            Op::Eq => match r.eq {
                Some(e) if e != v => return Err(impossible(&c.key)),
                _ => r.eq = Some(v),
            },
            Op::Ne => r.ne.push(v),
        }
    }
    for (key, r) in by_key {
        let empty = r.lo > r.hi || (r.lo == r.hi && !(r.lo_closed && r.hi_closed));
        let eq_out = r.eq.is_some_and(|e| {
            e < r.lo
                || e > r.hi
                || (e == r.lo && !r.lo_closed)
                || (e == r.hi && !r.hi_closed)
                || r.ne.contains(&e)
        });
        let point_ne = r.lo == r.hi && r.ne.contains(&r.lo);
        if empty || eq_out || point_ne {
            return Err(impossible(key));
        }
    }
    Ok(())
}

fn impossible(key: &str) -> RuleError {
    RuleError::new(
        "condition.conditions",
        format!(
            "the comparisons on '{key}' can never hold together; use \"match\": \"any\" for either/or"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(json: &str) -> Result<Condition, String> {
        let c: Condition = serde_json::from_str(json).map_err(|e| e.to_string())?;
        c.check().map_err(|e| e.message)?;
        Ok(c)
    }

    #[test]
    fn threshold_and_contradiction() {
        assert!(parse(r#"{"type":"threshold","conditions":[{"key":"soil_moisture","op":"<","value":20}],"for_s":1800}"#).is_ok());
        let e = parse(r#"{"type":"threshold","conditions":[{"key":"t","op":"<","value":10},{"key":"t","op":">","value":20}]}"#).unwrap_err();
        assert!(e.contains("can never hold"), "{e}");
        let e = parse(r#"{"type":"threshold","conditions":[{"key":"t","op":"<","value":10},{"key":"t","op":">=","value":10}]}"#).unwrap_err();
        assert!(e.contains("'t'"), "{e}");
        assert!(parse(r#"{"type":"threshold","conditions":[{"key":"t","op":"<=","value":10},{"key":"t","op":">=","value":10}]}"#).is_ok());
        assert!(parse(r#"{"type":"threshold","match":"any","conditions":[{"key":"t","op":"<","value":10},{"key":"t","op":">","value":20}]}"#).is_ok());
        assert!(parse(r#"{"type":"threshold","conditions":[]}"#).is_err());
        assert!(
            parse(r#"{"type":"threshold","conditions":[{"key":"t","op":"~","value":1}]}"#).is_err()
        );
    }

    #[test]
    fn other_kinds() {
        assert!(parse(r#"{"type":"rate","key":"temperature","change":3,"within_s":900}"#).is_ok());
        assert!(parse(r#"{"type":"rate","key":"temperature","change":0,"within_s":900}"#).is_err());
        assert!(parse(r#"{"type":"silence"}"#).is_ok());
        assert!(parse(r#"{"type":"silence","after_s":0}"#).is_err());
        assert!(parse(r#"{"type":"herd_fever"}"#).is_ok());
        assert!(parse(r#"{"type":"herd_fever","baseline_days":0}"#).is_err());
        assert!(parse(r#"{"type":"herd_fever","activity_drop":0.3}"#).is_err());
        assert!(parse(r#"{"type":"herd_fever","typo":1}"#).is_err());
    }

    #[test]
    fn out_of_range_numbers_name_their_field() {
        let field = |body: serde_json::Value| check_numbers(&body).err().map(|e| e.field);
        for (v, ok) in [
            (json!(-1), false),
            (json!(i64::MAX), false),
            (json!(u64::MAX), false),
            (json!(1.5), false),
            (json!("60"), false),
            (json!(60), true),
            (json!(null), true),
        ] {
            for (section, f) in [
                ("condition", "for_s"),
                ("condition", "within_s"),
                ("condition", "after_s"),
                ("condition", "intervals"),
                ("escalate", "after_s"),
            ] {
                let got = field(json!({ section: { f: v.clone() } }));
                let want = (!ok).then(|| format!("{section}.{f}"));
                assert_eq!(got, want, "{section}.{f} = {v}");
            }
        }
        assert!(parse(r#"{"type":"silence","intervals":4294967295}"#).is_err());
    }

    #[test]
    fn severity_order() {
        assert!(Severity::Critical.at_least(Severity::Warning));
        assert!(!Severity::Minor.at_least(Severity::Major));
    }
}
