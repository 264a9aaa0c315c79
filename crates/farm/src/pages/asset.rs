//! `/farm/assets/{id}`: an asset's latest values, charts (24 h / 7 d / 30 d,
//! switched with htmx without reloading the page) and its devices.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use cunlink_core::time::now_ms;
use cunlink_web::layout::body;
use cunlink_web::layout::page as shell;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::charts::{self, Line, Range};
use super::overview::kind_key;
use super::readings::{self, STALE_MS};
use super::{PagesState, require_farm};
use crate::model::{Asset, Device};

/// Most lines drawn on one asset page.
const MAX_LINES: usize = 12;

#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
}

pub(crate) struct DeviceRow {
    pub id: i64,
    pub name: String,
    pub profile: String,
    pub seen: String,
    pub stale: bool,
    pub values: Vec<super::overview::Row>,
}

#[derive(Template)]
#[template(path = "asset.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    name: String,
    kind: String,
    devices: Vec<DeviceRow>,
    animals: usize,
    charts: String,
}

async fn load(
    s: &PagesState,
    ctx: &PageCtx,
    id: i64,
) -> Result<(Asset, Vec<Arc<Device>>), PageError> {
    let asset = s
        .farm
        .db
        .call(move |c| crate::store::asset(c, id))
        .await
        .map_err(PageError::internal)?
        .filter(|a| crate::scope::can_see(&ctx.user, a.village_id))
        .ok_or(PageError::NotFound)?;
    let devices = s
        .farm
        .registry
        .all()
        .into_iter()
        .filter(|d| {
            d.asset_id == Some(id)
                && !d.is_gateway
                && crate::scope::can_see(&ctx.user, d.village_id)
        })
        .collect();
    Ok((asset, devices))
}

fn lines(s: &PagesState, ctx: &PageCtx, devices: &[Arc<Device>]) -> Vec<Line> {
    let store = s.farm.telemetry.store();
    let mut out = Vec::new();
    for d in devices.iter().filter(|d| d.profile != "ear-tag") {
        for (k, _, v) in store.latest(d.id) {
            if k.as_ref() == "battery" || v.as_f64().is_none() {
                continue;
            }
            out.push(Line {
                device: d.id,
                label: format!("{} · {}", d.name, readings::label(ctx, &k)),
                key: k.to_string(),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.truncate(MAX_LINES);
    out
}

async fn render_charts(
    s: &PagesState,
    ctx: &PageCtx,
    base: String,
    lines: Vec<Line>,
    range: Range,
) -> Result<String, PageError> {
    let store = s.farm.telemetry.store().clone();
    let built =
        tokio::task::spawn_blocking(move || charts::build(&store, &lines, range, now_ms(), None))
            .await
            .map_err(PageError::internal)?;
    body(&charts::fragment(ctx, base, range, built))
}

pub(crate) async fn page(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let (asset, devices) = load(&s, &ctx, id).await?;
    let range = Range::parse(q.range.as_deref());
    let base = format!("/farm/assets/{id}");
    let charts = render_charts(&s, &ctx, base, lines(&s, &ctx, &devices), range).await?;
    let now = now_ms();
    let f = ctx.fmt();
    let store = s.farm.telemetry.store();
    let animals = devices.iter().filter(|d| d.profile == "ear-tag").count();
    let rows: Vec<DeviceRow> = devices
        .iter()
        .filter(|d| d.profile != "ear-tag")
        .map(|d| {
            let latest = store.latest(d.id);
            let seen = latest.iter().map(|l| l.1).max();
            DeviceRow {
                id: d.id.0,
                name: d.name.clone(),
                profile: d.profile.clone(),
                seen: seen.map_or_else(|| ctx.t("farm.never").to_string(), |t| f.ago(t, now)),
                stale: seen.is_none_or(|t| now - t > STALE_MS),
                values: latest
                    .into_iter()
                    .map(|(k, _, v)| super::overview::Row {
                        device: d.id.0,
                        label: readings::label(&ctx, &k),
                        value: readings::show(f, &k, &v),
                        unit: readings::unit_shown(f, &k),
                        dec: readings::decimals(&k, &v),
                        status: v
                            .as_f64()
                            .map_or(readings::Status::Ok, |x| readings::status(&k, x))
                            .class(),
                        key: k.to_string(),
                    })
                    .collect(),
            }
        })
        .collect();
    let live = format!(
        "/farm/live?d={}",
        rows.iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let tpl = Tpl {
        t: &ctx,
        name: asset.name.clone(),
        kind: ctx.t(kind_key(asset.kind)).to_string(),
        devices: rows,
        animals,
        charts,
    };
    Ok(shell(
        &ctx,
        &asset.name,
        &body(&tpl)?,
        PageOpts {
            charts: true,
            live: Some(&live),
        },
    ))
}

/// `GET /farm/assets/{id}/charts?range=7d`: the charts fragment htmx swaps in.
pub(crate) async fn charts_fragment(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let (_, devices) = load(&s, &ctx, id).await?;
    let html = render_charts(
        &s,
        &ctx,
        format!("/farm/assets/{id}"),
        lines(&s, &ctx, &devices),
        Range::parse(q.range.as_deref()),
    )
    .await?;
    Ok(Html(html).into_response())
}
