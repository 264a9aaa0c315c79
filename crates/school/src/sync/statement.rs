//! Learning statements go up: a statement recorded on a village node is stored
//! on the hub under its UUID (its id on both sides), with the course, item and
//! learner it names, which are the hub's own ids (they came down). The hub names
//! the statement's `node` by the sending node's village, as the old intake did.
//!
//! A statement never changes after it is made, so applying it again (a batch
//! sent twice) rewrites the same values: nothing changes.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::{SyncError, UpKind, field_i64, field_opt_i64, field_opt_str, field_str};
use serde_json::{Value, json};

use crate::statements::is_uuid;

pub struct StatementKind;

impl UpKind for StatementKind {
    fn kind(&self) -> &'static str {
        "school_statement"
    }
    /// After alarms and orders: a learning record can wait a batch.
    fn priority(&self) -> u8 {
        5
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        Ok(conn
            .prepare_cached(
                "SELECT uuid, actor, user_id, course_id, item_id, verb, score, max_score, detail, at
                 FROM school_statements WHERE uuid = $1",
            )?
            .query_row([key], |r| {
                Ok(json!({
                    "uuid": r.get::<_, String>(0)?,
                    "actor": r.get::<_, String>(1)?,
                    "user_id": r.get::<_, Option<i64>>(2)?,
                    "course_id": r.get::<_, Option<i64>>(3)?,
                    "item_id": r.get::<_, Option<i64>>(4)?,
                    "verb": r.get::<_, String>(5)?,
                    "score": r.get::<_, Option<i64>>(6)?,
                    "max_score": r.get::<_, Option<i64>>(7)?,
                    "detail": r.get::<_, String>(8)?,
                    "at": r.get::<_, i64>(9)?,
                }))
            })
            .optional()?)
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        if !is_uuid(key) || field_str(body, "uuid")? != key {
            return Err(SyncError::reject(
                "the statement's uuid differs from its key",
            ));
        }
        let actor = field_str(body, "actor")?;
        let verb = field_str(body, "verb")?;
        let detail = field_opt_str(body, "detail")?.unwrap_or("");
        if actor.len() > 64 || verb.len() > 32 || detail.len() > 500 {
            return Err(SyncError::reject(
                "actor ≤ 64, verb ≤ 32, detail ≤ 500 bytes",
            ));
        }
        let user = field_opt_i64(body, "user_id")?;
        let course = field_opt_i64(body, "course_id")?;
        let item = field_opt_i64(body, "item_id")?;
        let score = field_opt_i64(body, "score")?;
        let max_score = field_opt_i64(body, "max_score")?;
        let at = field_i64(body, "at")?;
        let village: String = conn
            .prepare_cached("SELECT name FROM villages WHERE id = $1")?
            .query_row([village_id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| SyncError::reject(format!("there is no village {village_id}")))?;
        check_refs(conn, village_id, user, course, item)?;
        let stored: Option<String> = conn
            .prepare_cached("SELECT node FROM school_statements WHERE uuid = $1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        if let Some(n) = stored
            && n != village
        {
            return Err(SyncError::reject(format!(
                "statement {key} is another village's ({n})"
            )));
        }
        conn.prepare_cached(
            "INSERT INTO school_statements
               (uuid, node, actor, user_id, course_id, item_id, verb, score, max_score, detail, at, sent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1)
             ON CONFLICT (uuid) DO UPDATE SET actor = excluded.actor, user_id = excluded.user_id,
               course_id = excluded.course_id, item_id = excluded.item_id, verb = excluded.verb,
               score = excluded.score, max_score = excluded.max_score, detail = excluded.detail,
               at = excluded.at",
        )?
        .execute(params![
            key, village, actor, user, course, item, verb, score, max_score, detail, at
        ])?;
        Ok(())
    }
}

/// The learner is of the node's village; the course is the village's or
/// county-wide; the item is of that course.
fn check_refs(
    conn: &Connection,
    village_id: i64,
    user: Option<i64>,
    course: Option<i64>,
    item: Option<i64>,
) -> Result<(), SyncError> {
    if let Some(u) = user {
        let v: Option<Option<i64>> = conn
            .prepare_cached("SELECT village_id FROM users WHERE id = $1")?
            .query_row([u], |r| r.get(0))
            .optional()?;
        match v {
            None => return Err(SyncError::reject(format!("there is no user {u}"))),
            Some(v) if v != Some(village_id) => {
                return Err(SyncError::reject(format!(
                    "user {u} is not of the node's village"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(c) = course {
        let v: Option<Option<i64>> = conn
            .prepare_cached("SELECT village_id FROM school_courses WHERE id = $1")?
            .query_row([c], |r| r.get(0))
            .optional()?;
        match v {
            None => return Err(SyncError::reject(format!("there is no course {c}"))),
            Some(Some(v)) if v != village_id => {
                return Err(SyncError::reject(format!(
                    "course {c} is another village's"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(i) = item {
        let of: Option<i64> = conn
            .prepare_cached("SELECT course_id FROM school_course_items WHERE id = $1")?
            .query_row([i], |r| r.get(0))
            .optional()?;
        if of.is_none() || of != course {
            return Err(SyncError::reject(format!(
                "item {i} is not an item of course {course:?}"
            )));
        }
    }
    Ok(())
}
