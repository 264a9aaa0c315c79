//! Form posts on alarms: acknowledge, clear (from a list row or the detail
//! page), assign, comment. Each checks the session's CSRF token and the same
//! role rules as the JSON API. An htmx request gets the row back (nothing when
//! the alarm no longer belongs to the list it was on, so it leaves it); a plain
//! form post is redirected back.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use cunlink_web::{PageCtx, PageError};

use super::PagesState;
use super::inbox::{render_row, visible};
use crate::alarms::Handling;
use crate::store::Alarm;

#[derive(Deserialize)]
pub(crate) struct ActForm {
    csrf: String,
    /// The status filter of the list the row is on.
    #[serde(default)]
    keep: String,
}

fn may_handle(ctx: &PageCtx) -> Result<(), PageError> {
    if crate::routes::can_handle_alarms(&ctx.user) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

fn answer(
    s: &PagesState,
    ctx: &PageCtx,
    headers: &HeaderMap,
    a: &Alarm,
    keep: &str,
) -> Result<Response, PageError> {
    if headers.contains_key("hx-request") {
        let stays = keep == "all" || keep == a.status.as_str();
        if !stays {
            return Ok(Html("").into_response());
        }
        return render_row(s, ctx, a, keep, false);
    }
    Ok(Redirect::to(&format!("/alarms/{}", a.id)).into_response())
}

pub(crate) async fn ack(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    act(&s, &ctx, id, &headers, &f, Handling::Ack).await
}

pub(crate) async fn clear(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    act(&s, &ctx, id, &headers, &f, Handling::Clear).await
}

async fn act(
    s: &PagesState,
    ctx: &PageCtx,
    id: i64,
    headers: &HeaderMap,
    f: &ActForm,
    h: Handling,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    visible(s, ctx, id).await?;
    may_handle(ctx)?;
    let (a, _) = s
        .alerts
        .alarms
        .handle(id, &ctx.user.username, h)
        .await
        .map_err(super::store_error)?;
    answer(s, ctx, headers, &a, &f.keep)
}

#[derive(Deserialize)]
pub(crate) struct AssignForm {
    csrf: String,
    /// Empty: nobody.
    #[serde(default)]
    user: String,
}

pub(crate) async fn assign(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<AssignForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let a = visible(&s, &ctx, id).await?;
    may_handle(&ctx)?;
    let name = f.user.trim().to_string();
    let to = if name.is_empty() {
        None
    } else {
        // Only someone who sees this village's alarms can take one on.
        if !crate::routes::may_be_assigned(&s.alerts, &a, &name)
            .await
            .map_err(PageError::internal)?
        {
            return Err(PageError::BadRequest(format!(
                "{}: {name}",
                ctx.t("alert.no_user")
            )));
        }
        Some(name)
    };
    s.alerts
        .alarms
        .assign(id, to)
        .await
        .map_err(super::store_error)?;
    Ok(Redirect::to(&format!("/alarms/{id}")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CommentForm {
    csrf: String,
    text: String,
}

pub(crate) async fn comment(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<CommentForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    visible(&s, &ctx, id).await?;
    let text = f.text.trim().to_string();
    if text.is_empty() || text.chars().count() > 2000 {
        return Err(PageError::BadRequest(
            ctx.t("alert.comment_len").to_string(),
        ));
    }
    s.alerts
        .alarms
        .comment(id, &ctx.user.username, text)
        .await
        .map_err(super::store_error)?;
    Ok(Redirect::to(&format!("/alarms/{id}#comments")).into_response())
}
