//! `/affairs/feedback`: report a problem or suggestion; see one's own (an
//! official: the village's) with their state; officials acknowledge and
//! resolve, reporters rate.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use cunlink_web::layout::body;
use cunlink_web::{Fmt, PageCtx, PageError, PageOpts};
use serde_json::Value;

use super::{Flash, St, back, form_obj, gate, refusal};
use crate::access;
use crate::feedback::CATEGORIES;

const PAGE: &str = "/affairs/feedback";

struct Row {
    id: i64,
    category: String,
    text: String,
    place: String,
    who: String,
    status: String,
    reply: String,
    rating: Option<i64>,
    when: String,
    escalated: String,
    mine: bool,
}

#[derive(Template)]
#[template(path = "affairs_feedback.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    flash: Flash,
    official: bool,
    resident: bool,
    categories: &'a [&'a str],
    rows: Vec<Row>,
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

pub(crate) async fn page(
    State(st): State<St>,
    ctx: PageCtx,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let list =
        st.a.feedback_list(&ctx.user, 100)
            .await
            .map_err(PageError::internal)?;
    let f = Fmt { locale: ctx.locale };
    let rows = list
        .iter()
        .map(|v| Row {
            id: v["id"].as_i64().unwrap_or(0),
            category: format!("affairs.fcat.{}", s(v, "category")),
            text: s(v, "text"),
            place: s(v, "place"),
            who: s(v, "reporter"),
            status: format!("affairs.status.{}", s(v, "status")),
            reply: s(v, "reply"),
            rating: v["rating"].as_i64(),
            when: f.datetime(v["created_at"].as_i64().unwrap_or(0)),
            escalated: s(v, "escalated"),
            mine: v["mine"].as_bool().unwrap_or(false),
        })
        .collect();
    let village = ctx.user.village_id.unwrap_or(0);
    let html = body(&Tpl {
        t: &ctx,
        flash,
        official: access::manages(&ctx.user, village),
        resident: access::resident_of(&ctx.user, village),
        categories: &CATEGORIES,
        rows,
    })?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("affairs.feedback.title"),
        &html,
        PageOpts::default(),
    ))
}

pub(crate) async fn report(
    State(st): State<St>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let mut o = form_obj(&ctx, &f)?;
    o.insert(
        "anonymous".into(),
        Value::Bool(f.get("anonymous").is_some_and(|v| v == "1")),
    );
    match st.a.report(&ctx.user, o).await {
        Ok(_) => Ok(back(PAGE, true, ctx.t("affairs.feedback.sent"))),
        Err(e) => Ok(back(PAGE, false, &refusal(e)?)),
    }
}

/// `ack`, `resolve` (with `reply`) or `rate` (with `rating`).
pub(crate) async fn act(
    State(st): State<St>,
    ctx: PageCtx,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let mut o = form_obj(&ctx, &f)?;
    let r = match action.as_str() {
        "ack" => st.a.ack_feedback(&ctx.user, id).await,
        "resolve" => st.a.resolve_feedback(&ctx.user, id, o).await,
        "rate" => {
            if let Some(n) = f.get("rating").and_then(|r| r.trim().parse::<i64>().ok()) {
                o.insert("rating".into(), n.into());
            }
            st.a.rate_feedback(&ctx.user, id, o).await
        }
        _ => return Err(PageError::NotFound),
    };
    match r {
        Ok(_) => Ok(back(PAGE, true, ctx.t("affairs.feedback.done"))),
        Err(e) => Ok(back(PAGE, false, &refusal(e)?)),
    }
}
