//! The one JSON error shape of every cunlink route:
//! `{"error": "<code>", "message": "<sentence a user can act on>", "field": ...}`.
//!
//! Domain errors convert into [`ApiError`] in one `From` impl per domain, so the
//! mapping from problem to HTTP status lives in one place per domain.
//!
//! An internal error (a 500) keeps its cause for the log and answers a fixed
//! `"internal error"`: what SQLite or a library says about the server is for the
//! operator, not for whoever sent the request.

use std::error::Error;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The message of every internal error's answer.
pub const INTERNAL_MESSAGE: &str = "internal error";

/// A cause kept for the log.
pub type Source = Arc<dyn Error + Send + Sync>;

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header (backpressure answers).
    pub retry_after: Option<u32>,
    /// What went wrong inside, logged with its whole chain and never answered.
    pub source: Option<Source>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            source: None,
        }
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// A 500 answering [`INTERNAL_MESSAGE`]; `source` (an error, or a sentence
    /// for the log) is logged with its cause chain when the answer is sent.
    pub fn internal(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            INTERNAL_MESSAGE,
        );
        e.source = Some(Arc::from(source.into()));
        e
    }
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
        e.retry_after = Some(retry_after);
        e
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl Error for ApiError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

/// `e` and each of its causes, joined by `": "`. A cause whose text its wrapper
/// already ends with (`#[error("sqlite: {0}")]` over the same error) is said once.
pub fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self.source {
            Some(source) => tracing::error!(
                status = %self.status,
                code = self.code,
                error = %error_chain(source.as_ref()),
                "request failed"
            ),
            None if self.status.is_server_error() => {
                tracing::warn!(status = %self.status, code = self.code, "{}", self.message)
            }
            None => {}
        }
        let body = Body {
            error: self.code,
            message: &self.message,
            field: self.field.as_deref(),
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        if e.is_unavailable() {
            let mut a = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unreachable; try again shortly",
            );
            a.retry_after = Some(2);
            a.source = Some(Arc::new(e));
            return a;
        }
        ApiError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not save the order")]
    struct Outer(#[source] crate::db::DbError);

    fn sqlite_failure() -> crate::db::DbError {
        crate::db::DbError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full (table secret_orders)".into()),
        ))
    }

    async fn body_of(e: ApiError) -> (StatusCode, String) {
        let resp = e.into_response();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn internal_errors_answer_a_fixed_body_and_keep_their_cause() {
        let e = ApiError::from(sqlite_failure());
        assert!(e.source.is_some());
        let (status, body) = body_of(e).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"error": "internal", "message": "internal error"})
        );
        assert!(
            !body.contains("secret_orders") && !body.contains("sqlite"),
            "{body}"
        );

        let e = ApiError::internal(Outer(sqlite_failure()));
        let chain = error_chain(Error::source(&e).expect("the cause is kept"));
        assert!(
            chain.starts_with("could not save the order: sqlite: "),
            "{chain}"
        );
        assert!(chain.contains("secret_orders"), "{chain}");
        let (_, body) = body_of(e).await;
        assert!(
            !body.contains("secret_orders") && !body.contains("could not save"),
            "{body}"
        );
    }

    #[test]
    fn a_cause_repeated_by_its_wrapper_is_said_once() {
        let e = Outer(crate::db::DbError::Join);
        assert_eq!(
            error_chain(&e),
            "could not save the order: database task panicked or was cancelled"
        );
    }
}
