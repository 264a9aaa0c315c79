//! Farm's errors, and the one place they become an HTTP answer
//! (`From<FarmError> for ApiError`): a handler turns any farm error into a
//! [`FarmError`] (`?` inside it, or `FarmError::from`) and `?` does the rest.

use axum::http::StatusCode;
use cunlink_core::{ApiError, DbError};

use crate::ingest::IngestError;
use crate::model::MAX_NAME_CHARS;
use crate::rpc::RpcError;
use crate::telemetry::{TelemetryStoreError, WriteError};

/// Any farm failure: opening the domain (see [`crate::Farm::open`]) or
/// answering a request.
#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    #[error(transparent)]
    Store(#[from] FarmStoreError),
    #[error(transparent)]
    Telemetry(#[from] TelemetryStoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A blocking task of the farm died (a panic); the server's problem.
    #[error("{0}")]
    Internal(String),
}

impl From<FarmError> for ApiError {
    fn from(e: FarmError) -> Self {
        match e {
            FarmError::Store(s) => store_error(s),
            // The telemetry store failing is the server's problem.
            FarmError::Telemetry(t) => ApiError::internal(t),
            FarmError::Db(d) => ApiError::from(d),
            FarmError::Ingest(i) => ingest_error(i),
            FarmError::Rpc(r) => rpc_error(r),
            FarmError::Internal(m) => ApiError::internal(m),
        }
    }
}

#[derive(Debug, thiserror::Error)]
/// A device, asset or integration change refused or failed. Every variant but
/// `Db` is the caller's problem and names it; nothing was changed.
pub enum FarmStoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("a device named '{0}' already exists")]
    DeviceExists(String),
    #[error("a device with DevEUI {0} already exists")]
    DevEuiTaken(String),
    #[error("name must be 1-{MAX_NAME_CHARS} characters")]
    BadName,
    #[error("'{0}' is not a DevEUI (16 hex digits)")]
    BadDevEui(String),
    #[error("no device named '{0}'")]
    NoSuchDevice(String),
    #[error("village: {0}")]
    Village(String),
    #[error("device '{device}' exists and does not belong to gateway '{gateway}'")]
    NotGatewayChild { device: String, gateway: String },
    #[error(
        "a device belongs to a village: name a village (or an existing asset), or make it county-level on purpose"
    )]
    VillageRequired,
    /// The asset name is taken outside the device's village. The message says no
    /// more than that: not which village, nor anything else about the asset.
    #[error(
        "there is no asset named '{0}' in this village, and the name is not free for a new one; choose another name"
    )]
    AssetElsewhere(String),
    #[error("a county-level device belongs to no village; leave out the village")]
    CountyLevelWithVillage,
    #[error("an integration named '{0}' already exists")]
    IntegrationExists(String),
    #[error("no profile named '{0}'")]
    NoSuchProfile(String),
}

impl From<cunlink_core::sql::Error> for FarmStoreError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        FarmStoreError::Db(DbError::Sql(e))
    }
}

fn store_error(e: FarmStoreError) -> ApiError {
    use FarmStoreError as E;
    let msg = e.to_string();
    match e {
        E::Db(d) => ApiError::from(d),
        E::DeviceExists(n) => {
            ApiError::new(StatusCode::CONFLICT, "device_exists", msg).with_field(n)
        }
        E::DevEuiTaken(_) => {
            ApiError::new(StatusCode::CONFLICT, "dev_eui_taken", msg).with_field("dev_eui")
        }
        E::BadName => ApiError::bad_request("bad_name", msg).with_field("name"),
        E::BadDevEui(_) => ApiError::bad_request("bad_dev_eui", msg).with_field("dev_eui"),
        E::NoSuchDevice(_) => ApiError::not_found("unknown_device", msg).with_field("name"),
        E::Village(_) => ApiError::bad_request("bad_village", msg).with_field("village"),
        E::NotGatewayChild { device, .. } => ApiError::forbidden(msg).with_field(device),
        E::VillageRequired => ApiError::bad_request("village_required", msg).with_field("village"),
        E::CountyLevelWithVillage => {
            ApiError::bad_request("bad_village", msg).with_field("county_level")
        }
        E::IntegrationExists(_) => {
            ApiError::new(StatusCode::CONFLICT, "integration_exists", msg).with_field("name")
        }
        E::AssetElsewhere(_) => ApiError::not_found("unknown_asset", msg).with_field("asset"),
        E::NoSuchProfile(_) => ApiError::not_found("unknown_profile", msg).with_field("name"),
    }
}

fn ingest_error(e: IngestError) -> ApiError {
    let msg = e.to_string();
    match e {
        IngestError::Payload(p) => {
            let mut err = ApiError::bad_request(p.code(), msg);
            err.field = p.field();
            err
        }
        IngestError::UnknownToken => ApiError::unauthorized(msg),
        IngestError::NotAGateway(_) => ApiError::forbidden(msg),
        // The field is where the DevEUI was read from; the DevEUI is in the message.
        IngestError::UnknownDevEui(_) => {
            ApiError::not_found("unknown_dev_eui", msg).with_field("deviceInfo.devEui")
        }
        IngestError::Write(WriteError::Overloaded) => ApiError::unavailable(msg, 1),
        IngestError::Write(WriteError::ShuttingDown) => ApiError::unavailable(msg, 5),
        // Storage failing (PostgreSQL down or restarting, disk trouble): nothing was
        // stored, the device should retry; the writer reconnects by itself.
        IngestError::Write(w @ WriteError::Commit(_)) => {
            tracing::warn!(error = %w, "ingest refused: telemetry commit failed");
            ApiError::unavailable(msg, 2)
        }
        IngestError::Store(s) => store_error(s),
    }
}

fn rpc_error(e: RpcError) -> ApiError {
    let msg = e.to_string();
    match e {
        RpcError::BadMethod => ApiError::bad_request("bad_method", msg).with_field("method"),
        RpcError::BadTimeout => ApiError::bad_request("bad_timeout", msg).with_field("timeout_ms"),
        RpcError::TooLarge(_) => {
            ApiError::bad_request("params_too_large", msg).with_field("params")
        }
        RpcError::NoSuchCommand(_) => ApiError::not_found("unknown_command", msg).with_field("id"),
        RpcError::Store(s) => store_error(s),
    }
}
