//! `/affairs`: the village's notices, newest first, with the unread count;
//! the list refreshes itself every few seconds (htmx polling of
//! `/affairs/notices/list`), so an urgent notice appears on an open page
//! without a reload. Officials post from the same page.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use cunlink_web::layout::body;
use cunlink_web::{Fmt, PageCtx, PageError, PageOpts};

use super::{Flash, St, back, form_obj, gate, refusal};
use crate::access;
use crate::store::notices::Notice;

pub(crate) struct Row {
    id: i64,
    title: String,
    body: String,
    category: String,
    urgent: bool,
    when: String,
    read: bool,
    receipts: Option<String>,
    photos: Vec<String>,
    audio: bool,
}

fn rows(ctx: &PageCtx, list: Vec<Notice>) -> Vec<Row> {
    let f = Fmt { locale: ctx.locale };
    list.into_iter()
        .map(|n| Row {
            id: n.id,
            receipts: access::manages(&ctx.user, n.village_id)
                .then(|| format!("{}/{}", n.read_count, n.recipients)),
            title: n.title,
            body: n.body,
            category: format!("affairs.category.{}", n.category),
            urgent: n.urgent,
            when: f.datetime(n.created_at),
            read: n.read,
            photos: n.photos,
            audio: n.audio.is_some(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "affairs_notice_list.html")]
struct ListTpl<'a> {
    t: &'a PageCtx,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "affairs_notices.html")]
struct PageTpl<'a> {
    t: &'a PageCtx,
    flash: Flash,
    unread: i64,
    official: bool,
    /// A village node: notices are posted on the hub (its copy is read-only).
    on_node: bool,
    list: String,
}

async fn list_html(st: &St, ctx: &PageCtx) -> Result<String, PageError> {
    let list =
        st.a.notices(&ctx.user, None, 50)
            .await
            .map_err(PageError::internal)?;
    body(&ListTpl {
        t: ctx,
        rows: rows(ctx, list),
    })
}

pub(crate) async fn page(
    State(st): State<St>,
    ctx: PageCtx,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let unread =
        st.a.unread_count(&ctx.user)
            .await
            .map_err(PageError::internal)?;
    let list = list_html(&st, &ctx).await?;
    let on_node =
        st.a.read(|c| Ok(cunlink_core::sync::is_node(c)?))
            .await
            .map_err(PageError::internal)?;
    let official = access::is_manager(&ctx.user);
    let html = body(&PageTpl {
        t: &ctx,
        flash,
        unread,
        official: official && !on_node,
        on_node: official && on_node,
        list,
    })?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("affairs.notices.title"),
        &html,
        PageOpts::default(),
    ))
}

/// The caller's unread count, for the tab's badge.
pub(crate) async fn unread(State(st): State<St>, ctx: PageCtx) -> Result<Response, PageError> {
    gate(&ctx)?;
    let count =
        st.a.unread_count(&ctx.user)
            .await
            .map_err(PageError::internal)?;
    let mut r = axum::Json(serde_json::json!({ "count": count })).into_response();
    // Personal and changing: never from a shared cache.
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-cache"),
    );
    Ok(r)
}

/// The list alone, for the page's polling.
pub(crate) async fn list(State(st): State<St>, ctx: PageCtx) -> Result<Response, PageError> {
    gate(&ctx)?;
    Ok(Html(list_html(&st, &ctx).await?).into_response())
}

pub(crate) async fn create(
    State(st): State<St>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let mut o = form_obj(&ctx, &f)?;
    o.insert(
        "urgent".into(),
        serde_json::Value::Bool(f.get("urgent").is_some_and(|v| v == "1")),
    );
    match st.a.create_notice(&ctx.user, o).await {
        Ok(_) => Ok(back(super::HOME, true, ctx.t("affairs.notices.posted"))),
        Err(e) => Ok(back(super::HOME, false, &refusal(e)?)),
    }
}

pub(crate) async fn read(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    form_obj(&ctx, &f)?;
    match st.a.read_notice(&ctx.user, id).await {
        Ok(()) => Ok(back(super::HOME, true, ctx.t("affairs.notices.marked"))),
        Err(e) => Ok(back(super::HOME, false, &refusal(e)?)),
    }
}

#[derive(Template)]
#[template(path = "affairs_notice.html")]
struct DetailTpl<'a> {
    t: &'a PageCtx,
    row: Row,
    read: Vec<(String, String)>,
    unread: Vec<String>,
    official: bool,
}

/// One notice. Opening it counts as reading it (it is where the push
/// notification and the feed lead).
pub(crate) async fn detail(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    gate(&ctx)?;
    let n = match st.a.notice(&ctx.user, id).await {
        Ok(n) => n,
        Err(crate::AffairsError::NotFound { .. }) => return Err(PageError::NotFound),
        Err(e) => return Err(PageError::internal(e)),
    };
    // Not a recipient (an official of a group notice): nothing to mark.
    let _ = st.a.read_notice(&ctx.user, id).await;
    let official = access::manages(&ctx.user, n.village_id);
    let (mut read, mut unread) = (Vec::new(), Vec::new());
    if official {
        let r =
            st.a.receipts(&ctx.user, id, crate::notices::MAX_RECEIPTS)
                .await
                .map_err(PageError::internal)?;
        let f = Fmt { locale: ctx.locale };
        for x in r["read"].as_array().into_iter().flatten() {
            read.push((
                x["user"].as_str().unwrap_or("").to_string(),
                f.datetime(x["read_at"].as_i64().unwrap_or(0)),
            ));
        }
        for x in r["unread"].as_array().into_iter().flatten() {
            unread.push(x["user"].as_str().unwrap_or("").to_string());
        }
    }
    let row = rows(&ctx, vec![n]).pop().ok_or(PageError::NotFound)?;
    let title = row.title.clone();
    let html = body(&DetailTpl {
        t: &ctx,
        row,
        read,
        unread,
        official,
    })?;
    Ok(cunlink_web::page(&ctx, &title, &html, PageOpts::default()))
}
