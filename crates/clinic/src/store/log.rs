//! The record access log: one row per read of a patient's record.

use cunlink_core::sql::{Connection, params};
use serde::Serialize;

use cunlink_core::time::now_ms;

/// Write one read. Called inside the read's own transaction, so a read that
/// could not be logged is not answered.
pub fn record(
    conn: &Connection,
    patient_id: i64,
    user_id: i64,
    action: &str,
    consult_id: Option<i64>,
) -> cunlink_core::sql::Result<()> {
    conn.prepare_cached(
        "INSERT INTO clinic_access_log (patient_id, user_id, action, consult_id, at) VALUES ($1, $2, $3, $4, $5)",
    )?
    .execute(params![patient_id, user_id, action, consult_id, now_ms()])?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub user_id: i64,
    pub action: String,
    pub consult_id: Option<i64>,
    pub at: i64,
}

/// A patient's log, newest first, at most `limit` rows older than `before`.
pub fn list(
    conn: &Connection,
    patient_id: i64,
    before: Option<i64>,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<Entry>> {
    let mut st = conn.prepare_cached(
        "SELECT id, user_id, action, consult_id, at FROM clinic_access_log
         WHERE patient_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )?;
    let rows = st.query_map(params![patient_id, before, limit], |r| {
        Ok(Entry {
            id: r.get(0)?,
            user_id: r.get(1)?,
            action: r.get(2)?,
            consult_id: r.get(3)?,
            at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// How many rows a patient's log has (tests and the record page).
pub fn count(conn: &Connection, patient_id: i64) -> cunlink_core::sql::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM clinic_access_log WHERE patient_id = $1",
        [patient_id],
        |r| r.get(0),
    )
}
