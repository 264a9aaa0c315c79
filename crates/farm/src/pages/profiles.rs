//! `/farm/profiles`: device types, their keys and reporting interval, and how long
//! their readings are kept; county roles change the retention here (the same
//! validation and transaction as `PUT /api/profiles/{name}`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use cunlink_web::layout::body;
use cunlink_web::page::encode_component;
use cunlink_web::{PageCtx, PageError, PageOpts, page};

use super::{PagesState, require_farm};
use crate::profiles::{ProfileUpdate, put_profile, validate};

pub(crate) struct Row {
    pub name: String,
    pub name_enc: String,
    pub keys: String,
    pub interval_s: u32,
    pub retention: String,
    pub retention_days: String,
    pub rollup_retention: String,
    pub rollup_retention_days: String,
}

#[derive(Template)]
#[template(path = "profiles.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    rows: Vec<Row>,
    manage: bool,
    error: Option<String>,
}

async fn render(
    s: &PagesState,
    ctx: &PageCtx,
    error: Option<String>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let profiles = s.farm.profiles().await.map_err(PageError::internal)?;
    let forever = ctx.t("farm.profiles.forever").to_string();
    let days = |d: Option<u32>| {
        d.map_or_else(
            || forever.clone(),
            |d| format!("{d} {}", ctx.t("farm.profiles.days")),
        )
    };
    let rows = profiles
        .into_iter()
        .map(|p| Row {
            name_enc: encode_component(&p.name),
            keys: p
                .keys
                .iter()
                .map(|k| {
                    if k.unit.is_empty() {
                        k.key.clone()
                    } else {
                        format!("{} ({})", k.key, k.unit)
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            interval_s: p.reporting_interval_s,
            retention: days(p.retention_days),
            retention_days: p.retention_days.map(|d| d.to_string()).unwrap_or_default(),
            rollup_retention: days(p.rollup_retention_days),
            rollup_retention_days: p
                .rollup_retention_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            name: p.name,
        })
        .collect();
    let tpl = Tpl {
        t: ctx,
        rows,
        manage: ctx.user.role.is_county_wide(),
        error,
    };
    Ok(page(
        ctx,
        ctx.t("farm.profiles.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

pub(crate) async fn list(State(s): State<PagesState>, ctx: PageCtx) -> Result<Response, PageError> {
    render(&s, &ctx, None).await
}

#[derive(Deserialize)]
pub(crate) struct RetentionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    retention_days: String,
    #[serde(default)]
    rollup_retention_days: String,
}

/// Blank or 0 = forever; anything else must be a whole number of days.
fn days(s: &str) -> Result<Option<u32>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<u32>()
        .map(|d| (d > 0).then_some(d))
        .map_err(|_| ())
}

pub(crate) async fn set_retention(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(name): Path<String>,
    Form(f): Form<RetentionForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    require_farm(&ctx.user)?;
    if !ctx.user.role.is_county_wide() {
        return Err(PageError::Forbidden);
    }
    let bad = || ctx.t("farm.profiles.bad_days").to_string();
    let (Ok(r), Ok(rr)) = (days(&f.retention_days), days(&f.rollup_retention_days)) else {
        return unprocessable(&s, &ctx, bad()).await;
    };
    let update = ProfileUpdate {
        retention_days: Some(r),
        rollup_retention_days: Some(rr),
        ..ProfileUpdate::default()
    };
    if validate(&name, &update).is_err() {
        return unprocessable(&s, &ctx, bad()).await;
    }
    // Only existing profiles are changed here; new ones come from the API or CLI.
    let exists = s
        .farm
        .profiles()
        .await
        .map_err(PageError::internal)?
        .iter()
        .any(|p| p.name == name);
    if !exists {
        return Err(PageError::NotFound);
    }
    s.farm
        .db
        .call(move |c| put_profile(c, &name, &update))
        .await
        .map_err(PageError::internal)?;
    Ok(Redirect::to("/farm/profiles").into_response())
}

async fn unprocessable(s: &PagesState, ctx: &PageCtx, msg: String) -> Result<Response, PageError> {
    let mut r = render(s, ctx, Some(msg)).await?;
    *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}
