//! Village affairs' errors and their one mapping into [`ApiError`].

use axum::http::StatusCode;
use cunlink_core::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum AffairsError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// Bad input: 400 naming the field.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    /// A body or field larger than the limit: 413 naming it.
    #[error("{message}")]
    TooLarge { field: String, message: String },
    /// Unknown, or in a village the caller cannot see: 404.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{0}")]
    Forbidden(String),
    /// The object's state forbids it (a published month, a second ballot): 409.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: String,
        message: String,
    },
}

impl AffairsError {
    pub fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        AffairsError::Invalid {
            code,
            field: field.to_string(),
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        AffairsError::NotFound {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        AffairsError::Conflict {
            code,
            field: field.to_string(),
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        AffairsError::Forbidden(message.into())
    }
}

impl From<cunlink_core::sql::Error> for AffairsError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        AffairsError::Db(e.into())
    }
}

impl From<AffairsError> for ApiError {
    fn from(e: AffairsError) -> Self {
        match e {
            // The cause is logged with its chain; the client gets the fixed body.
            AffairsError::Db(e) => ApiError::from(e),
            AffairsError::Invalid {
                code,
                field,
                message,
            } => ApiError::bad_request(code, message).with_field(field),
            AffairsError::TooLarge { field, message } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).with_field(field)
            }
            AffairsError::NotFound { code, message } => {
                ApiError::not_found(code, message).with_field("id")
            }
            AffairsError::Forbidden(m) => ApiError::forbidden(m),
            AffairsError::Conflict {
                code,
                field,
                message,
            } => ApiError::new(StatusCode::CONFLICT, code, message).with_field(field),
        }
    }
}
