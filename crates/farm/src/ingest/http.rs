//! HTTP ingest: the ThingsBoard device API and the ChirpStack integration.
//!
//! `POST /api/v1/{token}/telemetry`, `/attributes`, `/gateway/telemetry`,
//! `/gateway/attributes`; `POST /api/integrations/chirpstack?event=up` (with an
//! integration token as `Authorization: Bearer TOKEN`).
//! Each answers 200 only after the values are committed; a full queue is 503 with
//! `Retry-After`; bad input is a 4xx JSON error naming the problem.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cunlink_core::routes::Routes;
use serde::Deserialize;

use super::{Ingest, IngestError, Kind, Prepared, chirpstack};
use crate::FarmError;
use crate::telemetry::{Admission, WriteError};
use cunlink_core::ApiError;

/// Largest request body accepted by the device API.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The raw body, at most [`MAX_BODY_BYTES`], with a JSON error when it is larger.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Body(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is larger than {MAX_BODY_BYTES} bytes; split it into several requests"
                ),
            )),
            Err(e) => Err(ApiError::bad_request("bad_body", e.body_text())),
        }
    }
}

pub fn routes(ingest: Arc<Ingest>) -> Routes {
    Routes::new()
        .route("/api/v1/{token}/telemetry", post(telemetry))
        .route("/api/v1/{token}/attributes", post(attributes))
        .route("/api/v1/{token}/gateway/telemetry", post(gateway_telemetry))
        .route(
            "/api/v1/{token}/gateway/attributes",
            post(gateway_attributes),
        )
        .route("/api/integrations/chirpstack", post(chirpstack_event))
        .route("/api/v1/{token}/rpc", get(rpc_poll))
        .route("/api/v1/{token}/rpc/{id}", post(rpc_reply))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ingest)
}

async fn telemetry(
    State(i): State<Arc<Ingest>>,
    Path(token): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    Ok(device_message(&i, &token, Kind::Telemetry, &body).await?)
}

async fn attributes(
    State(i): State<Arc<Ingest>>,
    Path(token): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    Ok(device_message(&i, &token, Kind::Attributes, &body).await?)
}

async fn gateway_telemetry(
    State(i): State<Arc<Ingest>>,
    Path(token): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    Ok(device_message(&i, &token, Kind::GatewayTelemetry, &body).await?)
}

async fn gateway_attributes(
    State(i): State<Arc<Ingest>>,
    Path(token): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    Ok(device_message(&i, &token, Kind::GatewayAttributes, &body).await?)
}

async fn device_message(
    ingest: &Ingest,
    token: &str,
    kind: Kind,
    body: &[u8],
) -> Result<Response, FarmError> {
    let m = &ingest.telemetry.metrics;
    m.http_requests.inc();
    let Some(device) = ingest
        .registry
        .by_token(token)
        .await
        .map_err(IngestError::from)?
    else {
        m.rejected_auth.inc();
        return Err(IngestError::UnknownToken.into());
    };
    let prepared = ingest
        .prepare(&device, kind, body)
        .await
        .inspect_err(|_| m.rejected_bad_input.inc())?;
    commit(ingest, prepared).await?;
    Ok(StatusCode::OK.into_response())
}

async fn commit(ingest: &Ingest, p: Prepared) -> Result<(), IngestError> {
    if p.is_empty() {
        return Ok(());
    }
    ingest
        .telemetry
        .write(p.readings, p.attributes, Admission::Reject)
        .await
        .inspect_err(|e| {
            if matches!(e, WriteError::Overloaded) {
                ingest.telemetry.metrics.rejected_overload.inc();
            }
        })?;
    Ok(())
}

#[derive(Deserialize)]
struct EventQuery {
    event: Option<String>,
}

async fn chirpstack_event(
    State(i): State<Arc<Ingest>>,
    Query(q): Query<EventQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    i.telemetry.metrics.chirpstack_events.inc();
    // Before anything about the event is looked at: without a valid token the answer
    // is the same 401 whatever the body, so it reveals nothing about DevEUIs.
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !i
        .integrations
        .authorize(header)
        .await
        .map_err(FarmError::from)?
    {
        i.telemetry.metrics.rejected_auth.inc();
        return Err(ApiError::unauthorized(
            "send a valid integration token as 'Authorization: Bearer TOKEN' (cunlink integration create)",
        ));
    }
    let event = q.event.unwrap_or_default();
    if event != "up" {
        // join, status, ack, txack, log, location, integration: accepted, not stored.
        return Ok(Json(serde_json::json!({ "ignored": event })).into_response());
    }
    let is_protobuf = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/octet-stream") || ct.contains("protobuf"));
    if is_protobuf {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "set the ChirpStack HTTP integration's payload encoding to JSON",
        ));
    }
    let now = cunlink_core::time::now_ms();
    let up = chirpstack::parse_uplink(&body, now)
        .map_err(IngestError::from)
        .inspect_err(|_| i.telemetry.metrics.rejected_bad_input.inc())
        .map_err(FarmError::from)?;
    let Some(device) = i
        .registry
        .by_dev_eui(&up.dev_eui)
        .await
        .map_err(FarmError::from)?
    else {
        return Err(FarmError::from(IngestError::UnknownDevEui(up.dev_eui)).into());
    };
    let mut p = Prepared::default();
    i.push_readings(&mut p, device.id, up.points);
    commit(&i, p).await.map_err(FarmError::from)?;
    Ok(StatusCode::OK.into_response())
}

/// Longest a device may hold a poll open.
const MAX_POLL_MS: u64 = 60_000;

/// `GET /api/v1/{token}/rpc?timeout=MS`: the next command for this device,
/// `{"id","method","params"}`, or 408 when none came in time.
async fn rpc_poll(
    State(i): State<Arc<Ingest>>,
    Path(token): Path<String>,
    params: crate::params::Params,
) -> Result<Response, ApiError> {
    // Milliseconds to wait for a command (ThingsBoard's `timeout`); longer waits are
    // shortened to MAX_POLL_MS, negative or non-numbers refused.
    let timeout = params.int("timeout", "bad_timeout", 0..=i64::MAX)?;
    let device = i
        .registry
        .by_token(&token)
        .await
        .map_err(FarmError::from)?
        .ok_or(FarmError::Ingest(IngestError::UnknownToken))?;
    let wait_ms = timeout.map_or(20_000, |t| t.unsigned_abs().min(MAX_POLL_MS));
    let wait = std::time::Duration::from_millis(wait_ms);
    match i.rpc.poll(device.id, wait).await {
        Some(cmd) => Ok(Json(serde_json::json!({
            "id": cmd.id, "method": cmd.method, "params": cmd.params
        }))
        .into_response()),
        None => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "no_command",
            "no command for this device arrived in time; poll again",
        )),
    }
}

/// `POST /api/v1/{token}/rpc/{id}`: the device's reply to command `id`.
async fn rpc_reply(
    State(i): State<Arc<Ingest>>,
    Path((token, id)): Path<(String, i64)>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let device = i
        .registry
        .by_token(&token)
        .await
        .map_err(FarmError::from)?
        .ok_or(FarmError::Ingest(IngestError::UnknownToken))?;
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return Err(ApiError::bad_request("bad_json", "the reply must be JSON"));
    }
    if !i.rpc.http_replied(device.id, id, &body).await {
        return Err(ApiError::not_found(
            "unknown_command",
            format!("command {id} is not waiting for a reply from this device"),
        )
        .with_field("id"));
    }
    Ok(StatusCode::OK.into_response())
}
