//! The node's stream cursors in `core_sync_state` (name → value), kept in the
//! application database so that they move in the same transaction as what
//! they describe.

use cunlink_core::sql::{Connection, OptionalExtension, params};

pub const RECORDS_BATCH: &str = "records_batch";
pub const READINGS_BATCH: &str = "readings_batch";
/// Uplink rows up to this id are on the hub.
pub const READINGS_AFTER: &str = "readings_after";
/// The readings batch in flight: `"after:upto"` of its uplink rows, so that a
/// resend after a crash holds exactly what the first send held.
pub const READINGS_INFLIGHT: &str = "readings_inflight";
pub const LAST_SYNC_AT: &str = "last_sync_at";
pub const OFFLINE_SINCE: &str = "offline_since";
pub const PENDING_DOWN: &str = "pending_down";

/// The digest of down kind `kind` the node holds.
pub fn down_key(kind: &str) -> String {
    format!("down.{kind}")
}

pub fn get(conn: &Connection, name: &str) -> cunlink_core::sql::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM core_sync_state WHERE name = $1")?
        .query_row([name], |r| r.get(0))
        .optional()
}

pub fn get_i64(conn: &Connection, name: &str) -> cunlink_core::sql::Result<i64> {
    Ok(get(conn, name)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

pub fn set(conn: &Connection, name: &str, value: &str) -> cunlink_core::sql::Result<()> {
    conn.prepare_cached(
        "INSERT INTO core_sync_state (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![name, value])?;
    Ok(())
}

pub fn clear(conn: &Connection, name: &str) -> cunlink_core::sql::Result<()> {
    conn.prepare_cached("DELETE FROM core_sync_state WHERE name = $1")?
        .execute([name])?;
    Ok(())
}
