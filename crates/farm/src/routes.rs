//! The farm JSON API: devices, assets, latest values, history (raw, aggregated,
//! CSV) and a live SSE stream of a device's readings.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cunlink_core::routes::Routes;
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::model::{AssetKind, Device};
use crate::params::{Params, TelemetryQuery};
use crate::scope::{can_manage_devices, can_read_farm};
use crate::store::NewDevice;
use crate::telemetry::{KeyId, Value};
use crate::{Farm, FarmError};
use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, User};
use cunlink_core::time::now_ms;
use cunlink_core::web::CurrentUser;

#[derive(Clone)]
pub struct FarmState(pub Arc<Farm>);

impl FromRef<FarmState> for AuthService {
    fn from_ref(s: &FarmState) -> AuthService {
        s.0.auth.clone()
    }
}

pub fn routes(farm: Arc<Farm>) -> Routes {
    Routes::new()
        .route("/api/devices", get(list_devices).post(create_device))
        .route("/api/devices/{name}", get(get_device))
        .route(
            "/api/devices/{name}/token",
            get(get_token).post(rotate_token),
        )
        .route("/api/devices/{name}/latest", get(latest))
        .route("/api/devices/{name}/telemetry", get(telemetry))
        .route("/api/devices/{name}/attributes", get(attributes))
        .route("/api/devices/{name}/stream", get(stream))
        .route(
            "/api/devices/{name}/rpc",
            get(list_commands).post(send_command),
        )
        .route("/api/devices/{name}/rpc/{id}", get(get_command))
        .route("/api/assets", get(list_assets))
        .route("/api/export", get(crate::export::export))
        .route(
            "/api/profiles/{name}",
            get(crate::profiles::get_profile).put(crate::profiles::put_profile_route),
        )
        .with_state(FarmState(farm))
}

/// The device `name`, if `user` may see it; 404 otherwise (existence is not revealed).
pub(crate) async fn visible_device(
    farm: &Farm,
    user: &User,
    name: &str,
) -> Result<Arc<Device>, ApiError> {
    let not_found = || {
        ApiError::not_found("unknown_device", format!("no device named '{name}'"))
            .with_field("name")
    };
    if !can_read_farm(user) {
        return Err(ApiError::forbidden("your role cannot read farm data"));
    }
    let d = farm
        .registry
        .by_name(name)
        .await
        .map_err(FarmError::from)?
        .ok_or_else(not_found)?;
    if !crate::scope::can_see(user, d.village_id) {
        return Err(not_found());
    }
    Ok(d)
}

#[derive(Serialize)]
struct DeviceView<'a> {
    #[serde(flatten)]
    device: &'a Device,
    last_seen: Option<i64>,
}

async fn list_devices(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    if !can_read_farm(&user) {
        return Err(ApiError::forbidden("your role cannot read farm data"));
    }
    let store = s.0.telemetry.store();
    let devices = s.0.registry.all();
    let views: Vec<DeviceView<'_>> = devices
        .iter()
        .filter(|d| crate::scope::can_see(&user, d.village_id))
        .map(|d| DeviceView {
            device: d,
            last_seen: store.latest(d.id).iter().map(|l| l.1).max(),
        })
        .collect();
    Ok(Json(views).into_response())
}

async fn get_device(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_device(&s.0, &user, &name).await?;
    let last_seen = s.0.telemetry.store().latest(d.id).iter().map(|l| l.1).max();
    Ok(Json(DeviceView {
        device: &d,
        last_seen,
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDevice {
    name: String,
    #[serde(rename = "type")]
    profile: Option<String>,
    asset: Option<String>,
    asset_kind: Option<String>,
    village: Option<String>,
    #[serde(default)]
    gateway: bool,
    dev_eui: Option<String>,
    /// Belong to no village, on purpose (admin and county staff only).
    #[serde(default)]
    county_level: bool,
}

async fn create_device(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Json(body): Json<CreateDevice>,
) -> Result<Response, ApiError> {
    if !can_manage_devices(&user) {
        return Err(ApiError::forbidden(
            "only farmers, county staff and administrators add devices",
        ));
    }
    let asset_kind = match body.asset_kind.as_deref() {
        Some(k) => Some(k.parse::<AssetKind>().map_err(|e| {
            ApiError::bad_request("bad_asset_kind", e.to_string()).with_field("asset_kind")
        })?),
        None => None,
    };
    // Village-bound users add devices to their own village only.
    let place =
        crate::scope::placement(&user, body.village, body.county_level).map_err(|e| match e {
            crate::scope::PlacementError::CountyLevelForbidden => {
                ApiError::forbidden(e.to_string()).with_field("county_level")
            }
            crate::scope::PlacementError::NoVillage => ApiError::forbidden(e.to_string()),
        })?;
    let new = NewDevice {
        name: body.name,
        profile: body.profile,
        asset: body.asset,
        asset_kind,
        village: place.village,
        county_level: place.county_level,
        is_gateway: body.gateway,
        dev_eui: body.dev_eui,
        ..NewDevice::default()
    };
    let d = s.0.registry.create(new).await.map_err(FarmError::from)?;
    let mut v = serde_json::to_value(&*d).map_err(ApiError::internal)?;
    v["token"] = serde_json::Value::String(d.token.clone());
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn get_token(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if !can_manage_devices(&user) {
        return Err(ApiError::forbidden(
            "only farmers, county staff and administrators see device tokens",
        ));
    }
    let d = visible_device(&s.0, &user, &name).await?;
    Ok(Json(serde_json::json!({ "name": d.name, "token": d.token })).into_response())
}

async fn rotate_token(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if !can_manage_devices(&user) {
        return Err(ApiError::forbidden(
            "only farmers, county staff and administrators revoke device tokens",
        ));
    }
    let d = visible_device(&s.0, &user, &name).await?;
    let d =
        s.0.registry
            .rotate_token(&d.name)
            .await
            .map_err(FarmError::from)?;
    Ok(Json(serde_json::json!({ "name": d.name, "token": d.token })).into_response())
}

#[derive(Serialize)]
struct TsValue {
    ts: i64,
    value: Value,
}

fn wants_csv(headers: &HeaderMap, format: Option<&str>) -> bool {
    format == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))
}

fn respond(series: BTreeMap<String, Vec<TsValue>>, csv: bool, device: &str) -> Response {
    if !csv {
        return Json(series).into_response();
    }
    let mut out = String::from("ts,key,value\n");
    for (key, points) in &series {
        for p in points {
            out.push_str(&format!(
                "{},{},{}\n",
                p.ts,
                csv_cell(key),
                csv_cell(&p.value.to_text())
            ));
        }
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let file = format!(
        "attachment; filename=\"{}.csv\"",
        device.replace(['"', '\\'], "_")
    );
    if let Ok(v) = HeaderValue::from_str(&file) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

async fn latest(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    Query(q): Query<FormatQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let d = visible_device(&s.0, &user, &name).await?;
    let series =
        s.0.telemetry
            .store()
            .latest(d.id)
            .into_iter()
            .map(|(k, ts, value)| (k.to_string(), vec![TsValue { ts, value }]))
            .collect();
    Ok(respond(
        series,
        wants_csv(&headers, q.format.as_deref()),
        &d.name,
    ))
}

async fn telemetry(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let d = visible_device(&s.0, &user, &name).await?;
    let q = TelemetryQuery::parse(&params, now_ms())?;
    let store = s.0.telemetry.store().clone();
    let keys: Vec<(String, Option<KeyId>)> = match &q.keys {
        Some(list) => list
            .iter()
            .map(|k| (k.clone(), store.keys.lookup(k)))
            .collect(),
        None => store
            .latest(d.id)
            .into_iter()
            .map(|(k, _, _)| (k.to_string(), store.keys.lookup(&k)))
            .collect(),
    };
    q.check_points(keys.len())?;
    let device = d.id;
    let (range, bucketing, limit) = (q.range, q.bucketing, q.limit);
    let series = tokio::task::spawn_blocking(move || {
        let mut out = BTreeMap::new();
        for (name, id) in keys {
            let points = match (id, bucketing) {
                (None, _) => Vec::new(),
                // The limit is pushed into the read: only the newest `limit` points are decoded.
                (Some(id), None) => {
                    store.range_newest(device, id, range.start, range.end, limit)?
                }
                (Some(id), Some(b)) => {
                    let mut buckets = store.range_aggregate(
                        device,
                        id,
                        range.start,
                        range.end,
                        b.interval,
                        b.agg,
                    )?;
                    if buckets.len() > limit {
                        buckets.drain(..buckets.len() - limit);
                    }
                    buckets
                }
            };
            out.insert(
                name,
                points
                    .into_iter()
                    .map(|(ts, value)| TsValue { ts, value })
                    .collect::<Vec<_>>(),
            );
        }
        Ok::<_, crate::telemetry::TelemetryStoreError>(out)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(respond(
        series,
        wants_csv(&headers, q.format.as_deref()),
        &d.name,
    ))
}

async fn attributes(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_device(&s.0, &user, &name).await?;
    let store = s.0.telemetry.store().clone();
    let attrs = tokio::task::spawn_blocking(move || store.attributes(d.id))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let map: BTreeMap<String, TsValue> = attrs
        .into_iter()
        .map(|(k, ts, value)| (k, TsValue { ts, value }))
        .collect();
    Ok(Json(map).into_response())
}

/// `text/event-stream` of a device's committed readings: one `reading` event per
/// timestamp, `{"ts":MS,"values":{"key":V,...}}`.
async fn stream(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let d = visible_device(&s.0, &user, &name).await?;
    let device = d.id;
    let store = s.0.telemetry.store().clone();
    let rx = s.0.telemetry.subscribe();
    let events = BroadcastStream::new(rx).filter_map(move |batch| {
        let batch = batch.ok()?;
        let mut by_ts: BTreeMap<i64, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
        for r in batch.readings.iter().filter(|r| r.device == device) {
            let key = store.keys.name(r.key)?;
            let v = serde_json::to_value(&r.value).ok()?;
            by_ts.entry(r.ts).or_default().insert(key.to_string(), v);
        }
        if by_ts.is_empty() {
            return None;
        }
        let data: Vec<String> = by_ts
            .into_iter()
            .map(|(ts, values)| serde_json::json!({ "ts": ts, "values": values }).to_string())
            .collect();
        Some(Ok::<_, Infallible>(
            Event::default().event("reading").data(data.join("\n")),
        ))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

async fn list_assets(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    if !can_read_farm(&user) {
        return Err(ApiError::forbidden("your role cannot read farm data"));
    }
    let assets =
        s.0.db
            .call(|c| crate::store::assets(c))
            .await
            .map_err(FarmError::from)?;
    let visible: Vec<_> = assets
        .into_iter()
        .filter(|a| crate::scope::can_see(&user, a.village_id))
        .collect();
    Ok(Json(visible).into_response())
}

// ---- device commands (RPC) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    method: String,
    #[serde(default)]
    params: serde_json::Value,
    /// Any JSON number, checked below: a number too large for the type must be a
    /// 400 naming `timeout_ms`, not a parse error about the whole body.
    timeout_ms: Option<serde_json::Number>,
    #[serde(default)]
    oneway: bool,
}

async fn send_command(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    params: Params,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // `?wait=true`: answer only when the command is final (replied, delivered one-way, timed out).
    let wait = params.flag("wait")?;
    let device = visible_device(&s.0, &user, &name).await?;
    if !can_manage_devices(&user) {
        return Err(ApiError::forbidden("your role cannot send device commands"));
    }
    let b: CommandBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_command",
            format!("expected {{\"method\", \"params\"}}: {e}"),
        )
    })?;
    let timeout_ms = match &b.timeout_ms {
        None => crate::rpc::DEFAULT_TIMEOUT_MS,
        Some(n) => n
            .as_u64()
            .and_then(|t| u32::try_from(t).ok())
            .ok_or_else(|| ApiError::from(FarmError::Rpc(crate::rpc::RpcError::BadTimeout)))?,
    };
    let opts = crate::rpc::SendOptions {
        timeout_ms,
        oneway: b.oneway,
        origin: format!("user:{}", user.username),
    };
    let cmd =
        s.0.rpc
            .send(&device, &b.method, b.params, opts)
            .await
            .map_err(FarmError::from)?;
    if wait {
        let done =
            s.0.rpc
                .wait(device.id, cmd.id, cmd.expires_at.saturating_add(1_000))
                .await
                .map_err(FarmError::from)?;
        return Ok(Json(done).into_response());
    }
    Ok((StatusCode::CREATED, Json(cmd)).into_response())
}

async fn list_commands(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let device = visible_device(&s.0, &user, &name).await?;
    Ok(Json(s.0.rpc.list(device.id).await.map_err(FarmError::from)?).into_response())
}

async fn get_command(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let device = visible_device(&s.0, &user, &name).await?;
    let cmd = s
        .0
        .rpc
        .get(device.id, id)
        .await
        .map_err(FarmError::from)?
        .ok_or_else(|| ApiError::from(FarmError::Rpc(crate::rpc::RpcError::NoSuchCommand(id))))?;
    Ok(Json(cmd).into_response())
}
