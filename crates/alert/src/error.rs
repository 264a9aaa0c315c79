//! Alert's errors, and the one place they become an HTTP answer
//! (`From<AlertError> for ApiError`): a handler turns any alert error into an
//! [`AlertError`] (`AlertError::from`) and `?` does the rest.

use axum::http::StatusCode;
use cunlink_core::{ApiError, DbError};

use crate::rule::RuleError;

/// Any alert failure: starting the domain (see [`crate::Alerts::open`]) or
/// answering a request.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] AlertStoreError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Farm(#[from] cunlink_farm::FarmError),
    #[error(transparent)]
    Push(#[from] crate::notify::webpush::PushError),
    #[error("configuration: {0}")]
    Config(String),
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::Store(s) => store_error(s),
            AlertError::Rule(r) => {
                ApiError::bad_request("invalid_rule", r.message).with_field(r.field)
            }
            AlertError::Db(d) => ApiError::from(d),
            AlertError::Farm(f) => ApiError::from(f),
            // Start-up failures; no request meets them, but if one did it is the server's problem.
            e @ (AlertError::Push(_) | AlertError::Config(_)) => ApiError::internal(e),
        }
    }
}

/// Reading or changing rules, alarms and notification settings failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertStoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no rule with id {0}")]
    NoSuchRule(i64),
    #[error("no alarm with id {0}")]
    NoSuchAlarm(i64),
    /// The alarm lives on another installation (a village node's alarm on the
    /// hub): it changes there and comes up again (docs/node.md).
    #[error(
        "alarm {0} was raised at a village node; acknowledge, clear, assign or comment on it there"
    )]
    NodeAlarm(i64),
    /// Rules are the county's: a node holds a copy that the next sync replaces.
    #[error("rules are edited on the county hub; this village node holds a copy")]
    HubOnly,
    #[error("stored rule {id} is unreadable: {reason}")]
    Corrupt { id: i64, reason: String },
}

impl From<cunlink_core::sql::Error> for AlertStoreError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        AlertStoreError::Db(e.into())
    }
}

fn store_error(e: AlertStoreError) -> ApiError {
    let msg = e.to_string();
    match e {
        AlertStoreError::Db(d) => ApiError::from(d),
        AlertStoreError::NoSuchRule(_) => ApiError::not_found("unknown_rule", msg).with_field("id"),
        AlertStoreError::NoSuchAlarm(_) => {
            ApiError::not_found("unknown_alarm", msg).with_field("id")
        }
        AlertStoreError::NodeAlarm(_) => {
            ApiError::new(StatusCode::CONFLICT, "node_alarm", msg).with_field("id")
        }
        AlertStoreError::HubOnly => ApiError::new(StatusCode::CONFLICT, "hub_only", msg),
        // A stored rule nobody can read is the operator's problem.
        e @ AlertStoreError::Corrupt { .. } => ApiError::internal(e),
    }
}
