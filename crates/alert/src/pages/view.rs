//! How an alarm looks on a page: severity colour and label, the device and its
//! asset, "x 分钟前", and the value that set it off, in the reader's language.

use askama::Template;

use cunlink_core::time::now_ms;
use cunlink_farm::Farm;
use cunlink_farm::pages::readings;
use cunlink_farm::telemetry::DeviceId;
use cunlink_web::PageCtx;

use crate::rule::Severity;
use crate::store::{Alarm, Status};

/// One alarm, ready for a template.
pub(crate) struct AlarmView {
    pub id: i64,
    pub rule: String,
    pub rule_id: i64,
    pub device: String,
    pub asset: String,
    /// CSS class of the severity colour (`bad`, `warn`).
    pub class: &'static str,
    pub severity: &'static str,
    pub severity_label: String,
    pub status: &'static str,
    pub status_label: String,
    pub ago: String,
    pub started: String,
    pub value: String,
    pub assignee: Option<String>,
    pub count: i64,
}

pub(crate) fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::Major => "bad",
        Severity::Minor | Severity::Warning => "warn",
    }
}

pub(crate) fn severity_key(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "alert.sev.critical",
        Severity::Major => "alert.sev.major",
        Severity::Minor => "alert.sev.minor",
        Severity::Warning => "alert.sev.warning",
    }
}

pub(crate) fn status_key(s: Status) -> &'static str {
    match s {
        Status::Active => "alert.status.active",
        Status::Acknowledged => "alert.status.acknowledged",
        Status::Cleared => "alert.status.cleared",
    }
}

/// Open alarms first, then acknowledged, then cleared; newest first within each.
pub(crate) fn status_rank(s: Status) -> u8 {
    match s {
        Status::Active => 0,
        Status::Acknowledged => 1,
        Status::Cleared => 2,
    }
}

/// "温度 39.2 °C（基线 37.6 °C）" from the details the engine stored.
pub(crate) fn value_text(ctx: &PageCtx, details: &serde_json::Value) -> String {
    let f = ctx.fmt();
    let num = |key: &str, v: &serde_json::Value| -> Option<String> {
        let x = v.as_f64()?;
        Some(f.value(x, readings::unit(key)))
    };
    let one = |key: &str, v: &serde_json::Value| -> Option<String> {
        Some(format!("{} {}", readings::label(ctx, key), num(key, v)?))
    };
    if let Some(vals) = details.get("values").and_then(|v| v.as_object()) {
        return vals
            .iter()
            .filter_map(|(k, v)| one(k, v))
            .collect::<Vec<_>>()
            .join(" · ");
    }
    let Some(key) = details.get("key").and_then(|k| k.as_str()) else {
        return String::new();
    };
    let mut out = details
        .get("value")
        .and_then(|v| one(key, v))
        .unwrap_or_default();
    if let Some(b) = details.get("baseline").and_then(|v| num(key, v)) {
        out.push_str(&format!(" · {} {b}", ctx.t("alert.baseline")));
    }
    if let Some(m) = details.get("pen_median").and_then(|v| num(key, v)) {
        out.push_str(&format!(" · {} {m}", ctx.t("alert.pen_median")));
    }
    if let Some(c) = details.get("change").and_then(|v| num(key, v)) {
        out.push_str(&format!(" · {} {c}", ctx.t("alert.change")));
    }
    out
}

pub(crate) fn view(ctx: &PageCtx, farm: &Farm, a: &Alarm) -> AlarmView {
    let f = ctx.fmt();
    let asset = farm
        .registry
        .get(DeviceId(a.device_id))
        .and_then(|d| d.asset.clone())
        .unwrap_or_default();
    AlarmView {
        id: a.id,
        rule: a.rule.clone(),
        rule_id: a.rule_id,
        device: a.device.clone(),
        asset,
        class: if a.status == Status::Cleared {
            "stale"
        } else {
            severity_class(a.severity)
        },
        severity: a.severity.as_str(),
        severity_label: ctx.t(severity_key(a.severity)).to_string(),
        status: a.status.as_str(),
        status_label: ctx.t(status_key(a.status)).to_string(),
        ago: f.ago(a.started_at, now_ms()),
        started: f.datetime(a.started_at),
        value: value_text(ctx, &a.details),
        assignee: a.assignee.clone(),
        count: a.count,
    }
}

/// One row of an alarm list (the inbox, the overview); also what the live
/// script fetches when an alarm arrives or changes.
#[derive(Template)]
#[template(path = "alarm_row.html")]
pub(crate) struct RowTpl<'a> {
    pub t: &'a PageCtx,
    pub a: AlarmView,
    /// Show acknowledge/clear buttons.
    pub handle: bool,
    /// The list's status filter, sent back so an acted-on row can leave it.
    pub keep: &'a str,
    /// A short row without buttons (overview).
    pub compact: bool,
}
