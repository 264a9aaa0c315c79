//! The clinic's errors and their one mapping into [`ApiError`].

use axum::http::StatusCode;
use cunlink_core::{ApiError, DbError};

/// A clinic request that could not be done. Every variant but `Db` is the
/// caller's problem; nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ClinicError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    /// Unknown, or not readable by the caller: the same answer, so a record's
    /// existence is not revealed.
    #[error("{1}")]
    NotFound(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    /// The object is in a state that does not allow this (a closed consult).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Photo(#[from] crate::photos::PhotoError),
}

impl From<cunlink_core::sql::Error> for ClinicError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        ClinicError::Db(DbError::Sql(e))
    }
}

impl ClinicError {
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ClinicError::Invalid {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ClinicError::NotFound(code, message.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ClinicError::Forbidden(message.into())
    }
    pub fn conflict(code: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        ClinicError::Conflict {
            code,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

impl From<ClinicError> for ApiError {
    fn from(e: ClinicError) -> Self {
        match e {
            // The cause is logged with its chain; the client gets the fixed body.
            ClinicError::Db(e) => ApiError::from(e),
            ClinicError::Invalid {
                code,
                field,
                message,
            } => ApiError::bad_request(code, message).with_field(field),
            ClinicError::NotFound(code, m) => ApiError::not_found(code, m),
            ClinicError::Forbidden(m) => ApiError::forbidden(m),
            ClinicError::Conflict {
                code,
                field,
                message,
            } => {
                let mut a = ApiError::new(StatusCode::CONFLICT, code, message);
                a.field = field;
                a
            }
            ClinicError::Photo(p) => photo_error(p),
        }
    }
}

fn photo_error(e: crate::photos::PhotoError) -> ApiError {
    use crate::photos::PhotoError as P;
    let (status, code) = match &e {
        P::UnsupportedType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_photo_type"),
        P::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "photo_too_large"),
        P::NotAnImage(..) => (StatusCode::UNPROCESSABLE_ENTITY, "not_an_image"),
        P::TooManyPixels(..) => (StatusCode::UNPROCESSABLE_ENTITY, "photo_too_many_pixels"),
        P::TooSmall(..) => (StatusCode::UNPROCESSABLE_ENTITY, "photo_too_small"),
        P::Encode(_) => return ApiError::internal(e),
    };
    ApiError::new(status, code, e.to_string()).with_field("photo")
}
