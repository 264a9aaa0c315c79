//! The channels a village's school subscribes to come down; the node's pull
//! (`crate::pull::schedule`) takes exactly these channels from the hub. A new
//! list wakes the pull at once instead of at its next round.

use std::sync::Weak;

use cunlink_core::sql::Connection;
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, SyncError, field_i64};
use serde_json::Value;

use crate::School;

pub const SUBSCRIPTIONS: Table = Table {
    name: "school_subscriptions",
    columns: &["id", "village_id", "channel_id", "created_by", "created_at"],
};

pub struct SubscriptionKind {
    /// Weak: the kinds live in the sync runner, which the school outlives.
    pub school: Weak<School>,
}

impl DownKind for SubscriptionKind {
    fn kind(&self) -> &'static str {
        "school_subscriptions"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &SUBSCRIPTIONS, "village_id = $1", &[&village_id])
    }
    /// Every subscription on a node is the hub's: the node's copy becomes the list.
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            if field_i64(r, "village_id")? != village_id {
                return Err(SyncError::reject("a subscription of another village"));
            }
        }
        rows::replace_all(
            conn,
            &SUBSCRIPTIONS,
            "village_id = $1",
            &[&village_id],
            list,
        )?;
        // Another village's rows have no business here (a node is one village's).
        conn.prepare_cached("DELETE FROM school_subscriptions WHERE village_id <> $1")?
            .execute([village_id])?;
        Ok(())
    }
    fn applied(&self) {
        if let Some(s) = self.school.upgrade() {
            s.pull_wake.notify_one();
        }
    }
}

/// The hub channel ids village `village_id` subscribes to, in id order.
pub fn channels(conn: &Connection, village_id: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = conn.prepare_cached(
        "SELECT channel_id FROM school_subscriptions WHERE village_id = $1 ORDER BY channel_id LIMIT 1000",
    )?;
    st.query_map([village_id], |r| r.get(0))?.collect()
}
