//! The node crate's errors and their one mapping to the API's JSON errors.

use axum::http::StatusCode;
use cunlink_core::{ApiError, DbError};

use crate::wire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("batch: {0}")]
    Wire(#[from] WireError),
    #[error("the hub answered {status}: {body}")]
    Hub { status: u16, body: String },
    #[error("the hub is unreachable: {0}")]
    Net(String),
    #[error("{0}")]
    Config(String),
}

impl From<cunlink_core::sql::Error> for NodeError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        NodeError::Db(DbError::from(e))
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        match e {
            NodeError::Db(e) => ApiError::from(e),
            NodeError::Wire(e) => ApiError::bad_request("bad_batch", e.to_string()),
            NodeError::Hub { .. } | NodeError::Net(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "hub_unreachable", e.to_string())
            }
            NodeError::Config(m) => ApiError::bad_request("bad_request", m),
        }
    }
}
