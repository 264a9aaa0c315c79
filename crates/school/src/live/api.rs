//! `POST /api/school/classes/{id}/live`: join the live class with an SDP offer.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

use cunlink_core::ApiError;
use cunlink_core::routes::Routes;
use cunlink_core::web::CurrentUser;
use cunlink_rtc::sfu::{Layer, MAX_OFFER, SfuError};

use crate::routes::{R, SchoolState, db};
use crate::{SchoolError, access, input};

pub(crate) fn routes() -> Routes<SchoolState> {
    Routes::new().route("/api/school/classes/{id}/live", post(join))
}

async fn join(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Response> {
    access::require_use(&u)?;
    let uid = u.id;
    let (pairing, role) = db(&s.0, move |c| super::who(c, id, uid))
        .await?
        .ok_or_else(|| {
            SchoolError::not_found("unknown_class", format!("class {id} has no live class"))
        })?;
    let o = input::object(&body)?;
    // Not trimmed: an SDP ends with its line break.
    let sdp = match o.get("sdp").and_then(serde_json::Value::as_str) {
        Some(v) if !v.is_empty() && v.len() <= MAX_OFFER => v.to_string(),
        _ => {
            return Err(SchoolError::invalid(
                "missing_field",
                "sdp",
                "sdp: the browser's SDP offer (at most 64 KiB) is required",
            )
            .into());
        }
    };
    // A classroom may pin a camera layer (`?layer=` on its page); absent or
    // "auto": chosen from its bandwidth.
    let pin = match o.get("layer") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_str() {
            Some("auto") => None,
            Some(l) if Layer::parse(l).is_some() => Layer::parse(l),
            _ => {
                return Err(SchoolError::invalid(
                    "bad_layer",
                    "layer",
                    "layer: one of auto, low, mid, high",
                )
                .into());
            }
        },
    };
    let answer =
        s.0.live
            .sfu
            .join(&super::room(pairing), u.id, role, &sdp, pin)
            .await
            .map_err(|e| match e {
                SfuError::BadOffer(_) => {
                    ApiError::bad_request("bad_offer", e.to_string()).with_field("sdp")
                }
                SfuError::Full => ApiError::new(StatusCode::CONFLICT, "live_full", e.to_string()),
                SfuError::Busy | SfuError::Stopped => ApiError::unavailable(e.to_string(), 10),
            })?;
    Ok(Json(json!({"sdp": answer, "role": super::role_name(role)})).into_response())
}
