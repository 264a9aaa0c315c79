//! Board errors. Boards have no JSON API (people set them up through the CLI and
//! the demo), so there is no `ApiError` mapping; pages treat these as internal.

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error(transparent)]
    Db(#[from] cunlink_core::DbError),
    #[error(transparent)]
    Farm(#[from] cunlink_farm::FarmStoreError),
    #[error("no asset named '{0}'")]
    UnknownAsset(String),
    #[error("a board needs a name of 1-64 characters")]
    BadName,
    #[error("a board needs at least one asset")]
    NoAssets,
    #[error("line width must be 8-200 and line count 1-50; rotation 2-3600 s")]
    BadLayout,
    /// On a village node: boards come down from the county hub (hub_only).
    #[error("hub_only: boards are made on the county hub; this village node's copy is read-only")]
    HubOnly,
}

impl From<cunlink_core::sql::Error> for BoardError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        BoardError::Db(cunlink_core::DbError::Sql(e))
    }
}
