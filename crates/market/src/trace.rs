//! Traceability: harvest batches linked to the farm asset they grew on, and the
//! public page `/t/{code}` (no sign-in) a QR code on the box opens: producer,
//! village, harvest date and the real growing conditions, read from the farm's
//! telemetry through its public API.
//!
//! The page is rendered here, in one file, with inline CSS and no JavaScript,
//! until the shared web kit (askama layout, i18n) takes it over.

use std::fmt::Write;

use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::User;
use cunlink_core::time::{DAY_MS, now_ms};

use crate::access;
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::store::{batches, products};
pub use crate::trace_read::{Reading, Series};

/// Longest growing period a batch may declare (days before the harvest).
pub const MAX_GROWING_DAYS: i64 = crate::trace_read::MAX_DAYS;
/// Earliest harvest accepted: 2000-01-01 00:00 China time.
const EARLIEST_MS: i64 = 10_957 * DAY_MS - cunlink_core::time::TZ_OFFSET_MS;

/// A date `YYYY-MM-DD` (China time, start of day) or ms since the epoch.
fn time_field(o: &Obj, field: &str) -> Result<i64, MarketError> {
    match o.get(field) {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            MarketError::invalid(
                "bad_date",
                field,
                format!("{field} must be a date YYYY-MM-DD or ms"),
            )
        }),
        Some(Value::String(s)) => crate::dates::china_day_start_ms(s).ok_or_else(|| {
            MarketError::invalid(
                "bad_date",
                field,
                format!(
                    "{field} must be a date YYYY-MM-DD from the year 2000 on, got '{}'",
                    s.chars().take(32).collect::<String>()
                ),
            )
        }),
        _ => Err(MarketError::invalid(
            "missing_field",
            field,
            format!("{field} is required (YYYY-MM-DD)"),
        )),
    }
}

/// The growing period `[grown_from, harvested_at]`: the harvest between
/// 2000-01-01 and tomorrow, the sowing before it and at most
/// [`MAX_GROWING_DAYS`] earlier. Each refusal names its field.
fn growing_period(body: &Obj) -> Result<(i64, i64), MarketError> {
    let grown_from = time_field(body, "grown_from")?;
    let harvested_at = time_field(body, "harvested_at")?;
    if harvested_at < EARLIEST_MS || harvested_at > now_ms() + DAY_MS {
        return Err(MarketError::invalid(
            "bad_date",
            "harvested_at",
            "harvested_at must be a day from 2000-01-01 until today",
        ));
    }
    if grown_from > harvested_at {
        return Err(MarketError::invalid(
            "bad_date",
            "harvested_at",
            "harvested_at must be after grown_from",
        ));
    }
    // grown_from may be any i64 sent as ms: the difference is checked.
    let too_long = harvested_at
        .checked_sub(grown_from)
        .is_none_or(|d| d > MAX_GROWING_DAYS * DAY_MS);
    if too_long {
        return Err(MarketError::invalid(
            "bad_date",
            "grown_from",
            format!("grown_from must be at most {MAX_GROWING_DAYS} days before harvested_at"),
        ));
    }
    Ok((grown_from, harvested_at))
}

/// `POST /api/market/batches` (farmer) `{"asset": NAME | "asset_id": ID, "grown_from", "harvested_at", "product_id"?, "note"?}`.
pub fn create_batch(conn: &Connection, user: &User, body: &Obj) -> Result<Value, MarketError> {
    let producer = access::producer_of(conn, user)?;
    // Assets are looked up among the caller's village's only (admins: all), so a
    // name shared by two villages finds the caller's own, and another village's
    // asset (or a county-level one, whose readings are not the farmer's to
    // publish) is as unknown as a missing one.
    let admin = user.role == cunlink_core::auth::Role::Admin;
    let mut assets: Vec<_> = cunlink_farm::store::assets(conn)
        .map_err(|e| MarketError::Storage(e.to_string()))?
        .into_iter()
        .filter(|a| admin || (a.village_id.is_some() && a.village_id == user.village_id))
        .collect();
    if admin {
        // An admin naming an asset gets their own village's first.
        assets.sort_by_key(|a| a.village_id != user.village_id);
    }
    let (asset, field) = match (
        input::opt_int(body, "asset_id", "asset_id")?,
        input::opt_str(body, "asset", 128)?,
    ) {
        (Some(id), _) => (assets.into_iter().find(|a| a.id == id), "asset_id"),
        (None, Some(name)) => (assets.into_iter().find(|a| a.name == name), "asset"),
        (None, None) => {
            return Err(MarketError::invalid(
                "missing_field",
                "asset",
                "asset (name) or asset_id is required",
            ));
        }
    };
    let asset = asset.ok_or_else(|| {
        MarketError::invalid(
            "unknown_asset",
            field,
            "your village has no such farm asset",
        )
    })?;
    let (grown_from, harvested_at) = growing_period(body)?;
    let note = input::opt_str(body, "note", 500)?.unwrap_or("");
    let product = input::opt_int(body, "product_id", "product_id")?;
    if let Some(p) = product {
        if !products::is_producers(conn, p, producer)? {
            return Err(MarketError::invalid(
                "unknown_product",
                "product_id",
                format!("you have no product {p}"),
            ));
        }
    }
    let code = cunlink_core::random::token(20);
    let id = batches::insert(
        conn,
        &batches::NewBatch {
            producer,
            product,
            asset_id: asset.id,
            asset_name: &asset.name,
            grown_from,
            harvested_at,
            note,
            code: &code,
        },
    )?;
    if let Some(p) = product {
        products::set_batch(conn, p, id)?;
    }
    Ok(
        json!({"id": id, "code": code, "url": format!("/t/{code}"), "qr": format!("/t/{code}/qr.svg"), "asset": asset.name, "asset_id": asset.id}),
    )
}

/// What the public page shows.
pub struct TracePage {
    pub product: Option<String>,
    pub producer: String,
    pub village: Option<String>,
    pub batch: Option<BatchInfo>,
    pub quantity: Option<(i64, String)>,
}

pub struct BatchInfo {
    pub asset_id: i64,
    pub asset_name: String,
    pub grown_from: i64,
    pub harvested_at: i64,
    pub note: String,
}

/// Resolve a batch code or an order-line code.
pub fn lookup(conn: &Connection, code: &str) -> Result<Option<TracePage>, MarketError> {
    // The producer's village name comes from core, after the row is read.
    let village = |id: Option<i64>| -> Result<Option<String>, MarketError> {
        Ok(match id {
            Some(v) => cunlink_core::auth::village_name(conn, v)?,
            None => None,
        })
    };
    if let Some(b) = batches::by_code(conn, code)? {
        return Ok(Some(TracePage {
            product: b.product.clone(),
            producer: b.producer.clone(),
            village: village(b.producer_village_id)?,
            batch: Some(batch_info(b)),
            quantity: None,
        }));
    }
    let Some(line) = batches::line_by_trace_code(conn, code)? else {
        return Ok(None);
    };
    let batch = match line.item_batch.or(line.product_batch) {
        Some(b) => batches::by_id(conn, b)?.map(batch_info),
        None => None,
    };
    Ok(Some(TracePage {
        product: Some(line.product),
        producer: line.producer,
        village: village(line.producer_village_id)?,
        batch,
        quantity: Some((line.quantity, line.unit)),
    }))
}

fn batch_info(b: batches::BatchRow) -> BatchInfo {
    BatchInfo {
        asset_id: b.asset_id,
        asset_name: b.asset_name,
        grown_from: b.grown_from,
        harvested_at: b.harvested_at,
        note: b.note,
    }
}

/// Whether the batch's growing period starts before what was read.
fn b_starts_before(page: &TracePage, read_from: i64) -> bool {
    page.batch
        .as_ref()
        .is_some_and(|b| b.grown_from < read_from)
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn label(key: &str) -> (String, &'static str) {
    match key {
        "temperature" => ("气温".into(), "°C"),
        "humidity" => ("空气湿度".into(), "%"),
        "soil_moisture" => ("土壤湿度".into(), "%"),
        "soil_temperature" => ("土壤温度".into(), "°C"),
        "light" | "illuminance" => ("光照".into(), "lx"),
        other => (other.to_string(), ""),
    }
}

fn fmt1(v: f64) -> String {
    format!("{:.1}", v)
}

fn spark(points: &[(i64, f64)], min: f64, max: f64) -> String {
    if points.len() < 2 {
        return String::new();
    }
    let (t0, t1) = (points[0].0, points[points.len() - 1].0.max(points[0].0 + 1));
    let span = (max - min).max(1e-9);
    let mut pts = String::new();
    for (t, v) in points {
        let x = (t - t0) as f64 / (t1 - t0) as f64 * 300.0;
        let y = 56.0 - (v - min) / span * 52.0;
        let _ = write!(pts, "{x:.1},{y:.1} ");
    }
    format!(
        "<svg viewBox=\"0 0 300 60\" width=\"100%\" height=\"60\" role=\"img\" aria-label=\"曲线\"><polyline fill=\"none\" stroke=\"#2e7d32\" stroke-width=\"2\" points=\"{}\"/></svg>",
        pts.trim_end()
    )
}

/// The zh-CN page body, for the kit's public shell.
pub fn render_body(code: &str, page: &TracePage, reading: Option<&Reading>) -> String {
    let series: &[Series] = reading.map(|r| r.series.as_slice()).unwrap_or_default();
    let date = |ms: i64| crate::prices::date_string(crate::prices::day_of(ms));
    let mut h = String::with_capacity(8192);
    let title = page.product.clone().unwrap_or_else(|| "农产品".into());
    let _ = write!(
        h,
        "<style>.trace dl{{display:grid;grid-template-columns:auto 1fr;gap:6px 16px;margin:0}}.trace dt{{color:#555}}.trace dd{{margin:0;font-weight:600}}\
.trace .nums{{display:flex;flex-wrap:wrap;justify-content:space-between;gap:8px}}.trace .nums b{{font-size:1.4em;color:#0b5d1e}}.trace img{{max-width:180px}}</style>\
<div class=\"trace\"><h1>{t}</h1><p class=\"muted\">产品溯源 · 扫码查看真实种植记录</p><div class=\"card\"><dl>",
        t = esc(&title)
    );
    let _ = write!(h, "<dt>生产者</dt><dd>{}</dd>", esc(&page.producer));
    if let Some(v) = &page.village {
        let _ = write!(h, "<dt>村庄</dt><dd>{}</dd>", esc(v));
    }
    if let Some((q, unit)) = &page.quantity {
        let _ = write!(h, "<dt>数量</dt><dd>{q} × {}</dd>", esc(unit));
    }
    if let Some(b) = &page.batch {
        let _ = write!(
            h,
            "<dt>种植地块</dt><dd>{}</dd><dt>生长期</dt><dd>{} 至 {}</dd><dt>采收日期</dt><dd>{}</dd>",
            esc(&b.asset_name),
            date(b.grown_from),
            date(b.harvested_at),
            date(b.harvested_at)
        );
        if !b.note.is_empty() {
            let _ = write!(h, "<dt>备注</dt><dd>{}</dd>", esc(&b.note));
        }
    }
    h.push_str("</dl></div>");
    match &page.batch {
        None => h.push_str("<p class=\"muted\">这件商品尚未关联采收批次，暂无种植环境记录。</p>"),
        Some(_) if series.is_empty() => {
            h.push_str("<p class=\"muted\">生长期内该地块没有传感器数据。</p>")
        }
        Some(_) => {
            h.push_str("<h2>生长期环境（传感器实测）</h2>");
            // The page reads a bounded part of a long period (see trace_read).
            if let Some(r) = reading.filter(|r| b_starts_before(page, r.from)) {
                let _ = write!(
                    h,
                    "<p class=\"muted\">显示 {} 至 {} 的读数。</p>",
                    date(r.from),
                    date(r.to)
                );
            }
            for s in series {
                let (name, unit) = label(&s.key);
                let _ = write!(
                    h,
                    "<div class=\"card\"><div><b>{}</b> <span class=\"muted\">{} · {} 条读数</span></div>\
<div class=\"nums\"><span>最低 <b>{}</b>{u}</span><span>平均 <b>{}</b>{u}</span><span>最高 <b>{}</b>{u}</span></div>{}</div>",
                    esc(&name),
                    esc(&s.device),
                    s.count,
                    fmt1(s.min),
                    fmt1(s.avg),
                    fmt1(s.max),
                    spark(&s.points, s.min, s.max),
                    u = unit
                );
            }
        }
    }
    let _ = write!(
        h,
        "<div class=\"card\"><img src=\"/t/{c}/qr.svg\" alt=\"溯源二维码\" width=\"180\" height=\"180\"><p class=\"muted\">溯源码 {c}</p></div></div>",
        c = esc(code)
    );
    h
}

/// The QR code of the page at `url`, as SVG.
pub fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
    )
}
