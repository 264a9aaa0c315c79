//! The school's errors and their one mapping into [`ApiError`].

use axum::http::StatusCode;
use cunlink_core::{ApiError, DbError};

/// A school request that could not be done. Every variant but `Db` and `Io`
/// is the caller's problem and names it; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum SchoolError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("storage failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    #[error("{1}")]
    NotFound(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    /// The record is another side's: e.g. courses on a village node
    /// (`hub_only`), which change only on the county hub.
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("the file is {0} bytes; at most {1} are accepted")]
    TooLarge(u64, u64),
}

impl From<cunlink_core::sql::Error> for SchoolError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        SchoolError::Db(DbError::Sql(e))
    }
}

impl SchoolError {
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        SchoolError::Invalid {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        SchoolError::NotFound(code, message.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        SchoolError::Forbidden(message.into())
    }
}

impl From<SchoolError> for ApiError {
    fn from(e: SchoolError) -> Self {
        match e {
            // The cause is logged with its chain; the client gets the fixed body.
            SchoolError::Db(e) => ApiError::internal(e),
            SchoolError::Io(e) => ApiError::internal(e),
            SchoolError::Invalid {
                code,
                field,
                message,
            } => ApiError::bad_request(code, message).with_field(field),
            SchoolError::NotFound(code, message) => ApiError::not_found(code, message),
            SchoolError::Forbidden(message) => ApiError::forbidden(message),
            SchoolError::Conflict(code, message) => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            e @ SchoolError::TooLarge(..) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
                    .with_field("body")
            }
        }
    }
}
