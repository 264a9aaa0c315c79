//! Up: feedback a resident reported at the village node, stored on the hub
//! under its id (in the node's range). The node owns it: it is acknowledged,
//! answered, rated and escalated there. The node's escalation pass marks it;
//! the township (county staff and admins, who live on the hub) is told when the
//! marked record arrives here, once per reason: the hub tells them only when
//! its stored copy did not carry the mark yet, so a record applied twice tells
//! no one twice. The report's photo is sent apart once the record is across
//! (`UpKind::blob`), and the hub stores it only if its copy of a node's
//! feedback names it.

use std::sync::Arc;

use cunlink_core::notify::{NotifyUsers, UserNotice};
use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{ID_SPAN, SyncError, UpKind, field_i64, field_opt_i64, field_str};
use serde_json::Value;

use crate::files;

const FEEDBACK: Table = Table {
    name: "affairs_feedback",
    columns: &[
        "id",
        "village_id",
        "reporter_id",
        "anonymous",
        "category",
        "text",
        "place",
        "photo",
        "status",
        "assignee_id",
        "reply",
        "rating",
        "created_at",
        "acked_at",
        "resolved_at",
        "escalated_ack_at",
        "escalated_resolve_at",
    ],
};

pub struct FeedbackKind {
    pub notify: Arc<dyn NotifyUsers>,
}

fn key_id(key: &str) -> Result<i64, SyncError> {
    key.parse()
        .map_err(|_| SyncError::reject(format!("'{key}' is not a feedback id")))
}

impl UpKind for FeedbackKind {
    fn kind(&self) -> &'static str {
        "feedback"
    }
    /// After alarms, orders and stock: nothing waits on it.
    fn priority(&self) -> u8 {
        2
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        rows::export_one(conn, &FEEDBACK, key_id(key)?)
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let id = key_id(key)?;
        if field_i64(body, "id")? != id {
            return Err(SyncError::reject("the feedback's id differs from its key"));
        }
        if id < ID_SPAN {
            return Err(SyncError::reject(format!(
                "feedback {id} has an id of the hub's own range, not a node's"
            )));
        }
        if field_i64(body, "village_id")? != village_id {
            return Err(SyncError::reject(
                "the feedback is not of the node's village",
            ));
        }
        let stored: Option<(i64, Option<i64>, Option<i64>)> = conn
            .prepare_cached(
                "SELECT village_id, escalated_ack_at, escalated_resolve_at FROM affairs_feedback WHERE id = $1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        if stored.as_ref().is_some_and(|s| s.0 != village_id) {
            return Err(SyncError::reject(format!(
                "feedback {id} is another village's"
            )));
        }
        rows::upsert(conn, &FEEDBACK, body)?;
        let (was_ack, was_resolve) = stored.map_or((None, None), |s| (s.1, s.2));
        let text = field_str(body, "text")?;
        for (was, now, zh, en) in [
            (
                was_ack,
                field_opt_i64(body, "escalated_ack_at")?,
                "2天未受理",
                "unacknowledged for 2 days",
            ),
            (
                was_resolve,
                field_opt_i64(body, "escalated_resolve_at")?,
                "15天未解决",
                "unresolved for 15 days",
            ),
        ] {
            if was.is_some() || now.is_none() {
                continue;
            }
            let township = cunlink_core::auth::county_wide_user_ids(conn)?;
            if township.is_empty() {
                continue;
            }
            self.notify.enqueue(
                conn,
                &UserNotice {
                    user_ids: township,
                    source: "affairs",
                    title: format!("村民反馈{zh} / feedback {en}"),
                    body: text.chars().take(200).collect(),
                    url: format!("/affairs/feedback#f{id}"),
                    urgent: false,
                },
            )?;
        }
        Ok(())
    }
    /// The township's notices of escalations just applied go out.
    fn applied(&self) {
        self.notify.wake();
    }
    /// Node: photos of its feedback the hub has not stored yet.
    fn blobs_unsent(&self, conn: &Connection) -> Result<Vec<String>, SyncError> {
        let mut st = conn.prepare_cached(
            "SELECT DISTINCT f.photo FROM affairs_feedback f
              WHERE f.photo IS NOT NULL AND f.id >= $1
                AND NOT EXISTS (SELECT 1 FROM affairs_files_sent s WHERE s.village_id = f.village_id AND s.hash = f.photo)
              ORDER BY f.photo LIMIT 200",
        )?;
        let rows = st.query_map([ID_SPAN], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn blob(&self, conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, SyncError> {
        let Some(me) = cunlink_core::sync::node_self(conn)? else {
            return Ok(None);
        };
        Ok(files::get(conn, key, Some(me.village_id))?.map(|(_, _, b)| b))
    }
    fn blob_sent(&self, conn: &Connection, key: &str) -> Result<(), SyncError> {
        if let Some(me) = cunlink_core::sync::node_self(conn)? {
            conn.prepare_cached(
                "INSERT INTO affairs_files_sent (village_id, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![me.village_id, key])?;
        }
        Ok(())
    }
    /// Hub: a photo that feedback of the node's village names, stored as the
    /// village's file (served at `/api/affairs/files/{hash}`).
    fn put_blob(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        bytes: &[u8],
    ) -> Result<(), SyncError> {
        if !super::files::is_hash(key) || files::hash(bytes) != key {
            return Err(SyncError::reject(format!(
                "file {key}: the bytes do not match the hash"
            )));
        }
        let Some(ct) = files::sniff(bytes).filter(|t| t.starts_with("image/")) else {
            return Err(SyncError::reject(format!("file {key} is not a photo")));
        };
        let named: bool = conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM affairs_feedback WHERE village_id = $1 AND photo = $2 AND id >= $3)",
            )?
            .query_row(params![village_id, key, ID_SPAN], |r| r.get(0))?;
        if !named {
            return Err(SyncError::reject(format!(
                "no feedback of the node's village names file {key}"
            )));
        }
        files::put(conn, village_id, ct, bytes, cunlink_core::time::now_ms())?;
        Ok(())
    }
}
