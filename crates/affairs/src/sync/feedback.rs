//! Up: feedback a resident reported at the village node, stored on the hub
//! under its id (in the node's range). The node owns it: it is acknowledged,
//! answered, rated and escalated there. The node's escalation pass marks it;
//! the township (county staff and admins, who live on the hub) is told when the
//! marked record arrives here, once per reason: the hub tells them only when
//! its stored copy did not carry the mark yet, so a record applied twice tells
//! no one twice.

use std::sync::Arc;

use cunlink_core::notify::{NotifyUsers, UserNotice};
use cunlink_core::sql::{Connection, OptionalExtension};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{ID_SPAN, SyncError, UpKind, field_i64, field_opt_i64, field_str};
use serde_json::Value;

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
}
