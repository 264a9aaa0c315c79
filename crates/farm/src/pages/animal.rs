//! `/farm/herd/{name}`: one animal — its temperature now, its baseline and pen
//! median, and a chart of its temperature with the baseline as a dashed line.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use cunlink_core::time::now_ms;
use cunlink_web::layout::body;
use cunlink_web::layout::page as shell;
use cunlink_web::page::encode_component;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::charts::{self, Line, Range};
use super::{PagesState, require_farm};

#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
}

#[derive(Template)]
#[template(path = "animal.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    id: i64,
    name: String,
    temp: String,
    baseline: String,
    median: String,
    fever: bool,
    charts: String,
}

async fn find(
    s: &PagesState,
    ctx: &PageCtx,
    name: &str,
) -> Result<std::sync::Arc<crate::model::Device>, PageError> {
    s.farm
        .registry
        .by_name(name)
        .await
        .map_err(PageError::internal)?
        .filter(|d| d.profile == "ear-tag" && crate::scope::can_see(&ctx.user, d.village_id))
        .ok_or(PageError::NotFound)
}

async fn charts_html(
    s: &PagesState,
    ctx: &PageCtx,
    d: &crate::model::Device,
    baseline: Option<f64>,
    range: Range,
) -> Result<String, PageError> {
    let store = s.farm.telemetry.store().clone();
    let lines = vec![Line {
        device: d.id,
        key: "temperature".into(),
        label: d.name.clone(),
    }];
    let base_label = ctx.t("farm.herd.baseline").to_string();
    let built = tokio::task::spawn_blocking(move || {
        charts::build(
            &store,
            &lines,
            range,
            now_ms(),
            baseline.map(|b| (base_label.as_str(), b)),
        )
    })
    .await
    .map_err(PageError::internal)?;
    body(&charts::fragment(
        ctx,
        format!("/farm/herd/{}", encode_component(&d.name)),
        range,
        built,
    ))
}

pub(crate) async fn page(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let d = find(&s, &ctx, &name).await?;
    // The pen median needs the whole pen.
    let pen: Vec<_> = s
        .farm
        .registry
        .all()
        .into_iter()
        .filter(|x| x.profile == "ear-tag" && x.asset_id == d.asset_id)
        .collect();
    let refs: Vec<_> = pen.iter().collect();
    let assessed = super::herd::assess(&s, &refs, now_ms()).await;
    let me = assessed
        .into_iter()
        .find(|a| a.device.id == d.id)
        .ok_or(PageError::NotFound)?;
    let f = ctx.fmt();
    let c = |v: Option<f64>| v.map_or("–".to_string(), |x| f.value(x, "°C"));
    let charts = charts_html(&s, &ctx, &d, me.baseline, Range::parse(q.range.as_deref())).await?;
    let tpl = Tpl {
        t: &ctx,
        id: d.id.0,
        name: d.name.clone(),
        temp: c(me.temp.map(|t| t.1)),
        baseline: c(me.baseline),
        median: c(me.pen_median),
        fever: me.fever,
        charts,
    };
    let live = format!("/farm/live?d={}", d.id.0);
    Ok(shell(
        &ctx,
        &d.name,
        &body(&tpl)?,
        PageOpts {
            charts: true,
            live: Some(&live),
        },
    ))
}

pub(crate) async fn charts_fragment(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let d = find(&s, &ctx, &name).await?;
    let baseline = super::herd::baseline(s.farm.telemetry.store(), d.id, now_ms());
    Ok(
        Html(charts_html(&s, &ctx, &d, baseline, Range::parse(q.range.as_deref())).await?)
            .into_response(),
    )
}
