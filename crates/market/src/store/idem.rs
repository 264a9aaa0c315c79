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

/// Claim (user, key) for a request with `hash`, before its work: true if this
/// transaction now holds the key. A concurrent holder on another node makes
/// PostgreSQL wait here until it commits (then false: its answer is there to
/// replay) or rolls back (then true). The row's answer is filled in by
/// [`answer`] in the same transaction.
pub fn claim(conn: &Connection, user_id: i64, key: &str, hash: &str) -> Result<bool, MarketError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO market_idempotency (user_id, key, request_hash, status, response, created_at) VALUES ($1, $2, $3, 0, '', $4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![user_id, key, hash, cunlink_core::time::now_ms()])?
        > 0)
}

/// The answer to the request that claimed (user, key) in this transaction.
pub fn answer(
    conn: &Connection,
    user_id: i64,
    key: &str,
    status: i64,
    response: &str,
) -> Result<(), MarketError> {
    let n = conn
        .prepare_cached(
            "UPDATE market_idempotency SET status = $1, response = $2 WHERE user_id = $3 AND key = $4 AND status = 0",
        )?
        .execute(params![status, response, user_id, key])?;
    if n != 1 {
        return Err(MarketError::Storage(format!(
            "idempotency key {key} was not claimed by this request"
        )));
    }
    Ok(())
}
