//! The consult's video call (item 3): ICE servers, the room token, the
//! signaling socket and the call page. The media and signaling machinery is
//! `cunlink-rtc`; this file only decides who may enter a consult's room.
//!
//! * `GET /api/clinic/ice-servers`: TURN REST credentials for doctors and
//!   villagers (patients' accounts).
//! * `POST /api/clinic/consults/{id}/call`: a fresh room token, for the members
//!   of the consult's call only (its village doctor, its county doctor and the
//!   patient's linked account) while the consult is accepted, scheduled or in a
//!   call. `call.js` asks for one when its socket has to reconnect.
//! * `GET /api/clinic/consults/{id}/call/ws?token=`: the signaling WebSocket.
//!   The session must be a member's, and the token must have been issued for
//!   this consult's room and this user in the last minute and not used before.
//!   When a second member arrives, the consult is marked `in_call`.
//! * `GET /clinic/consults/{id}/call`: the page; it carries its first token, so
//!   the call starts without another round trip.
//!
//! A consult's room is `clinic-consult-{id}`, known only to the server; a room
//! admits two members (the patient's account replaces neither doctor: with
//! three people linked, the first two in are the call).

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRef, Path, Query, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, Role, User};
use cunlink_core::routes::Routes;
use cunlink_core::web::CurrentUser;
use cunlink_rtc::{JoinError, TokenError};
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts, WebKit};
use serde::Deserialize;
use serde_json::json;

use crate::{CallMembers, Clinic, ClinicError, ConsultStatus};

/// Most people in one consult's call.
pub const MEMBERS: usize = 2;

/// The call machinery's limits for the clinic: two members a room.
pub fn limits() -> cunlink_rtc::Limits {
    cunlink_rtc::Limits {
        max_members: MEMBERS,
        ..cunlink_rtc::Limits::default()
    }
}

fn room(consult_id: i64) -> String {
    format!("clinic-consult-{consult_id}")
}

/// End consult `consult_id`'s call (it was closed or cancelled): its room
/// closes, the sockets close, and the pages' new token requests get 409.
pub(crate) fn end(clinic: &Clinic, consult_id: i64) {
    clinic.calls.hub.close_room(&room(consult_id));
}

#[derive(Clone)]
struct CallState {
    clinic: Arc<Clinic>,
}

impl FromRef<CallState> for AuthService {
    fn from_ref(s: &CallState) -> AuthService {
        s.clinic.auth.clone()
    }
}

#[derive(Clone)]
struct PageState {
    clinic: Arc<Clinic>,
    kit: WebKit,
}

impl FromRef<PageState> for WebKit {
    fn from_ref(s: &PageState) -> WebKit {
        s.kit.clone()
    }
}

pub(crate) fn api_routes(clinic: Arc<Clinic>) -> Routes {
    Routes::new()
        .route("/api/clinic/ice-servers", get(ice_servers))
        .route("/api/clinic/consults/{id}/call", post(call_token))
        .route("/api/clinic/consults/{id}/call/ws", get(socket))
        .with_state(CallState { clinic })
}

pub(crate) fn page_routes(clinic: Arc<Clinic>, kit: WebKit) -> Routes {
    Routes::new()
        .route("/clinic/consults/{id}/call", get(page))
        .with_state(PageState { clinic, kit })
}

/// Who may ask for TURN credentials: the people calls are for — doctors,
/// villagers, and any account linked to a patient (a farmer can be a patient
/// and join their consult's call, so must get the relay too).
async fn may_call(clinic: &Clinic, user: &User) -> Result<bool, ClinicError> {
    if matches!(user.role, Role::Doctor | Role::Villager) {
        return Ok(true);
    }
    let id = user.id;
    clinic
        .db
        .call(move |c| Ok::<_, ClinicError>(crate::store::people::is_patient_account(c, id)?))
        .await
}

async fn ice_servers(
    State(s): State<CallState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    if !may_call(&s.clinic, &user).await? {
        return Err(ApiError::forbidden("calls are for doctors and patients"));
    }
    Ok(Json(s.clinic.calls.ice_servers(user.id)).into_response())
}

/// The consult's call members if `user` is one and the consult can have a call.
async fn members_for(clinic: &Clinic, id: i64, user: &User) -> Result<CallMembers, ClinicError> {
    let Some(m) = clinic.call_members(id).await? else {
        return Err(ClinicError::not_found(
            "unknown_consult",
            format!("no consult {id}"),
        ));
    };
    if !m.contains(user.id) {
        return Err(ClinicError::forbidden(
            "only the consult's doctors and its patient join its call",
        ));
    }
    match m.status {
        ConsultStatus::Accepted | ConsultStatus::Scheduled | ConsultStatus::InCall => Ok(m),
        s => Err(ClinicError::conflict(
            "consult_not_ready",
            Some("status"),
            format!("a {s} consult has no call; a county doctor must accept or schedule it first"),
        )),
    }
}

fn ws_path(id: i64) -> String {
    format!("/api/clinic/consults/{id}/call/ws")
}

async fn call_token(
    State(s): State<CallState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    members_for(&s.clinic, id, &user).await?;
    let calls = &s.clinic.calls;
    Ok(Json(json!({
        "token": calls.issue(&room(id), user.id),
        "ws": ws_path(id),
        "iceServers": calls.ice_servers(user.id).ice_servers,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn socket(
    State(s): State<CallState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<TokenQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    members_for(&s.clinic, id, &user).await?;
    // Checked after membership, so a plain GET tells an outsider nothing more than 403.
    let upgrade = upgrade.map_err(|_| {
        ApiError::bad_request(
            "websocket_required",
            "this address takes a WebSocket connection",
        )
    })?;
    let calls = &s.clinic.calls;
    let room = room(id);
    calls.redeem(&q.token, &room, user.id).map_err(|e| {
        let a = match e {
            TokenError::Busy => ApiError::unavailable(e.to_string(), 60),
            _ => ApiError::forbidden(e.to_string()),
        };
        a.with_field("token")
    })?;
    let resp =
        cunlink_rtc::ws::serve(&calls.hub, &room, user.id, upgrade).map_err(|e| match e {
            JoinError::Full => {
                ApiError::new(axum::http::StatusCode::CONFLICT, "call_full", e.to_string())
            }
            JoinError::Busy => ApiError::unavailable(e.to_string(), 30),
        })?;
    // Two members in the room: the consult is in a call.
    if calls.hub.members(&room).len() >= MEMBERS {
        let clinic = s.clinic.clone();
        tokio::spawn(async move {
            if let Err(e) = clinic.mark_in_call(id, user.id).await {
                tracing::warn!(consult = id, "marking the consult in_call: {e}");
            }
        });
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "call.html")]
struct CallTpl<'a> {
    t: &'a PageCtx,
    id: i64,
    ws: String,
    token: String,
    ice: String,
    call_js: &'static str,
}

async fn page(
    State(s): State<PageState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    match members_for(&s.clinic, id, &ctx.user).await {
        Ok(_) => {}
        Err(ClinicError::NotFound(..)) => return Err(PageError::NotFound),
        Err(ClinicError::Forbidden(_)) => return Err(PageError::Forbidden),
        Err(ClinicError::Conflict { message, .. }) => return Err(PageError::BadRequest(message)),
        Err(e) => return Err(PageError::internal(e)),
    }
    let calls = &s.clinic.calls;
    let ice = serde_json::to_string(&calls.ice_servers(ctx.user.id).ice_servers)
        .map_err(PageError::internal)?;
    let html = body(&CallTpl {
        t: &ctx,
        id,
        ws: ws_path(id),
        token: calls.issue(&room(id), ctx.user.id),
        ice,
        call_js: cunlink_web::assets::url("call.js"),
    })?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("clinic.call.title"),
        &html,
        PageOpts::default(),
    ))
}
