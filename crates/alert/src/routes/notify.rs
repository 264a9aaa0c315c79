//! Each user's notification settings: preferences, web push subscriptions,
//! webhooks, and dead letters to retry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::AlertStoreError;
use crate::notify::prefs::Prefs;
use crate::notify::store as nstore;
use crate::{AlertError, Alerts};
use cunlink_core::ApiError;
use cunlink_core::auth::{Role, User};
use cunlink_core::time::now_ms;
use cunlink_core::web::CurrentUser;

use super::AlertState;

pub(super) async fn get_prefs(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    mine(&s, move |c| nstore::prefs(c, user.id)).await
}

pub(super) async fn put_prefs(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request(
            "invalid_preferences",
            format!("the preferences are not valid: {e}"),
        )
    };
    let raw: serde_json::Value = serde_json::from_slice(&body).map_err(invalid)?;
    crate::notify::prefs::check_numbers(&raw).map_err(|(field, msg)| {
        ApiError::bad_request("invalid_preferences", msg).with_field(field)
    })?;
    let p: Prefs = serde_json::from_value(raw).map_err(invalid)?;
    p.check().map_err(|(field, msg)| {
        ApiError::bad_request("invalid_preferences", msg).with_field(field)
    })?;
    let saved = p.clone();
    s.0.db
        .call(move |c| nstore::put_prefs(c, user.id, &p))
        .await
        .map_err(AlertError::from)?;
    Ok(Json(saved).into_response())
}

pub(super) async fn vapid_key(State(s): State<AlertState>) -> Response {
    Json(serde_json::json!({ "public_key": s.0.notifier.vapid.public_b64 })).into_response()
}

#[derive(Deserialize)]
pub(super) struct PushKeys {
    p256dh: String,
    auth: String,
}

/// The browser's `PushSubscription.toJSON()`.
#[derive(Deserialize)]
pub(super) struct PushBody {
    endpoint: String,
    keys: PushKeys,
}

pub(super) async fn add_push(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: PushBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_subscription",
            format!("expected a PushSubscription JSON: {e}"),
        )
    })?;
    check_notify_url(&s.0, &b.endpoint, "invalid_subscription", "endpoint").await?;
    // Encrypting a test message checks both keys now rather than at the first alarm.
    if let Err(e) = crate::notify::webpush::encrypt(&b.keys.p256dh, &b.keys.auth, b"{}") {
        let field = match e {
            crate::notify::webpush::PushError::BadAuth => "keys.auth",
            _ => "keys.p256dh",
        };
        return Err(ApiError::bad_request("invalid_subscription", e.to_string()).with_field(field));
    }
    let id =
        s.0.db
            .call(move |c| {
                nstore::add_push(
                    c,
                    user.id,
                    &b.endpoint,
                    &b.keys.p256dh,
                    &b.keys.auth,
                    now_ms(),
                )
            })
            .await
            .map_err(AlertError::from)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

pub(super) async fn list_pushes(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    mine(&s, move |c| nstore::pushes_of(c, user.id)).await
}

pub(super) async fn remove_push(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let not_yours = format!("no push subscription {id} of yours");
    remove_mine(&s, "unknown_subscription", not_yours, move |c| {
        nstore::remove_push(c, id, Some(user.id))
    })
    .await
}

/// The caller's own settings, as JSON.
async fn mine<T, F>(s: &AlertState, f: F) -> Result<Response, ApiError>
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce(&cunlink_core::sql::Connection) -> Result<T, AlertStoreError> + Send + 'static,
{
    let v = s.0.db.call(move |c| f(c)).await.map_err(AlertError::from)?;
    Ok(Json(v).into_response())
}

/// Delete one of the caller's things: 204, or 404 when it is not theirs.
async fn remove_mine<F>(
    s: &AlertState,
    code: &'static str,
    not_yours: String,
    f: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&cunlink_core::sql::Connection) -> Result<bool, AlertStoreError> + Send + 'static,
{
    if !s.0.db.call(move |c| f(c)).await.map_err(AlertError::from)? {
        return Err(ApiError::not_found(code, not_yours).with_field("id"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookBody {
    url: String,
}

pub(super) async fn add_webhook(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: WebhookBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_webhook", format!("expected {{\"url\": ...}}: {e}"))
    })?;
    let url = b.url.trim().to_string();
    check_notify_url(&s.0, &url, "invalid_webhook", "url").await?;
    let hook =
        s.0.db
            .call(move |c| nstore::add_webhook(c, user.id, &url, now_ms()))
            .await
            .map_err(AlertError::from)?;
    Ok((StatusCode::CREATED, Json(hook)).into_response())
}

/// A webhook or push URL must be http(s) and reach only addresses the
/// configuration allows (see `notify::net`); refused with 400 naming `field`.
async fn check_notify_url(
    s: &Alerts,
    url: &str,
    code: &'static str,
    field: &'static str,
) -> Result<(), ApiError> {
    use crate::notify::net::TargetError;
    s.notifier.check_target(url).await.map_err(|e| {
        let code = match e {
            TargetError::BadUrl => code,
            TargetError::Unresolved => "unresolved_host",
            TargetError::Private => "private_address",
        };
        ApiError::bad_request(code, format!("{field} {e}")).with_field(field)
    })
}

pub(super) async fn list_webhooks(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    mine(&s, move |c| nstore::webhooks_of(c, user.id)).await
}

pub(super) async fn remove_webhook(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let not_yours = format!("no webhook {id} of yours");
    remove_mine(&s, "unknown_webhook", not_yours, move |c| {
        nstore::remove_webhook(c, id, user.id)
    })
    .await
}

/// Admins see every dead letter; others their own.
fn scope(user: &User) -> Option<i64> {
    (user.role != Role::Admin).then_some(user.id)
}

pub(super) async fn dead_letters(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    let who = scope(&user);
    mine(&s, move |c| nstore::dead(c, who)).await
}

pub(super) async fn retry_dead(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let who = scope(&user);
    let ok =
        s.0.db
            .call(move |c| nstore::revive(c, id, who, now_ms()))
            .await
            .map_err(AlertError::from)?;
    if !ok {
        return Err(ApiError::not_found(
            "unknown_dead_letter",
            format!("no dead letter {id} of yours"),
        )
        .with_field("id"));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "status": "pending" })),
    )
        .into_response())
}
