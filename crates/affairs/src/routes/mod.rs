//! The affairs JSON API under `/api/affairs/`. Each handler reads its body
//! with a limit (`input`), calls one method of [`Affairs`] and answers JSON.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use cunlink_core::ApiError;
use cunlink_core::auth::AuthService;
use cunlink_core::routes::Routes;
use cunlink_core::web::CurrentUser;
use serde::Deserialize;
use serde_json::json;

use crate::input::{self, MAX_FILE};
use crate::{Affairs, AffairsError};

#[derive(Clone)]
pub(crate) struct St(pub Arc<Affairs>);

impl FromRef<St> for AuthService {
    fn from_ref(s: &St) -> AuthService {
        s.0.auth.clone()
    }
}

pub(crate) fn routes(a: Arc<Affairs>) -> Routes {
    Routes::new()
        .route(
            "/api/affairs/notices",
            get(list_notices).post(create_notice),
        )
        .route("/api/affairs/notices/{id}", get(get_notice))
        .route("/api/affairs/notices/{id}/read", post(read_notice))
        .route("/api/affairs/notices/{id}/receipts", get(receipts))
        .route("/api/affairs/notices/{id}/photos", post(add_photo))
        .route(
            "/api/affairs/notices/{id}/audio",
            get(notice_audio).post(add_audio),
        )
        .route("/api/affairs/files/{hash}", get(file))
        .route("/api/affairs/groups", get(list_groups).post(put_group))
        .route("/api/affairs/ledger", get(ledger_month).post(add_entry))
        .route("/api/affairs/ledger/months", get(ledger_months))
        .route("/api/affairs/ledger/months/{month}/publish", post(publish))
        .route("/api/affairs/ledger/{id}", delete(delete_entry))
        .route("/api/affairs/ledger/{id}/approve", post(approve))
        .route("/api/affairs/ledger/{id}/voucher", post(voucher))
        .route("/api/affairs/ledger/{id}/questions", post(ask))
        .route("/api/affairs/ledger/questions/{id}/answer", post(answer))
        .route("/api/affairs/feedback", get(list_feedback).post(report))
        .route("/api/affairs/feedback/stats", get(feedback_stats))
        .route("/api/affairs/feedback/{id}", get(get_feedback))
        .route("/api/affairs/feedback/{id}/ack", post(ack_feedback))
        .route("/api/affairs/feedback/{id}/assign", post(assign_feedback))
        .route("/api/affairs/feedback/{id}/resolve", post(resolve_feedback))
        .route("/api/affairs/feedback/{id}/rate", post(rate_feedback))
        .route("/api/affairs/feedback/{id}/photo", post(feedback_photo))
        .route("/api/affairs/votes", get(list_votes).post(create_vote))
        .route("/api/affairs/votes/{id}", get(get_vote))
        .route("/api/affairs/votes/{id}/ballot", post(ballot))
        .with_state(St(a))
}

type R = Result<Response, ApiError>;

fn ok(v: impl serde::Serialize) -> R {
    Ok(Json(v).into_response())
}

fn created(v: serde_json::Value) -> R {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    village: Option<String>,
    month: Option<String>,
}

/// `limit` in 1..=max (default `max`), as text so any bad form is a named 400.
fn limit(q: &ListQuery, max: i64) -> Result<i64, AffairsError> {
    match &q.limit {
        None => Ok(max),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(AffairsError::invalid(
                "bad_parameter",
                "limit",
                format!("limit must be a whole number from 1 to {max}"),
            )),
        },
    }
}

// --- notices ----------------------------------------------------------------

async fn create_notice(State(s): State<St>, CurrentUser(u): CurrentUser, body: Body) -> R {
    let o = input::object(body).await?;
    let id = s.0.create_notice(&u, o).await?;
    created(json!({ "id": id }))
}

async fn list_notices(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Query(q): Query<ListQuery>,
) -> R {
    let n = limit(&q, crate::notices::MAX_LIST)?;
    ok(s.0.notices(&u, q.village, n).await?)
}

async fn get_notice(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    ok(s.0.notice(&u, id).await?)
}

async fn read_notice(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    s.0.read_notice(&u, id).await?;
    ok(json!({ "id": id, "read": true }))
}

async fn receipts(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<ListQuery>,
) -> R {
    let n = limit(&q, crate::notices::MAX_RECEIPTS)?;
    ok(s.0.receipts(&u, id, n).await?)
}

async fn add_photo(s: State<St>, u: CurrentUser, id: Path<i64>, body: Body) -> R {
    attach(s, u, id, body, "image").await
}

async fn add_audio(s: State<St>, u: CurrentUser, id: Path<i64>, body: Body) -> R {
    attach(s, u, id, body, "audio").await
}

async fn attach(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
    kind: &'static str,
) -> R {
    let bytes = input::bytes(body, MAX_FILE, "body").await?;
    let hash = s.0.attach(&u, id, kind, bytes).await?;
    created(json!({ "hash": hash, "url": format!("/api/affairs/files/{hash}") }))
}

fn file_response(ct: String, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, ct),
            // Named by their hash: they never change.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The loudspeaker's recording of a notice: what an IP broadcast system
/// fetches (with an API token).
async fn notice_audio(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    let n = s.0.notice(&u, id).await?;
    let Some(hash) = n.audio else {
        return Err(
            AffairsError::not_found("no_audio", format!("notice {id} has no recording")).into(),
        );
    };
    let (ct, bytes) = s.0.file(&u, hash).await?;
    Ok(file_response(ct, bytes))
}

async fn file(State(s): State<St>, CurrentUser(u): CurrentUser, Path(hash): Path<String>) -> R {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AffairsError::not_found("unknown_file", "no such file").into());
    }
    let (ct, bytes) = s.0.file(&u, hash).await?;
    Ok(file_response(ct, bytes))
}

async fn list_groups(State(s): State<St>, CurrentUser(u): CurrentUser) -> R {
    ok(s.0.groups(&u).await?)
}

async fn put_group(State(s): State<St>, CurrentUser(u): CurrentUser, body: Body) -> R {
    let o = input::object(body).await?;
    created(s.0.put_group(&u, o).await?)
}

// --- ledger -----------------------------------------------------------------

async fn add_entry(State(s): State<St>, CurrentUser(u): CurrentUser, body: Body) -> R {
    let o = input::object(body).await?;
    created(s.0.add_entry(&u, o).await?)
}

async fn ledger_month(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Query(q): Query<ListQuery>,
) -> R {
    ok(s.0.ledger_month(&u, q.village, q.month).await?)
}

async fn ledger_months(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Query(q): Query<ListQuery>,
) -> R {
    ok(s.0.ledger_months(&u, q.village).await?)
}

async fn publish(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(month): Path<String>,
    body: Body,
) -> R {
    let raw = input::bytes(body, input::MAX_JSON, "body").await?;
    let o = if raw.iter().all(u8::is_ascii_whitespace) {
        input::Obj::new()
    } else {
        match serde_json::from_slice(&raw) {
            Ok(serde_json::Value::Object(o)) => o,
            _ => {
                return Err(AffairsError::invalid(
                    "invalid_body",
                    "body",
                    "expected a JSON object",
                )
                .into());
            }
        }
    };
    ok(s.0.publish_month(&u, month, o).await?)
}

async fn delete_entry(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    s.0.delete_entry(&u, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn approve(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    ok(s.0.approve_entry(&u, id).await?)
}

async fn voucher(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let bytes = input::bytes(body, MAX_FILE, "body").await?;
    let hash = s.0.set_voucher(&u, id, bytes).await?;
    created(json!({ "hash": hash, "url": format!("/api/affairs/files/{hash}") }))
}

async fn ask(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let o = input::object(body).await?;
    let qid = s.0.ask(&u, id, o).await?;
    created(json!({ "id": qid }))
}

async fn answer(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let o = input::object(body).await?;
    s.0.answer(&u, id, o).await?;
    ok(json!({ "id": id, "answered": true }))
}

// --- feedback ---------------------------------------------------------------

async fn report(State(s): State<St>, CurrentUser(u): CurrentUser, body: Body) -> R {
    let o = input::object(body).await?;
    created(s.0.report(&u, o).await?)
}

async fn list_feedback(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Query(q): Query<ListQuery>,
) -> R {
    let n = limit(&q, crate::feedback::MAX_LIST)?;
    ok(s.0.feedback_list(&u, n).await?)
}

async fn feedback_stats(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Query(q): Query<ListQuery>,
) -> R {
    let v = s.0.reading_village_pub(&u, q.village).await?;
    let month = q
        .month
        .unwrap_or_else(|| input::china_month(s.0.clock.now()));
    let month = input::month_str(&month).ok_or_else(|| {
        AffairsError::invalid("invalid_month", "month", "month must look like 2026-11")
    })?;
    ok(json!({ "month": month, "categories": s.0.feedback_stats(v, &month).await? }))
}

async fn get_feedback(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    ok(s.0.feedback(&u, id).await?)
}

async fn ack_feedback(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    ok(s.0.ack_feedback(&u, id).await?)
}

async fn assign_feedback(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let o = input::object(body).await?;
    ok(s.0.assign_feedback(&u, id, o).await?)
}

async fn resolve_feedback(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let o = input::object(body).await?;
    ok(s.0.resolve_feedback(&u, id, o).await?)
}

async fn rate_feedback(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let o = input::object(body).await?;
    ok(s.0.rate_feedback(&u, id, o).await?)
}

async fn feedback_photo(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let bytes = input::bytes(body, MAX_FILE, "body").await?;
    let hash = s.0.feedback_photo(&u, id, bytes).await?;
    created(json!({ "hash": hash, "url": format!("/api/affairs/files/{hash}") }))
}

// --- votes ------------------------------------------------------------------

async fn create_vote(State(s): State<St>, CurrentUser(u): CurrentUser, body: Body) -> R {
    let o = input::object(body).await?;
    let id = s.0.create_vote(&u, o).await?;
    created(json!({ "id": id }))
}

async fn list_votes(State(s): State<St>, CurrentUser(u): CurrentUser) -> R {
    ok(s.0.votes(&u).await?)
}

async fn get_vote(State(s): State<St>, CurrentUser(u): CurrentUser, Path(id): Path<i64>) -> R {
    ok(s.0.vote(&u, id).await?)
}

async fn ballot(
    State(s): State<St>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Body,
) -> R {
    let o = input::object(body).await?;
    ok(s.0.ballot(&u, id, o).await?)
}
