//! The clinic's errors and their one mapping into [`ApiError`].

use cunlink_core::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum ClinicError {
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<ClinicError> for ApiError {
    fn from(e: ClinicError) -> Self {
        match e {
            // The cause is logged with its chain; the client gets the fixed body.
            ClinicError::Db(e) => ApiError::internal(e),
        }
    }
}
