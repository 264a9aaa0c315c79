//! `market_idempotency`: the first answer to each (user, Idempotency-Key).

use cunlink_core::sql::{Connection, OptionalExtension, params};

use crate::error::MarketError;

/// The stored (request hash, status, response) of (user, key).
pub fn get(
    conn: &Connection,
    user_id: i64,
    key: &str,
) -> Result<Option<(String, i64, String)>, MarketError> {
    Ok(conn
        .prepare_cached(
            "SELECT request_hash, status, response FROM market_idempotency WHERE user_id = $1 AND key = $2",
        )?
        .query_row(params![user_id, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

pub fn insert(
    conn: &Connection,
    user_id: i64,
    key: &str,
    hash: &str,
    status: i64,
    response: &str,
) -> Result<(), MarketError> {
    conn.prepare_cached(
        "INSERT INTO market_idempotency (user_id, key, request_hash, status, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )?
    .execute(params![
        user_id,
        key,
        hash,
        status,
        response,
        cunlink_core::time::now_ms()
    ])?;
    Ok(())
}
