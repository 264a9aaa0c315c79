//! `/affairs/votes`: open votes with a button per option, results of closed
//! ones; officials start a vote here.

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

const PAGE: &str = "/affairs/votes";

struct Row {
    id: i64,
    question: String,
    options: Vec<(usize, String)>,
    closes: String,
    closed: bool,
    voted: bool,
    voters: i64,
    results: Vec<(String, i64)>,
}

#[derive(Template)]
#[template(path = "affairs_votes.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    flash: Flash,
    official: bool,
    resident: bool,
    rows: Vec<Row>,
}

pub(crate) async fn page(
    State(st): State<St>,
    ctx: PageCtx,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let list = st.a.votes(&ctx.user).await.map_err(PageError::internal)?;
    let f = Fmt { locale: ctx.locale };
    let rows = list
        .iter()
        .map(|v: &Value| Row {
            id: v["id"].as_i64().unwrap_or(0),
            question: v["question"].as_str().unwrap_or("").to_string(),
            options: v["options"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, o)| (i, o.as_str().unwrap_or("").to_string()))
                .collect(),
            closes: f.datetime(v["closes_at"].as_i64().unwrap_or(0)),
            closed: v["closed"].as_bool().unwrap_or(false),
            voted: v["voted"].as_bool().unwrap_or(false),
            voters: v["voters"].as_i64().unwrap_or(0),
            results: v["results"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["option"].as_str().unwrap_or("").to_string(),
                        r["votes"].as_i64().unwrap_or(0),
                    )
                })
                .collect(),
        })
        .collect();
    let village = ctx.user.village_id.unwrap_or(0);
    let html = body(&Tpl {
        t: &ctx,
        flash,
        official: access::manages(&ctx.user, village),
        resident: access::resident_of(&ctx.user, village),
        rows,
    })?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("affairs.votes.title"),
        &html,
        PageOpts::default(),
    ))
}

/// Options one per line; `days` until it closes.
pub(crate) async fn create(
    State(st): State<St>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let mut o = form_obj(&ctx, &f)?;
    let options: Vec<Value> = f
        .get("options")
        .map(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Value::String(l.into()))
                .collect()
        })
        .unwrap_or_default();
    o.insert("options".into(), Value::Array(options));
    let days = f
        .get("days")
        .and_then(|d| d.trim().parse::<i64>().ok())
        .filter(|d| (1..=365).contains(d))
        .unwrap_or(7);
    o.insert(
        "closes_at".into(),
        (st.a.clock.now() + days * cunlink_core::time::DAY_MS).into(),
    );
    o.remove("days");
    match st.a.create_vote(&ctx.user, o).await {
        Ok(_) => Ok(back(PAGE, true, ctx.t("affairs.votes.created"))),
        Err(e) => Ok(back(PAGE, false, &refusal(e)?)),
    }
}

pub(crate) async fn ballot(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let mut o = form_obj(&ctx, &f)?;
    if let Some(n) = f.get("option").and_then(|r| r.trim().parse::<i64>().ok()) {
        o.insert("option".into(), n.into());
    }
    match st.a.ballot(&ctx.user, id, o).await {
        Ok(_) => Ok(back(PAGE, true, ctx.t("affairs.votes.thanks"))),
        Err(e) => Ok(back(PAGE, false, &refusal(e)?)),
    }
}
