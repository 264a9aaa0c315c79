//! `/affairs/accounts`: a month of the open ledger with totals per category,
//! a bar chart drawn on the server (SVG, no script), corrections beside what
//! they correct, questions with their public answers, and the month's
//! feedback statistics. Officials add, approve and publish here.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts};
use serde::Deserialize;
use serde_json::Value;

use super::{St, back, form_obj, gate, parse_yuan, refusal, yuan};
use crate::ledger::{APPROVALS, CategoryTotal};
use crate::{AffairsError, access};

const PAGE: &str = "/affairs/accounts";

#[derive(Deserialize, Default)]
pub(crate) struct Q {
    month: Option<String>,
    ok: Option<String>,
    warn: Option<String>,
}

struct EntryRow {
    id: i64,
    date: String,
    item: String,
    income: bool,
    amount: String,
    category: String,
    approvals: i64,
    approved: bool,
    corrects: Option<i64>,
    corrected_by: Vec<i64>,
    questions: Vec<(String, Option<String>)>,
}

#[derive(Template)]
#[template(path = "affairs_accounts.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    flash: super::Flash,
    month: String,
    months: Vec<(String, bool)>,
    published: bool,
    official: bool,
    resident: bool,
    entries: Vec<EntryRow>,
    income: String,
    spending: String,
    balance: String,
    chart: String,
    stats: Vec<(String, i64, i64)>,
    approvals: i64,
}

/// Income and spending bars per category, scaled to the largest.
fn chart(cats: &[CategoryTotal]) -> String {
    let max = cats
        .iter()
        .map(|c| c.income_fen.max(c.spending_fen))
        .max()
        .unwrap_or(0)
        .max(1);
    let row_h = 44;
    let h = row_h * cats.len().max(1) + 10;
    let mut s = format!(
        r#"<svg class="ledger-chart" viewBox="0 0 360 {h}" width="100%" role="img" aria-label="chart" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (i, c) in cats.iter().enumerate() {
        let y = i * row_h + 5;
        // i64 → f64 only for drawing; the figures shown are the exact ones.
        let w = |fen: i64| (fen as f64 / max as f64 * 220.0).round() as i64;
        let esc = c
            .category
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        s.push_str(&format!(
            r##"<text x="0" y="{}" font-size="14">{esc}</text><rect x="120" y="{}" width="{}" height="16" fill="#2e7d32"/><rect x="120" y="{}" width="{}" height="16" fill="#c62828"/>"##,
            y + 20,
            y,
            w(c.income_fen),
            y + 18,
            w(c.spending_fen)
        ));
    }
    s.push_str("</svg>");
    s
}

pub(crate) async fn page(
    State(st): State<St>,
    ctx: PageCtx,
    Query(q): Query<Q>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let m = match st.a.ledger_month(&ctx.user, None, q.month.clone()).await {
        Ok(m) => m,
        Err(AffairsError::Invalid { .. }) if ctx.user.role.is_county_wide() => {
            // The county picks a village on the API; the page has nothing to show.
            return Ok(cunlink_web::page(
                &ctx,
                ctx.t("affairs.accounts.title"),
                &format!(
                    "<h1>{}</h1><p class=\"muted\">{}</p>",
                    ctx.t("affairs.accounts.title"),
                    ctx.t("affairs.accounts.county")
                ),
                PageOpts::default(),
            ));
        }
        Err(AffairsError::Invalid { message, .. }) => return Ok(back(PAGE, false, &message)),
        Err(e) => return Err(PageError::internal(e)),
    };
    let months =
        st.a.ledger_months(&ctx.user, None)
            .await
            .map_err(PageError::internal)?
            .into_iter()
            .map(|v| {
                (
                    v["month"].as_str().unwrap_or("").to_string(),
                    v["published"].as_bool().unwrap_or(false),
                )
            })
            .collect();
    let village = ctx.user.village_id.unwrap_or(0);
    let stats =
        st.a.feedback_stats(village, &m.month)
            .await
            .map_err(PageError::internal)?
            .into_iter()
            .map(|v: Value| {
                (
                    v["category"].as_str().unwrap_or("").to_string(),
                    v["received"].as_i64().unwrap_or(0),
                    v["resolved"].as_i64().unwrap_or(0),
                )
            })
            .collect();
    let entries = m
        .entries
        .iter()
        .map(|e| EntryRow {
            id: e.entry.id,
            date: e.entry.date.clone(),
            item: e.entry.item.clone(),
            income: e.entry.kind == "income",
            amount: yuan(e.entry.amount_fen),
            category: e.entry.category.clone(),
            approvals: e.entry.approvals,
            approved: e.approved,
            corrects: e.entry.corrects,
            corrected_by: e.corrected_by.clone(),
            questions: e
                .questions
                .iter()
                .map(|q| (q.text.clone(), q.answer.clone()))
                .collect(),
        })
        .collect();
    let tpl = Tpl {
        t: &ctx,
        flash: super::Flash {
            ok: q.ok,
            warn: q.warn,
        },
        chart: chart(&m.totals.by_category),
        income: yuan(m.totals.income_fen),
        spending: yuan(m.totals.spending_fen),
        balance: yuan(m.totals.balance_fen),
        month: m.month,
        months,
        published: m.published,
        official: access::manages(&ctx.user, village),
        resident: access::resident_of(&ctx.user, village),
        entries,
        stats,
        approvals: APPROVALS,
    };
    let html = body(&tpl)?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("affairs.accounts.title"),
        &html,
        PageOpts::default(),
    ))
}

pub(crate) async fn add(
    State(st): State<St>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let mut o = form_obj(&ctx, &f)?;
    let Some(fen) = f.get("amount_yuan").and_then(|s| parse_yuan(s)) else {
        return Ok(back(PAGE, false, ctx.t("affairs.accounts.bad_amount")));
    };
    o.remove("amount_yuan");
    o.insert("amount_fen".into(), fen.into());
    if let Some(c) = f.get("corrects").and_then(|c| c.trim().parse::<i64>().ok()) {
        o.insert("corrects".into(), c.into());
    }
    match st.a.add_entry(&ctx.user, o).await {
        Ok(v) => Ok(back(
            &format!("{PAGE}?month={}", v["month"].as_str().unwrap_or("")),
            true,
            ctx.t("affairs.accounts.added"),
        )),
        Err(e) => Ok(back(PAGE, false, &refusal(e)?)),
    }
}

pub(crate) async fn approve(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let o = form_obj(&ctx, &f)?;
    let to = format!(
        "{PAGE}?month={}",
        o.get("month").and_then(|m| m.as_str()).unwrap_or("")
    );
    match st.a.approve_entry(&ctx.user, id).await {
        Ok(_) => Ok(back(&to, true, ctx.t("affairs.accounts.approved_ok"))),
        Err(e) => Ok(back(&to, false, &refusal(e)?)),
    }
}

pub(crate) async fn publish(
    State(st): State<St>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let o = form_obj(&ctx, &f)?;
    let month = f.get("month").cloned().unwrap_or_default();
    let to = format!("{PAGE}?month={month}");
    match st.a.publish_month(&ctx.user, month, o).await {
        Ok(_) => Ok(back(&to, true, ctx.t("affairs.accounts.published_ok"))),
        Err(e) => Ok(back(&to, false, &refusal(e)?)),
    }
}

pub(crate) async fn ask(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let o = form_obj(&ctx, &f)?;
    let to = format!(
        "{PAGE}?month={}",
        f.get("month").map(String::as_str).unwrap_or("")
    );
    match st.a.ask(&ctx.user, id, o).await {
        Ok(_) => Ok(back(&to, true, ctx.t("affairs.accounts.asked"))),
        Err(e) => Ok(back(&to, false, &refusal(e)?)),
    }
}
