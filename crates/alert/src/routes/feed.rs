//! Each user's in-app feed: notices other domains sent through the
//! `NotifyUsers` port (see `notify/users.rs`), and the live stream of the
//! user's notifications over the village network (`notify/local.rs`).

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::AlertError;
use crate::notify::feed;
use cunlink_core::ApiError;
use cunlink_core::time::now_ms;
use cunlink_core::web::CurrentUser;

use super::AlertState;
use super::alarms::int_param;

#[derive(Deserialize)]
pub(super) struct FeedQuery {
    limit: Option<String>,
}

/// `GET /api/me/notifications/feed?limit=`: the caller's newest entries first.
pub(super) async fn list_feed(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    let limit = int_param(q.limit.as_deref(), "limit", 1, feed::MAX_LIMIT as i64)?
        .map_or(feed::DEFAULT_LIMIT, |n| n as usize);
    let entries =
        s.0.db
            .call(move |c| feed::list(c, user.id, limit).map_err(cunlink_core::DbError::from))
            .await
            .map_err(AlertError::from)?;
    Ok(Json(entries).into_response())
}

/// `POST /api/me/notifications/{id}/read`: 204, or 404 when it is not the caller's.
pub(super) async fn read_feed(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let mine =
        s.0.db
            .call(move |c| {
                feed::mark_read(c, id, user.id, now_ms()).map_err(cunlink_core::DbError::from)
            })
            .await
            .map_err(AlertError::from)?;
    if !mine {
        return Err(ApiError::not_found(
            "unknown_notification",
            format!("no notification {id} of yours"),
        )
        .with_field("id"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/me/notifications/live`: an SSE stream of `notify` events, each the
/// Web Push payload of an alarm or notice for the caller, sent when its push is
/// due. Every signed-in page listens (see the web kit's `notify_stream`).
pub(super) async fn live(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    let rx = s.0.notifier.local.subscribe();
    let me = user.id;
    let events = BroadcastStream::new(rx).filter_map(move |n| {
        let n = n.ok()?;
        (n.user_id == me)
            .then(|| Ok::<_, Infallible>(Event::default().event("notify").data(n.payload.clone())))
    });
    // Says the subscription is live: what happens after it is delivered.
    let hello = tokio_stream::once(Ok(Event::default().event("hello").data("{}")));
    let stream = hello.chain(events);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
