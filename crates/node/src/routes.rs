//! The sync's HTTP API: the hub's `/api/nodes` and `/api/sync/*`, and the
//! node's `/api/node/*` (docs/node.md, docs/api.md).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, Role};
use cunlink_core::routes::Routes;
use cunlink_core::sync::{MAX_BLOB, SyncError};
use cunlink_core::web::CurrentUser;
use serde::Deserialize;
use serde_json::json;

use crate::hub::{self, Caller, UpOutcome};
use crate::runner::BATCH_TYPE;
use crate::wire::{self, DownAsk, Stream, UpHeader};
use crate::{Node, NodeError};

/// Largest upward batch accepted (compressed).
const MAX_UP: usize = 16 << 20;

#[derive(Clone)]
struct St(Arc<Node>);

impl FromRef<St> for AuthService {
    fn from_ref(s: &St) -> AuthService {
        s.0.auth.clone()
    }
}

pub(crate) fn routes(node: Arc<Node>) -> Routes {
    Routes::new()
        .route("/api/nodes", get(list).post(join))
        .route("/api/nodes/{node_id}/revoke", post(revoke))
        .route("/api/nodes/{node_id}/dead-letters", get(hub_dead_letters))
        .route(
            "/api/sync/up",
            post(up).layer(DefaultBodyLimit::max(MAX_UP)),
        )
        .route("/api/sync/down", post(down))
        .route("/api/sync/blob/{kind}/{key}", post(blob))
        .route(
            "/api/sync/up/blob/{kind}/{key}",
            post(blob_up).layer(DefaultBodyLimit::max(MAX_BLOB)),
        )
        .route("/api/node/status", get(status))
        .route("/api/node/dead-letters", get(node_dead_letters))
        .route("/api/node/sync", post(sync_now))
        .with_state(St(node))
}

#[derive(Deserialize)]
struct JoinBody {
    village: String,
}

async fn join(
    State(St(node)): State<St>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    hub::may_manage(&user)?;
    if node.me().is_some() {
        return Err(ApiError::bad_request(
            "not_a_hub",
            "this installation is itself a village node; join nodes to the county hub",
        ));
    }
    let b: JoinBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("bad_json", format!("expected {{\"village\": NAME}}: {e}"))
            .with_field("village")
    })?;
    let village = b.village.trim().to_string();
    if village.is_empty() || village.len() > 200 {
        return Err(
            ApiError::bad_request("bad_village", "village must be 1 to 200 bytes")
                .with_field("village"),
        );
    }
    let joined = node.db.call(move |c| hub::join(c, &user, &village)).await?;
    Ok((StatusCode::CREATED, Json(joined)).into_response())
}

async fn list(
    State(St(node)): State<St>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    hub::may_manage(&user)?;
    let nodes = node.db.call(|c| hub::list(c)).await?;
    Ok(Json(json!({ "nodes": nodes })).into_response())
}

async fn revoke(
    State(St(node)): State<St>,
    CurrentUser(user): CurrentUser,
    Path(node_id): Path<String>,
) -> Result<Response, ApiError> {
    hub::may_manage(&user)?;
    let id = node_id.clone();
    node.db.call(move |c| hub::revoke(c, &user, &id)).await?;
    Ok(Json(json!({ "node_id": node_id, "revoked": true })).into_response())
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<i64>,
}

async fn hub_dead_letters(
    State(St(node)): State<St>,
    CurrentUser(user): CurrentUser,
    Path(node_id): Path<String>,
    Query(q): Query<Limit>,
) -> Result<Response, ApiError> {
    hub::may_manage(&user)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let letters = node
        .db
        .call(move |c| hub::dead_letters(c, &node_id, limit))
        .await?;
    Ok(Json(json!({ "dead_letters": letters })).into_response())
}

/// The calling node, by the credential it joined with.
async fn caller(node: &Arc<Node>, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "send the node's credential: 'Authorization: Bearer <credential>'",
            )
        })?;
    Ok(node.db.call(move |c| hub::caller(c, &credential)).await?)
}

async fn up(
    State(St(node)): State<St>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = caller(&node, &headers).await?;
    let (header, blobs): (UpHeader, Vec<u8>) = wire::unpack(&body).map_err(NodeError::from)?;
    if header.node != who.node_id {
        return Err(ApiError::forbidden(
            "the batch names another node than the credential's",
        ));
    }
    let outcome = match header.stream {
        Stream::Records => {
            let kinds = node.kinds();
            let w = who.clone();
            node.db
                .call(move |c| hub::apply_records(c, &kinds, &w, &header))
                .await?
        }
        Stream::Readings => hub::apply_readings(&node, &who, &header, &blobs).await?,
    };
    Ok(match outcome {
        UpOutcome::Done(answer, applied) => {
            if !applied.is_empty() {
                // The domains reload what they cache (the farm's registry
                // learns the node's new devices), off the async workers.
                let kinds = node.kinds();
                let _ = tokio::task::spawn_blocking(move || {
                    for k in kinds.up.iter().filter(|k| applied.iter().any(|a| a == k.kind())) {
                        k.applied();
                    }
                })
                .await;
            }
            Json(answer).into_response()
        }
        UpOutcome::Gap(last) => (
            StatusCode::CONFLICT,
            [("x-cunlink-acked", last.to_string())],
            Json(json!({
                "error": "batch_gap",
                "message": format!("the hub applied batch {last} of this stream last; send batch {} next", last + 1),
            })),
        )
            .into_response(),
    })
}

async fn down(
    State(St(node)): State<St>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = caller(&node, &headers).await?;
    let ask: DownAsk = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("expected {{\"have\": {{kind: digest}}}}: {e}"),
        )
    })?;
    let kinds = node.kinds();
    let answer = node
        .db
        .call(move |c| hub::down(c, &kinds, &who, &ask))
        .await?;
    Ok((
        [(header::CONTENT_TYPE, BATCH_TYPE)],
        wire::pack(&answer, &[]),
    )
        .into_response())
}

/// A file a down kind's rows name (a notice's photo), fetched by the node
/// only when it lacks it. POST like every sync request, with an empty body.
async fn blob(
    State(St(node)): State<St>,
    headers: HeaderMap,
    Path((kind, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let who = caller(&node, &headers).await?;
    let kinds = node.kinds();
    let Some(k) = kinds.down.iter().find(|k| k.kind() == kind).cloned() else {
        return Err(ApiError::not_found(
            "unknown_kind",
            format!("the hub sends no kind '{kind}'"),
        ));
    };
    let village = who.village_id;
    let what = key.clone();
    let bytes = node
        .db
        .call(move |c| {
            k.blob(c, village, &what).map_err(|e| match e {
                SyncError::Sql(e) => hub::HubError::from(e),
                SyncError::Reject(m) => hub::HubError::Api(ApiError::bad_request("bad_key", m)),
            })
        })
        .await?;
    match bytes {
        Some(b) if b.len() <= MAX_BLOB => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], b).into_response())
        }
        Some(b) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "file '{key}' is {} bytes, over the {MAX_BLOB} a node fetches",
                b.len()
            ),
        )),
        None => Err(ApiError::not_found(
            "unknown_blob",
            format!("the village's {kind} name no file '{key}'"),
        )),
    }
}

/// A file a node's record names (a feedback photo), sent after the record.
/// 200 once stored; 422 `blob_refused` naming why (the node files it in its
/// dead letters and does not send it again).
async fn blob_up(
    State(St(node)): State<St>,
    headers: HeaderMap,
    Path((kind, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = caller(&node, &headers).await?;
    let Some(k) = node.kinds().up_kind(&kind).cloned() else {
        return Err(ApiError::not_found(
            "unknown_kind",
            format!("the hub takes no kind '{kind}'"),
        ));
    };
    let village = who.village_id;
    let what = key.clone();
    let refused = node
        .db
        .call(move |c| -> Result<Option<String>, NodeError> {
            let tx =
                c.transaction_with_behavior(cunlink_core::sql::TransactionBehavior::Immediate)?;
            match k.put_blob(&tx, village, &what, &body) {
                Ok(()) => {
                    tx.commit()?;
                    Ok(None)
                }
                Err(SyncError::Reject(why)) => Ok(Some(why)),
                Err(SyncError::Sql(e)) if e.is_constraint_violation() => Ok(Some(e.to_string())),
                Err(SyncError::Sql(e)) => Err(e.into()),
            }
        })
        .await?;
    match refused {
        None => Ok(Json(json!({ "kind": kind, "key": key, "stored": true })).into_response()),
        Some(why) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "blob_refused",
            why,
        )),
    }
}

/// Public: what a technician checks with curl in the village, and what the
/// pages' "offline since" banner reads. It names no secret.
async fn status(State(St(node)): State<St>) -> Result<Response, ApiError> {
    match node.status().await? {
        Some(s) => Ok(Json(s).into_response()),
        None => Err(ApiError::not_found(
            "not_a_node",
            "this installation has not joined a hub (cunlink node join)",
        )),
    }
}

fn village_operator(user: &cunlink_core::auth::User) -> Result<(), ApiError> {
    if matches!(
        user.role,
        Role::Admin | Role::CountyStaff | Role::StationOperator | Role::VillageOfficial
    ) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the village's operators manage the node's sync",
        ))
    }
}

/// "Sync now": ask the hub at once instead of at the next round. Any
/// signed-in user may (it only moves the next exchange earlier).
async fn sync_now(
    State(St(node)): State<St>,
    CurrentUser(_user): CurrentUser,
) -> Result<Response, ApiError> {
    if node.me().is_none() {
        return Err(ApiError::not_found(
            "not_a_node",
            "this installation has not joined a hub (cunlink node join)",
        ));
    }
    node.sync_now();
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync": "started" }))).into_response())
}

async fn node_dead_letters(
    State(St(node)): State<St>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<Limit>,
) -> Result<Response, ApiError> {
    village_operator(&user)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let id = node.node_id();
    let letters = node
        .db
        .call(move |c| hub::dead_letters(c, &id, limit))
        .await?;
    Ok(Json(json!({ "dead_letters": letters })).into_response())
}
