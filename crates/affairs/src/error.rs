//! Village affairs' errors and their one mapping into [`ApiError`].

use cunlink_core::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum AffairsError {
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<AffairsError> for ApiError {
    fn from(e: AffairsError) -> Self {
        match e {
            // The cause is logged with its chain; the client gets the fixed body.
            AffairsError::Db(e) => ApiError::internal(e),
        }
    }
}
