//! `/alarms`: the alarm inbox. Open (unacknowledged) alarms by default, filters
//! by status, severity and asset; acknowledge and clear in place (htmx, or a
//! plain form post without script); new and changed alarms arrive over
//! `/api/alarms/stream` and the script fetches their row from `/alarms/{id}/row`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use cunlink_farm::scope;
use serde::Deserialize;

use cunlink_web::layout::body;
use cunlink_web::layout::page as shell;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::view::{RowTpl, status_rank, view};
use super::{PagesState, require_alarms};
use crate::AlertStoreError;
use crate::rule::Severity;
use crate::store::{self, Alarm, AlarmFilter, Status};

/// Rows a list shows; a phone on 3G should not download a year of alarms.
const LIMIT: usize = 100;

#[derive(Deserialize, Default)]
pub(crate) struct Filters {
    status: Option<String>,
    severity: Option<String>,
    asset: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    rows: Vec<String>,
    status: &'a str,
    severity: &'a str,
    asset: &'a str,
    /// Asset id the live script filters on ("" = any).
    asset_id: String,
    assets: Vec<String>,
    statuses: [&'static str; 4],
    severities: [&'static str; 4],
    script: &'static str,
}

/// The villages a user's alarm lists cover (`None`: every village).
pub(crate) fn villages_of(ctx: &PageCtx) -> Option<Vec<i64>> {
    if ctx.user.role.is_county_wide() {
        None
    } else {
        Some(ctx.user.village_id.into_iter().collect())
    }
}

/// Asset names offered in the filter (id, name), sorted by name.
fn asset_options(s: &PagesState, ctx: &PageCtx) -> Vec<(i64, String)> {
    // Asset names offered in the filter: those of devices the user can see,
    // from the in-memory registry (no table scan per request).
    let mut assets: Vec<(i64, String)> = s
        .alerts
        .farm
        .registry
        .all()
        .iter()
        .filter(|d| scope::can_see(&ctx.user, d.village_id))
        .filter_map(|d| Some((d.asset_id?, d.asset.clone()?)))
        .collect();
    assets.sort_by(|a, b| a.1.cmp(&b.1));
    assets.dedup();
    assets
}

pub(crate) async fn page(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Query(q): Query<Filters>,
) -> Result<Response, PageError> {
    require_alarms(&ctx.user)?;
    let status = match q.status.as_deref().unwrap_or("active") {
        "active" => Some(Status::Active),
        "acknowledged" => Some(Status::Acknowledged),
        "cleared" => Some(Status::Cleared),
        _ => None,
    };
    let severity = q
        .severity
        .as_deref()
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse::<Severity>().ok());
    let assets = asset_options(&s, &ctx);
    let asset = q.asset.as_deref().unwrap_or("");
    let asset_id = assets.iter().find(|a| a.1 == asset).map(|a| a.0);
    if !asset.is_empty() && asset_id.is_none() {
        return Err(PageError::BadRequest(format!(
            "{} '{asset}'",
            ctx.t("alert.no_asset")
        )));
    }
    let filter = AlarmFilter {
        status,
        village_ids: villages_of(&ctx),
        asset_id,
        severity,
        limit: LIMIT,
        ..Default::default()
    };
    let mut alarms = s
        .alerts
        .db
        .call(move |c| store::query_alarms(c, &filter))
        .await
        .map_err(PageError::internal)?;
    alarms.sort_by_key(|a| status_rank(a.status));
    let status_s = status.map_or("all", Status::as_str);
    let handle = crate::routes::can_handle_alarms(&ctx.user);
    let rows = alarms
        .iter()
        .map(|a| {
            body(&RowTpl {
                t: &ctx,
                a: view(&ctx, &s.alerts.farm, a),
                handle,
                keep: status_s,
                compact: false,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let severity_s = severity.map_or("", Severity::as_str);
    let tpl = Tpl {
        t: &ctx,
        rows,
        status: status_s,
        severity: severity_s,
        asset,
        asset_id: asset_id.map(|i| i.to_string()).unwrap_or_default(),
        assets: assets.into_iter().map(|a| a.1).collect(),
        statuses: ["active", "acknowledged", "cleared", "all"],
        severities: ["critical", "major", "minor", "warning"],
        script: super::assets::url(),
    };
    Ok(shell(
        &ctx,
        ctx.t("alert.inbox.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

/// An alarm the user may see, or not found.
pub(crate) async fn visible(s: &PagesState, ctx: &PageCtx, id: i64) -> Result<Alarm, PageError> {
    require_alarms(&ctx.user)?;
    let a = s.alerts.alarms.get(id).await.map_err(|e| match e {
        AlertStoreError::NoSuchAlarm(_) => PageError::NotFound,
        e => PageError::internal(e),
    })?;
    if !scope::can_see(&ctx.user, a.village_id) {
        return Err(PageError::NotFound);
    }
    Ok(a)
}

#[derive(Deserialize)]
pub(crate) struct RowQuery {
    #[serde(default)]
    compact: bool,
    keep: Option<String>,
}

/// `GET /alarms/{id}/row`: one list row, for the live script.
pub(crate) async fn row(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<RowQuery>,
) -> Result<Response, PageError> {
    let a = visible(&s, &ctx, id).await?;
    render_row(
        &s,
        &ctx,
        &a,
        q.keep.as_deref().unwrap_or("active"),
        q.compact,
    )
}

pub(crate) fn render_row(
    s: &PagesState,
    ctx: &PageCtx,
    a: &Alarm,
    keep: &str,
    compact: bool,
) -> Result<Response, PageError> {
    let html = body(&RowTpl {
        t: ctx,
        a: view(ctx, &s.alerts.farm, a),
        handle: !compact && crate::routes::can_handle_alarms(&ctx.user),
        keep,
        compact,
    })?;
    let mut r = Html(html).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}
