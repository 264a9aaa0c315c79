//! `/`: the village overview — every visible asset with its latest conditions,
//! coloured by status, newest values pushed live; sections of other domains
//! (open alarms) on top.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use cunlink_core::time::now_ms;
use cunlink_web::layout::body;
use cunlink_web::layout::page as shell;
use cunlink_web::{PageCtx, PageError, PageOpts, Slot};

use super::readings::{self, STALE_MS, Status};
use super::{PagesState, require_farm};
use crate::model::{Asset, AssetKind, Device};

/// Assets per page: a phone on 3G should not download a county.
const PER_PAGE: usize = 30;

pub(crate) struct Row {
    pub device: i64,
    pub key: String,
    pub label: String,
    pub value: String,
    pub unit: &'static str,
    pub dec: usize,
    pub status: &'static str,
}

pub(crate) struct Card {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub status: &'static str,
    pub status_label: String,
    pub rows: Vec<Row>,
    /// (animals, with fever) for barns and pens of ear-tagged animals.
    pub herd: Option<(usize, usize)>,
    pub seen: String,
    pub seen_device: i64,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    village: String,
    top: String,
    cards: Vec<Card>,
    page: usize,
    pages: usize,
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    page: Option<usize>,
}

pub(crate) async fn page(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let top = ctx.kit.render_slot(Slot::OverviewTop, &ctx).await;
    let assets = s
        .farm
        .db
        .call(|c| crate::store::assets(c))
        .await
        .map_err(PageError::internal)?;
    let by_asset = visible_devices(&s, &ctx);
    let visible: Vec<_> = assets
        .iter()
        .filter(|a| crate::scope::can_see(&ctx.user, a.village_id) && by_asset.contains_key(&a.id))
        .collect();
    let pages = visible.len().div_ceil(PER_PAGE).max(1);
    let pg = q.page.unwrap_or(1).clamp(1, pages);
    let now = now_ms();
    let mut cards = Vec::new();
    let mut live_ids = Vec::new();
    for a in visible.iter().skip((pg - 1) * PER_PAGE).take(PER_PAGE) {
        cards.push(asset_card(&s, &ctx, a, &by_asset[&a.id], now, &mut live_ids).await);
    }
    let live = format!(
        "/farm/live?d={}",
        live_ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let tpl = Tpl {
        t: &ctx,
        village: ctx
            .user
            .village
            .clone()
            .unwrap_or_else(|| ctx.t("farm.county").to_string()),
        top,
        cards,
        page: pg,
        pages,
    };
    Ok(shell(
        &ctx,
        ctx.t("farm.overview.title"),
        &body(&tpl)?,
        PageOpts {
            charts: false,
            live: Some(&live),
        },
    ))
}

/// The caller's visible devices (gateways left out), grouped by asset id
/// (0 for devices without an asset).
fn visible_devices(s: &PagesState, ctx: &PageCtx) -> BTreeMap<i64, Vec<Arc<Device>>> {
    let mut by_asset: BTreeMap<i64, Vec<Arc<Device>>> = BTreeMap::new();
    for d in s.farm.registry.all() {
        if crate::scope::can_see(&ctx.user, d.village_id) && !d.is_gateway {
            by_asset.entry(d.asset_id.unwrap_or(0)).or_default().push(d);
        }
    }
    by_asset
}

/// One asset's card: the latest non-battery value of each non-animal device,
/// the herd's fever count, and the worst status of all; pushes the devices
/// whose values update live onto `live_ids`.
async fn asset_card(
    s: &PagesState,
    ctx: &PageCtx,
    a: &Asset,
    devices: &[Arc<Device>],
    now: i64,
    live_ids: &mut Vec<i64>,
) -> Card {
    let f = ctx.fmt();
    let store = s.farm.telemetry.store();
    let animals: Vec<_> = devices.iter().filter(|d| d.profile == "ear-tag").collect();
    let mut rows = Vec::new();
    let mut worst = Status::Ok;
    let (mut seen, mut seen_device) = (i64::MIN, 0);
    for d in devices {
        let latest = store.latest(d.id);
        if let Some(t) = latest.iter().map(|l| l.1).max()
            && t > seen
        {
            (seen, seen_device) = (t, d.id.0);
        }
        if d.profile == "ear-tag" {
            continue;
        }
        live_ids.push(d.id.0);
        for (k, _ts, v) in latest {
            if k.as_ref() == "battery" {
                continue;
            }
            let st = v.as_f64().map_or(Status::Ok, |x| readings::status(&k, x));
            worst = worst.max(st);
            rows.push(Row {
                device: d.id.0,
                label: readings::label(ctx, &k),
                value: readings::show(f, &k, &v),
                unit: readings::unit_shown(f, &k),
                dec: readings::decimals(&k, &v),
                status: st.class(),
                key: k.to_string(),
            });
        }
    }
    let herd = if animals.is_empty() {
        None
    } else {
        let flags = super::herd::assess(s, &animals, now).await;
        let fevers = flags.iter().filter(|a| a.fever).count();
        if fevers > 0 {
            worst = worst.max(Status::Bad);
        }
        Some((animals.len(), fevers))
    };
    if seen == i64::MIN || now - seen > STALE_MS {
        worst = worst.max(Status::Stale);
    }
    Card {
        id: a.id,
        name: a.name.clone(),
        kind: ctx.t(kind_key(a.kind)).to_string(),
        status: worst.class(),
        status_label: ctx.t(worst.label_key()).to_string(),
        rows,
        herd,
        seen: if seen == i64::MIN {
            ctx.t("farm.never").to_string()
        } else {
            f.ago(seen, now)
        },
        seen_device,
    }
}

pub(crate) fn kind_key(k: AssetKind) -> &'static str {
    match k {
        AssetKind::Field => "farm.kind.field",
        AssetKind::Greenhouse => "farm.kind.greenhouse",
        AssetKind::Barn => "farm.kind.barn",
        AssetKind::Pen => "farm.kind.pen",
        AssetKind::Animal => "farm.kind.animal",
        AssetKind::Other => "farm.kind.other",
    }
}
