//! How a reading is shown: its label, unit, decimals and status colour.
//!
//! Status here is the farm's own reference ranges, a first look for the
//! overview; the alert domain's rules and alarms are the real early warning and
//! fill the top of the overview through the kit's overview slot.

use cunlink_web::{Fmt, Locale, PageCtx, WebKit};

use crate::telemetry::Value;

/// A device that has not reported for this long is shown as silent.
pub const STALE_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Stale,
    Warn,
    Bad,
}

impl Status {
    pub fn class(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Stale => "stale",
            Status::Warn => "warn",
            Status::Bad => "bad",
        }
    }
    pub fn label_key(self) -> &'static str {
        match self {
            Status::Ok => "farm.status.ok",
            Status::Stale => "farm.status.stale",
            Status::Warn => "farm.status.warn",
            Status::Bad => "farm.status.bad",
        }
    }
}

/// The unit of a well-known key.
pub fn unit(key: &str) -> &'static str {
    match key {
        "temperature" | "soil_temperature" | "air_temperature" => "°C",
        "humidity" | "soil_moisture" | "battery" => "%",
        "activity" => "steps",
        _ => "",
    }
}

/// The label of a key in the page's language (falls back to the key).
pub fn label(ctx: &PageCtx, key: &str) -> String {
    key_label(&ctx.kit, ctx.locale, key)
}

/// The label of a telemetry key in `locale` (`farm.key.*` in farm's locale files),
/// or the key itself when there is none. Farm owns the keys; other domains that
/// show readings (alarms, boards) ask here.
pub fn key_label(kit: &WebKit, locale: Locale, key: &str) -> String {
    let k = format!("farm.key.{key}");
    let t = kit.t(locale, &k);
    if t == k {
        key.to_string()
    } else {
        t.to_string()
    }
}

/// Reference ranges for a first look.
pub fn status(key: &str, v: f64) -> Status {
    match key {
        "soil_moisture" if v < 20.0 => Status::Bad,
        "soil_moisture" if v < 25.0 => Status::Warn,
        "battery" if v < 10.0 => Status::Bad,
        "battery" if v < 20.0 => Status::Warn,
        "temperature" if v > 38.0 => Status::Warn,
        "temperature" if v < 0.0 => Status::Warn,
        _ => Status::Ok,
    }
}

/// A value shown with its unit.
pub fn show(f: Fmt, key: &str, v: &Value) -> String {
    match v {
        Value::Num(x) => f.value(*x, unit(key)),
        other => other.to_text(),
    }
}

/// Decimals used for a key's live updates in the browser.
pub fn decimals(key: &str, v: &Value) -> usize {
    match v {
        Value::Num(x) if x.fract() == 0.0 && key != "temperature" => 0,
        Value::Num(_) if key == "temperature" => 1,
        _ => 1,
    }
}

/// A unit as shown in the page's language.
pub fn unit_shown(f: Fmt, key: &str) -> &'static str {
    match (unit(key), f.locale) {
        ("steps", cunlink_web::Locale::ZhCn) => "步",
        (u, _) => u,
    }
}
