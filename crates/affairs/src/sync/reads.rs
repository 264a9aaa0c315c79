//! Up: a resident's first read of a notice at the node, so that the officials'
//! read receipts on the hub count those who read it in the village. A read
//! mark is set once and never cleared: the hub keeps the first read it knows
//! of (`coalesce`), so a read on either side, or the same record applied
//! twice, changes nothing further.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::{SyncError, UpKind, field_i64};
use serde_json::{Value, json};

pub struct ReadKind;

/// `notice:user` of a record's key.
fn key_ids(key: &str) -> Result<(i64, i64), SyncError> {
    key.split_once(':')
        .and_then(|(n, u)| Some((n.parse().ok()?, u.parse().ok()?)))
        .ok_or_else(|| SyncError::reject(format!("'{key}' is not notice:user")))
}

impl UpKind for ReadKind {
    fn kind(&self) -> &'static str {
        "notice_read"
    }
    /// Last: a receipt waits behind everything else.
    fn priority(&self) -> u8 {
        3
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let (notice, user) = key_ids(key)?;
        let at: Option<Option<i64>> = conn
            .prepare_cached(
                "SELECT read_at FROM affairs_notice_recipients WHERE notice_id = $1 AND user_id = $2",
            )?
            .query_row(params![notice, user], |r| r.get(0))
            .optional()?;
        Ok(at
            .flatten()
            .map(|at| json!({"notice_id": notice, "user_id": user, "read_at": at})))
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let (notice, user) = key_ids(key)?;
        if field_i64(body, "notice_id")? != notice || field_i64(body, "user_id")? != user {
            return Err(SyncError::reject("the read differs from its key"));
        }
        let at = field_i64(body, "read_at")?;
        let of: Option<i64> = conn
            .prepare_cached("SELECT village_id FROM affairs_notices WHERE id = $1")?
            .query_row([notice], |r| r.get(0))
            .optional()?;
        if of != Some(village_id) {
            return Err(SyncError::reject(format!(
                "notice {notice} is not a notice of the node's village"
            )));
        }
        let n = conn
            .prepare_cached(
                "UPDATE affairs_notice_recipients SET read_at = coalesce(read_at, $1) WHERE notice_id = $2 AND user_id = $3",
            )?
            .execute(params![at, notice, user])?;
        if n != 1 {
            return Err(SyncError::reject(format!(
                "notice {notice} was not sent to user {user}"
            )));
        }
        Ok(())
    }
}
