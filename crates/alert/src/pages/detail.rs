//! `/alarms/{id}`: one alarm with what set it off, its history (raised,
//! repeated, acknowledged, escalated, cleared, and every comment in time order),
//! and forms to acknowledge, clear, assign and comment.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use cunlink_web::layout::body;
use cunlink_web::layout::page as shell;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::PagesState;
use super::inbox::visible;
use super::view::{AlarmView, view};
use crate::store;

struct Event {
    at: i64,
    when: String,
    who: String,
    what: String,
    comment: bool,
}

#[derive(Template)]
#[template(path = "detail.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    a: AlarmView,
    handle: bool,
    history: Vec<Event>,
    users: Vec<String>,
}

pub(crate) async fn page_handler(
    s: &PagesState,
    ctx: &PageCtx,
    id: i64,
) -> Result<Response, PageError> {
    let a = visible(s, ctx, id).await?;
    let comments = s
        .alerts
        .db
        .call(move |c| store::comments(c, id))
        .await
        .map_err(PageError::internal)?;
    let f = ctx.fmt();
    let ev = |at: i64, who: &str, key: &str| Event {
        at,
        when: f.datetime(at),
        who: who.to_string(),
        what: ctx.t(key).to_string(),
        comment: false,
    };
    let mut history = vec![ev(a.started_at, "", "alert.hist.raised")];
    if a.count > 1 {
        history.push(ev(a.updated_at, "", "alert.hist.repeated"));
    }
    if let Some(at) = a.acked_at {
        history.push(ev(
            at,
            a.acked_by.as_deref().unwrap_or(""),
            "alert.hist.acked",
        ));
    }
    if let Some(at) = a.escalated_at {
        history.push(ev(at, "", "alert.hist.escalated"));
    }
    if let Some(at) = a.cleared_at {
        history.push(ev(
            at,
            a.cleared_by.as_deref().unwrap_or(""),
            "alert.hist.cleared",
        ));
    }
    history.extend(comments.into_iter().map(|c| Event {
        at: c.at,
        when: f.datetime(c.at),
        who: c.author,
        what: c.text,
        comment: true,
    }));
    history.sort_by_key(|e| e.at);
    let handle = crate::routes::can_handle_alarms(&ctx.user);
    let users = if handle {
        s.alerts
            .auth
            .users_for_village(a.village_id)
            .await
            .map_err(PageError::internal)?
            .into_iter()
            .filter(|u| crate::routes::can_handle_alarms(u))
            .map(|u| u.username)
            .collect()
    } else {
        Vec::new()
    };
    let tpl = Tpl {
        t: ctx,
        a: view(ctx, &s.alerts.farm, &a),
        handle,
        history,
        users,
    };
    Ok(shell(
        ctx,
        &tpl.a.rule.clone(),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

pub(crate) async fn page(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    page_handler(&s, &ctx, id).await
}
