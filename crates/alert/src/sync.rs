//! What the alert domain syncs between a village node and its hub
//! (`cunlink_core::sync`, docs/node.md): the node's alarms go up under their
//! ids with their comments (the node evaluates its village's rules, even
//! offline, and the alarm changes only there); the rules come down, the
//! village's own and the county-wide ones.

use std::sync::Arc;

use cunlink_core::sql::{Connection, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, SyncError, SyncKinds, UpKind, field_opt_i64};
use serde_json::Value;

use crate::engine::EngineHandle;

const ALARMS: Table = Table {
    name: "alert_alarms",
    columns: &[
        "id",
        "rule_id",
        "rule_name",
        "device_id",
        "device_name",
        "village_id",
        "asset_id",
        "severity",
        "condition_since",
        "started_at",
        "updated_at",
        "acked_at",
        "acked_by",
        "cleared_at",
        "cleared_by",
        "assignee",
        "count",
        "details",
        "escalate_at",
        "escalated_at",
    ],
};

const RULES: Table = Table {
    name: "alert_rules",
    columns: &[
        "id",
        "name",
        "village_id",
        "severity",
        "target",
        "condition",
        "action",
        "escalate",
        "auto_clear",
        "enabled",
        "builtin",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
    ],
};

pub fn register(kinds: &mut SyncKinds, engine: EngineHandle) {
    kinds.up(Arc::new(AlarmKind));
    kinds.down(Arc::new(RuleKind { engine }));
}

fn key_id(key: &str) -> Result<i64, SyncError> {
    key.parse()
        .map_err(|_| SyncError::reject(format!("'{key}' is not an alarm id")))
}

struct AlarmKind;

impl UpKind for AlarmKind {
    fn kind(&self) -> &'static str {
        "alarm"
    }
    fn priority(&self) -> u8 {
        0
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let id = key_id(key)?;
        let Some(mut alarm) = rows::export_one(conn, &ALARMS, id)? else {
            return Ok(None);
        };
        let comments = comments(conn, id)?;
        if let Value::Object(m) = &mut alarm {
            m.insert("comments".into(), Value::Array(comments));
        }
        Ok(Some(alarm))
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        if field_opt_i64(body, "village_id")? != Some(village_id) {
            return Err(SyncError::reject("the alarm is not of the node's village"));
        }
        if body.get("id").and_then(Value::as_i64) != Some(key_id(key)?) {
            return Err(SyncError::reject("the alarm's id differs from its key"));
        }
        let comments = match body.get("comments") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(list)) => list.as_slice(),
            Some(_) => return Err(SyncError::reject("field 'comments' must be a list")),
        };
        let id = rows::upsert(conn, &ALARMS, body)?;
        replace_comments(conn, id, comments)?;
        Ok(())
    }
}

/// An alarm's comments, oldest first, as they travel inside its body.
fn comments(conn: &Connection, alarm_id: i64) -> Result<Vec<Value>, SyncError> {
    let mut st = conn.prepare_cached(
        "SELECT at, author, text FROM alert_alarm_comments WHERE alarm_id = $1 ORDER BY id",
    )?;
    let rows = st.query_map([alarm_id], |r| {
        Ok(serde_json::json!({"at": r.get::<_, i64>(0)?, "author": r.get::<_, String>(1)?, "text": r.get::<_, String>(2)?}))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Hub: the alarm's comments become exactly the node's (they are only ever
/// added there, so the list is the whole history).
fn replace_comments(conn: &Connection, alarm_id: i64, list: &[Value]) -> Result<(), SyncError> {
    conn.execute(
        "DELETE FROM alert_alarm_comments WHERE alarm_id = $1",
        [alarm_id],
    )?;
    let mut st = conn.prepare_cached(
        "INSERT INTO alert_alarm_comments (alarm_id, at, author, text) VALUES ($1, $2, $3, $4)",
    )?;
    for c in list {
        let at = cunlink_core::sync::field_i64(c, "at")?;
        let author = cunlink_core::sync::field_str(c, "author")?;
        let text = cunlink_core::sync::field_str(c, "text")?;
        st.execute(params![alarm_id, at, author, text])?;
    }
    Ok(())
}

struct RuleKind {
    engine: EngineHandle,
}

const RULE_SCOPE: &str = "village_id = $1 OR village_id IS NULL";

impl DownKind for RuleKind {
    fn kind(&self) -> &'static str {
        "rules"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &RULES, RULE_SCOPE, &[&village_id])
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            let v = field_opt_i64(r, "village_id")?;
            if v.is_some_and(|v| v != village_id) {
                return Err(SyncError::reject("a rule of another village"));
            }
        }
        rows::replace_all(conn, &RULES, RULE_SCOPE, &[&village_id], list)
    }
    fn applied(&self) {
        self.engine.reload();
    }
}
