//! Alert's errors, and for each the one place it becomes an HTTP answer
//! ([`ApiError`]): handlers just use `?`.

use cunlink_core::{ApiError, DbError};

use crate::rule::RuleError;

/// Starting the alert domain failed (see [`crate::Alerts::open`]).
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] AlertStoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Farm(#[from] cunlink_farm::FarmError),
    #[error(transparent)]
    Push(#[from] crate::notify::webpush::PushError),
    #[error("configuration: {0}")]
    Config(String),
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
    #[error("stored rule {id} is unreadable: {reason}")]
    Corrupt { id: i64, reason: String },
}

impl From<rusqlite::Error> for AlertStoreError {
    fn from(e: rusqlite::Error) -> Self {
        AlertStoreError::Db(e.into())
    }
}

impl From<AlertStoreError> for ApiError {
    fn from(e: AlertStoreError) -> Self {
        let msg = e.to_string();
        match e {
            AlertStoreError::Db(d) => ApiError::from(d),
            AlertStoreError::NoSuchRule(_) => {
                ApiError::not_found("unknown_rule", msg).with_field("id")
            }
            AlertStoreError::NoSuchAlarm(_) => {
                ApiError::not_found("unknown_alarm", msg).with_field("id")
            }
            // A stored rule nobody can read is the operator's problem.
            e @ AlertStoreError::Corrupt { .. } => ApiError::internal(e),
        }
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        ApiError::bad_request("invalid_rule", e.message).with_field(e.field)
    }
}
