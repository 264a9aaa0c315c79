//! The school's errors and their one mapping into [`ApiError`].

use cunlink_core::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum SchoolError {
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<SchoolError> for ApiError {
    fn from(e: SchoolError) -> Self {
        match e {
            // The cause is logged with its chain; the client gets the fixed body.
            SchoolError::Db(e) => ApiError::internal(e),
        }
    }
}
