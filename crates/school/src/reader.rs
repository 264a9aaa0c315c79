//! Who may read the lesson library's files: a signed-in user of the school, or
//! a village node of this hub pulling its subscribed channels with its own
//! credential (`Authorization: Bearer <node credential>`, as its sync does). A
//! revoked node's credential is refused like an unknown token.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use cunlink_core::ApiError;
use cunlink_core::sql::OptionalExtension;
use cunlink_core::web::CurrentUser;

use crate::access;
use crate::routes::SchoolState;

/// A reader of channels and content files.
pub(crate) struct Reader;

impl FromRequestParts<SchoolState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &SchoolState) -> Result<Self, ApiError> {
        let refused = match CurrentUser::from_request_parts(parts, s).await {
            Ok(CurrentUser(u)) => {
                access::require_use(&u)?;
                return Ok(Reader);
            }
            Err(e) => e,
        };
        let Some(token) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| cunlink_core::auth::secret_hash(t.trim()))
        else {
            return Err(refused);
        };
        let live = s
            .0
            .db
            .call(move |c| {
                c.query_row(
                    "SELECT 1 FROM core_sync_nodes WHERE credential_hash = $1 AND revoked_at IS NULL",
                    [token],
                    |_| Ok(()),
                )
                .optional()
                .map_err(cunlink_core::DbError::from)
            })
            .await
            .map_err(ApiError::internal)?;
        match live {
            Some(()) => Ok(Reader),
            None => Err(refused),
        }
    }
}
