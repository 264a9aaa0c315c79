//! Market errors, and the one place they become an HTTP answer.

use axum::http::StatusCode;
use cunlink_core::{ApiError, DbError};

use crate::photos::PhotoError;

/// A market request that could not be done. Every variant except `Db` is the
/// caller's problem and names it; nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    NotFound(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    #[error("Idempotency-Key '{0}' was already used with a different request")]
    IdempotencyMismatch(String),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("the market writer is not running")]
    WriterGone,
    #[error(transparent)]
    Photo(#[from] PhotoError),
}

impl From<cunlink_core::sql::Error> for MarketError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        MarketError::Db(DbError::Sql(e))
    }
}

impl MarketError {
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        MarketError::Invalid {
            code,
            field: Some(field.into()),
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, field: Option<String>, message: impl Into<String>) -> Self {
        MarketError::Conflict {
            code,
            field,
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        MarketError::NotFound(code, message.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        MarketError::Forbidden(message.into())
    }
}

impl From<MarketError> for ApiError {
    fn from(e: MarketError) -> Self {
        match e {
            MarketError::Db(e) => ApiError::from(e),
            MarketError::Invalid {
                code,
                field,
                message,
            } => {
                let mut a = ApiError::bad_request(code, message);
                a.field = field;
                a
            }
            MarketError::NotFound(code, m) => ApiError::not_found(code, m),
            MarketError::Forbidden(m) => ApiError::forbidden(m),
            MarketError::Conflict {
                code,
                field,
                message,
            } => {
                let mut a = ApiError::new(StatusCode::CONFLICT, code, message);
                a.field = field;
                a
            }
            e @ MarketError::IdempotencyMismatch(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                e.to_string(),
            )
            .with_field("Idempotency-Key"),
            MarketError::Storage(m) => ApiError::internal(m),
            MarketError::WriterGone => ApiError::unavailable("the server is shutting down", 5),
            MarketError::Photo(p) => photo_error(p),
        }
    }
}

fn photo_error(e: PhotoError) -> ApiError {
    use PhotoError as P;
    let (status, code) = match &e {
        P::UnsupportedType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_photo_type"),
        P::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "photo_too_large"),
        P::NotAnImage(..) => (StatusCode::UNPROCESSABLE_ENTITY, "not_an_image"),
        P::TooManyPixels(..) => (StatusCode::UNPROCESSABLE_ENTITY, "photo_too_many_pixels"),
        P::TooSmall(..) => (StatusCode::UNPROCESSABLE_ENTITY, "photo_too_small"),
        P::Io(_) => return ApiError::internal(e),
    };
    ApiError::new(status, code, e.to_string())
}
